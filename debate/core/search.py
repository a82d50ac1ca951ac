"""Batched MCTS whose cost per simulation does not grow with the number of simulations before it.

mctx's ``search`` updates values on the way back to the root with a ``while_loop`` over the path,
mapped over the batch with ``jax.vmap``. A mapped loop whose condition differs per batch element
becomes one loop whose every step selects, element by element, between the updated and the old
carry; here the carry is the whole tree (``[B, simulations + 1, actions]`` arrays), so each step of
the path copies the whole tree and one simulation costs O(depth x tree size): quadratic in
simulations over a search. ``backward`` below walks all paths of the batch together in one
unmapped loop and writes only the path's entries (scatters into the carried tree, which XLA does in
place), so a simulation costs O(depth x batch) whatever the tree size.

Everything else is mctx's own: its tree (``mctx.Tree``), its simulation and expansion steps, its
action-selection rules (Gumbel MuZero's sequential halving and PUCT) and q-transforms, and the same
random-key splits, so the search returns the same tree as ``mctx.search`` (tested action for action
and visit for visit in ``tests/test_search.py``). ``gumbel_muzero_policy`` and ``muzero_policy``
take the arguments of their mctx namesakes and run this search.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mctx
# mctx's simulation, expansion and policy helpers, at the version pyproject.toml allows; the tests
# compare this module with mctx's public search, so a change there shows up as a failed test.
from mctx._src import action_selection as _selection
from mctx._src import policies as _policies
from mctx._src import search as _mctx_search
from mctx._src import seq_halving as _seq_halving

Tree = mctx.Tree


def backward(tree: Tree, leaf_index: jax.Array) -> Tree:
    """Back up the value of each batch element's new leaf ``[B]`` to its root, touching only the
    nodes on the paths (mctx's update rule: running means of discounted returns)."""
    batch = leaf_index.shape[0]
    rows = jnp.arange(batch)
    num_nodes = tree.node_values.shape[1]

    def not_all_at_root(loop_state):
        return jnp.any(loop_state[2] != Tree.ROOT_INDEX)

    def step(loop_state):
        tree, leaf_value, index = loop_state
        active = index != Tree.ROOT_INDEX
        parent = jnp.where(active, tree.parents[rows, index], Tree.ROOT_INDEX)
        action = jnp.where(active, tree.action_from_parent[rows, index], 0)
        count = tree.node_visits[rows, parent]
        value = tree.children_rewards[rows, parent, action] + tree.children_discounts[rows, parent, action] * leaf_value
        parent_value = (tree.node_values[rows, parent] * count + value) / (count + 1.0)
        child_value = tree.node_values[rows, index]
        child_visits = tree.children_visits[rows, parent, action] + 1
        target = jnp.where(active, parent, num_nodes)  # out of bounds: finished paths write nothing
        tree = tree.replace(
            node_values=tree.node_values.at[rows, target].set(parent_value, mode="drop"),
            node_visits=tree.node_visits.at[rows, target].set(count + 1, mode="drop"),
            children_values=tree.children_values.at[rows, target, action].set(child_value, mode="drop"),
            children_visits=tree.children_visits.at[rows, target, action].set(child_visits, mode="drop"),
        )
        return tree, jnp.where(active, value, leaf_value), jnp.where(active, parent, index)

    leaf_index = jnp.asarray(leaf_index, jnp.int32)
    tree, _, _ = jax.lax.while_loop(not_all_at_root, step, (tree, tree.node_values[rows, leaf_index], leaf_index))
    return tree


def search(params, rng_key, *, root: mctx.RootFnOutput, recurrent_fn, root_action_selection_fn,
           interior_action_selection_fn, num_simulations: int, max_depth: int | None = None,
           invalid_actions=None, extra_data=None, loop_fn=jax.lax.fori_loop) -> Tree:
    """``mctx.search`` with the batched ``backward``: same arguments, same tree."""
    action_selection_fn = _selection.switching_action_selection_wrapper(
        root_action_selection_fn=root_action_selection_fn, interior_action_selection_fn=interior_action_selection_fn)
    batch_size = root.value.shape[0]
    rows = jnp.arange(batch_size)
    max_depth = num_simulations if max_depth is None else max_depth
    invalid_actions = jnp.zeros_like(root.prior_logits) if invalid_actions is None else invalid_actions

    def simulation(sim, loop_state):
        rng_key, tree = loop_state
        rng_key, simulate_key, expand_key = jax.random.split(rng_key, 3)  # mctx's splits, so the same tree
        parent, action = _mctx_search.simulate(jax.random.split(simulate_key, batch_size), tree,
                                               action_selection_fn, max_depth)
        child = tree.children_index[rows, parent, action]
        child = jnp.where(child == Tree.UNVISITED, sim + 1, child)  # node i is first expanded by simulation i
        tree = _mctx_search.expand(params, expand_key, tree, recurrent_fn, parent, action, child)
        return rng_key, backward(tree, child)

    tree = _mctx_search.instantiate_tree_from_root(root, num_simulations, root_invalid_actions=invalid_actions,
                                                   extra_data=extra_data)
    _, tree = loop_fn(0, num_simulations, simulation, (rng_key, tree))
    return tree


def gumbel_muzero_policy(params, rng_key, root: mctx.RootFnOutput, recurrent_fn, num_simulations: int,
                         invalid_actions=None, max_depth: int | None = None, *,
                         qtransform=mctx.qtransform_completed_by_mix_value, max_num_considered_actions: int = 16,
                         gumbel_scale=1.0) -> mctx.PolicyOutput:
    """``mctx.gumbel_muzero_policy`` (Gumbel MuZero: sequential halving at the root) on ``search``."""
    root = root.replace(prior_logits=_policies._mask_invalid_actions(root.prior_logits, invalid_actions))
    rng_key, gumbel_key = jax.random.split(rng_key)
    gumbel = gumbel_scale * jax.random.gumbel(gumbel_key, shape=root.prior_logits.shape, dtype=root.prior_logits.dtype)
    tree = search(
        params, rng_key, root=root, recurrent_fn=recurrent_fn,
        root_action_selection_fn=functools.partial(
            mctx.gumbel_muzero_root_action_selection, num_simulations=num_simulations,
            max_num_considered_actions=max_num_considered_actions, qtransform=qtransform),
        interior_action_selection_fn=functools.partial(mctx.gumbel_muzero_interior_action_selection,
                                                       qtransform=qtransform),
        num_simulations=num_simulations, max_depth=max_depth, invalid_actions=invalid_actions,
        extra_data=mctx.GumbelMuZeroExtraData(root_gumbel=gumbel))
    visits = tree.summary().visit_counts
    # the final move: the best of the most visited actions by gumbel + logits + completed q
    completed_q = jax.vmap(qtransform, in_axes=[0, None])(tree, Tree.ROOT_INDEX)
    score = _seq_halving.score_considered(jnp.max(visits, axis=-1, keepdims=True), gumbel, root.prior_logits,
                                          completed_q, visits)
    action = _selection.masked_argmax(score, invalid_actions)
    weights = jax.nn.softmax(_policies._mask_invalid_actions(root.prior_logits + completed_q, invalid_actions))
    return mctx.PolicyOutput(action=action, action_weights=weights, search_tree=tree)


def muzero_policy(params, rng_key, root: mctx.RootFnOutput, recurrent_fn, num_simulations: int,
                  invalid_actions=None, max_depth: int | None = None, *,
                  qtransform=mctx.qtransform_by_parent_and_siblings, dirichlet_fraction=0.25, dirichlet_alpha=0.3,
                  pb_c_init=1.25, pb_c_base=19652, temperature=1.0) -> mctx.PolicyOutput:
    """``mctx.muzero_policy`` (PUCT, Dirichlet noise at the root) on ``search``."""
    rng_key, dirichlet_key, search_key = jax.random.split(rng_key, 3)
    noisy = _policies._get_logits_from_probs(_policies._add_dirichlet_noise(
        dirichlet_key, jax.nn.softmax(root.prior_logits), dirichlet_fraction=dirichlet_fraction,
        dirichlet_alpha=dirichlet_alpha))
    root = root.replace(prior_logits=_policies._mask_invalid_actions(noisy, invalid_actions))
    interior = functools.partial(mctx.muzero_action_selection, pb_c_base=pb_c_base, pb_c_init=pb_c_init,
                                 qtransform=qtransform)
    tree = search(params, search_key, root=root, recurrent_fn=recurrent_fn,
                  root_action_selection_fn=functools.partial(interior, depth=0),
                  interior_action_selection_fn=interior, num_simulations=num_simulations, max_depth=max_depth,
                  invalid_actions=invalid_actions)
    weights = tree.summary().visit_probs
    logits = _policies._apply_temperature(_policies._get_logits_from_probs(weights), temperature)
    return mctx.PolicyOutput(action=jax.random.categorical(rng_key, logits), action_weights=weights, search_tree=tree)


__all__ = ["backward", "search", "gumbel_muzero_policy", "muzero_policy"]
