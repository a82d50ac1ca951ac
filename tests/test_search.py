"""``debate.core.search``, the search whose cost per simulation does not grow with the tree, plays
exactly as mctx's own search: the same actions, visit counts and values, on every task, with
Gumbel and PUCT, at several batch sizes and budgets, at the root and after moves."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from debate import tasks
from debate.core import search
from debate.core.debaters import SEARCH_BACKENDS, mcts_debater
from debate.core.task import num_teams


def linear_judge(task, instance):
    """A fixed random linear judge over the flattened judge view: informative enough that search
    values differ from move to move."""
    view = jax.eval_shape(lambda i: task.judge_view(task.init(i, 0)), instance)
    size = sum(int(np.prod(leaf.shape[1:])) for leaf in jax.tree.leaves(view))
    params = jnp.asarray(np.random.default_rng(0).normal(size=(size, task.num_classes)) * 0.5, jnp.float32)

    def judge_fn(params, view):
        flat = [leaf.reshape(leaf.shape[0], -1).astype(jnp.float32) for leaf in jax.tree.leaves(view)]
        return jnp.concatenate(flat, axis=1) @ params

    return judge_fn, params


TWO_TEAM_TASKS = [name for name in sorted(tasks.names())
                  if num_teams(tasks.api(name).example(jax.random.key(0), 1)[0]) == 2]


@pytest.mark.parametrize("task_name", TWO_TEAM_TASKS)
@pytest.mark.parametrize("algorithm", ["gumbel", "muzero"])
@pytest.mark.parametrize("batch, simulations", [(1, 16), (5, 40)])
def test_the_search_builds_the_same_tree_as_mctx(task_name, algorithm, batch, simulations):
    api = tasks.api(task_name)
    task, instance = api.example(jax.random.key(batch), batch)
    judge_fn, params = linear_judge(task, instance)
    state = task.init(instance, 0)
    state = task.step(state, jax.random.randint(jax.random.key(2), (batch,), 0, 1) + jnp.argmax(
        state.legal_action_mask, axis=1).astype(jnp.int32))  # one move in: a position that is not the start
    trees = {}
    for backend in SEARCH_BACKENDS:
        debater = mcts_debater(task, judge_fn, simulations, algorithm=algorithm, search_backend=backend,
                               gumbel_scale=1.0)
        trees[backend] = jax.jit(debater.search)(params, jax.random.key(7), state)
    ours, theirs = trees["linear"], trees["mctx"]
    np.testing.assert_array_equal(ours.action, theirs.action)
    np.testing.assert_array_equal(ours.action_weights, theirs.action_weights)
    for field in ("node_visits", "node_values", "children_visits", "children_values", "children_index", "parents"):
        np.testing.assert_array_equal(getattr(ours.search_tree, field), getattr(theirs.search_tree, field), err_msg=field)
    assert int(ours.search_tree.node_visits[:, 0].min()) == simulations + 1  # every simulation reached the root


def test_backward_touches_only_the_path_and_keeps_running_means():
    """A hand-built tree: root 0 -> node 1 (action 2) -> node 2 (action 0), batch 2, where the second
    element's leaf is the root itself (nothing to update)."""
    import mctx
    from mctx._src.search import instantiate_tree_from_root

    root = mctx.RootFnOutput(prior_logits=jnp.zeros((2, 3)), value=jnp.asarray([0.5, 0.0]), embedding=jnp.zeros((2, 1)))
    tree = instantiate_tree_from_root(root, 4, jnp.zeros((2, 3), bool), None)
    tree = tree.replace(
        parents=tree.parents.at[0, 1].set(0).at[0, 2].set(1),
        action_from_parent=tree.action_from_parent.at[0, 1].set(2).at[0, 2].set(0),
        node_values=tree.node_values.at[0, 1].set(0.2).at[0, 2].set(1.0),
        node_visits=tree.node_visits.at[0, 1].set(1).at[0, 2].set(1),
        children_rewards=tree.children_rewards.at[0, 1, 0].set(0.5),
        children_discounts=tree.children_discounts.at[0, 0, 2].set(-1.0).at[0, 1, 0].set(1.0))
    out = jax.jit(search.backward)(tree, jnp.asarray([2, 0]))
    # node 1: mean of its value 0.2 (1 visit) and the return 0.5 + 1.0 * 1.0 = 1.5
    np.testing.assert_allclose(out.node_values[0, 1], (0.2 * 1 + 1.5) / 2)
    # the root: mean of 0.5 (1 visit) and -1.5 (the turn passes: discount -1)
    np.testing.assert_allclose(out.node_values[0, 0], (0.5 * 1 - 1.5) / 2)
    assert out.node_visits[0].tolist()[:3] == [2, 2, 1]
    assert out.children_visits[0, 0, 2] == 1 and out.children_visits[0, 1, 0] == 1
    np.testing.assert_allclose(out.children_values[0, 0, 2], out.node_values[0, 1])
    for field in ("node_values", "node_visits", "children_values", "children_visits"):  # element 1: untouched
        np.testing.assert_array_equal(getattr(out, field)[1], getattr(tree, field)[1], err_msg=field)


def test_an_unknown_search_backend_is_one_sentence():
    task, _ = tasks.api("sparse_pixel").example(jax.random.key(0), 1)
    with pytest.raises(ValueError, match="unknown search backend 'fast'; choose one of linear, mctx"):
        mcts_debater(task, lambda p, v: v, 4, search_backend="fast")
