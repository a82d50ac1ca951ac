"""Exact game trees: hand-built toy games with known minimax values, then 8x8 digits checked against
a brute-force recursive minimax over every move order."""

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from flax import struct

from debate.core.debaters import greedy_debater, random_debater
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask
from debate.analysis.exact import TreeTooLargeError, debater_policy_probs, exact_tree_to_graph, exploitability, optimal_policy_probs, solve_exact, uniform_policy_probs
from debate.analysis.search_graph import graph_to_dot
from debate.tasks.sparse_pixel.game import pixel_action_labels
from debate.tasks.sparse_pixel.game import instances as pixel_instances
from debate.tasks.computation.game import instances as computation_instances


# ------------------------------------------------------------------ a toy task with a hand-written tree
@struct.dataclass
class ToyState:
    node: jax.Array  # [B] int32, which state of the hand-written table
    history: jax.Array  # [B] int32, encodes the move order (NOT part of the key)
    legal_action_mask: jax.Array  # [B, A]
    current_player: jax.Array  # [B]
    terminated: jax.Array  # [B]


@dataclass(frozen=True)
class ToyTask:
    """``children[s][a]`` is the state after action ``a`` in state ``s`` (-1: illegal); a state
    without children is terminal. The judge params are the terminal margins, indexed by state."""

    children: tuple
    players: tuple
    num_turns: int
    bound: int | None = None  # tree_size_bound override (None: the number of table states)
    name = "toy_table"
    player_teams = (0, 1)  # two players, two teams: the honest player 0 maximises

    @property
    def num_actions(self):
        return len(self.children[0])

    def _tables(self):
        kids = jnp.asarray(self.children, jnp.int32)
        return kids, jnp.asarray(self.players, jnp.int32), ~(kids >= 0).any(axis=1)

    def init(self, batch=1):
        kids, players, terminal = self._tables()
        node = jnp.zeros((batch,), jnp.int32)
        return ToyState(node, jnp.zeros((batch,), jnp.int32), kids[node] >= 0, players[node], terminal[node])

    def step(self, state, action):
        kids, players, terminal = self._tables()
        action = jnp.asarray(action, jnp.int32)
        a = jnp.clip(action, 0, self.num_actions - 1)
        nxt = kids[state.node, a]
        active = (nxt >= 0) & ~state.terminated & (action >= 0) & (action < self.num_actions)
        node = jnp.where(active, nxt, state.node)
        history = jnp.where(active, state.history * 3 + a + 1, state.history)
        return ToyState(node, history, (kids[node] >= 0) & ~terminal[node][:, None], players[node], terminal[node])

    def state_key(self, state):
        return state.node[:, None]

    def tree_size_bound(self, state, game_index=0):
        return len(self.children) if self.bound is None else self.bound

    def judge_view(self, state):
        return state.node

    def honest_margin(self, state, logits):
        return logits[:, 0]


def toy_judge(params, view):
    return params[view][:, None]


T = (-1, -1)  # a terminal state's children
# Depth 2: the honest root picks a liar node, the liar picks a terminal.
#   0 (H) -> 1 (L) -> 3: +1 | 4: -2        node 1 = min(+1, -1) = -1
#         -> 2 (L) -> 5: +3 | 6: m6        node 2 = +1 if m6 > 0 else -1
DEPTH2 = ToyTask(children=((1, 2), (3, 4), (5, 6), T, T, T, T), players=(0, 1, 1, 0, 0, 0, 0), num_turns=2)
# Depth 3 with a transposition: D (state 4) is reached by the moves (0, 1) and (1, 0).
#   0 (H) -> A=1 (L) -> C=3 (H) -> 6: -1   | 7: -0.5     C = -1
#                    -> D=4 (H) -> 8: -1   | 9: +2       D = +1 (best action 1)
#         -> B=2 (L) -> D=4
#                    -> E=5 (H) -> 10: +0.1 | 11: -3     E = +1 (best action 0)
#   A = min(C, D) = -1, B = min(D, E) = +1, root = max(A, B) = +1 via action 1.
DEPTH3 = ToyTask(children=((1, 2), (3, 4), (4, 5), (6, 7), (8, 9), (10, 11)) + (T,) * 6,
                 players=(0, 1, 1, 0, 0, 0) + (0,) * 6, num_turns=3)
DEPTH3_MARGINS = jnp.asarray([0, 0, 0, 0, 0, 0, -1, -0.5, -1, 2, 0.1, -3], jnp.float32)


def depth2_margins(m6):
    return jnp.asarray([0, 0, 0, 1, -2, 3, m6], jnp.float32)


@pytest.mark.parametrize("m6, root_value, pv", [(0.5, 1.0, [1, 0]), (0.0, -1.0, [0, 1]), (-0.5, -1.0, [0, 1])])
def test_depth2_minimax_values(m6, root_value, pv):
    tree = solve_exact(DEPTH2, toy_judge, depth2_margins(m6), DEPTH2.init())
    assert tree.num_nodes == 7 and tree.num_edges == 6
    np.testing.assert_array_equal(tree.key[:, 0], np.arange(7))  # breadth first, in (parent, action) order
    node2 = 1.0 if m6 > 0 else -1.0  # a zero margin is a liar win
    np.testing.assert_array_equal(tree.values, [root_value, -1, node2, 1, -1, 1, node2])
    assert tree.value == root_value
    assert tree.principal_variation() == pv
    np.testing.assert_array_equal(tree.best_action, [pv[0], 1, 0 if m6 > 0 else 1, -1, -1, -1, -1])
    np.testing.assert_array_equal(tree.depth, [0, 1, 1, 2, 2, 2, 2])
    np.testing.assert_allclose(tree.margin[3:], [1, -2, 3, m6])
    assert np.isnan(tree.margin[:3]).all()
    assert tree.terminated.tolist() == [False] * 3 + [True] * 4
    # optimal actions: every action whose child keeps the node's value
    assert tree.optimal_actions(0).tolist() == ([1] if m6 > 0 else [0, 1])
    assert tree.optimal_actions(2).tolist() == ([0, 1] if m6 > 0 else [1])
    assert tree.optimal_actions(3).tolist() == []


def test_depth2_best_action_is_lowest_optimal():
    tree = solve_exact(DEPTH2, toy_judge, depth2_margins(0.5), DEPTH2.init())
    # node 1: the liar picks action 1 (-2 < +1); node 2: both win for honest -> lowest action 0
    np.testing.assert_array_equal(tree.best_action, [1, 1, 0, -1, -1, -1, -1])


def test_depth3_transposition_is_one_node_and_values_are_exact():
    init = DEPTH3.init()
    tree = solve_exact(DEPTH3, toy_judge, DEPTH3_MARGINS, init)
    # the two move orders give different raw states (history) but one key
    s01 = DEPTH3.step(DEPTH3.step(init, jnp.asarray([0])), jnp.asarray([1]))
    s10 = DEPTH3.step(DEPTH3.step(init, jnp.asarray([1])), jnp.asarray([0]))
    assert int(s01.node[0]) == int(s10.node[0]) == 4 and int(s01.history[0]) != int(s10.history[0])
    assert tree.num_nodes == 12  # 13 without merging D
    assert tree.num_edges == 12
    np.testing.assert_array_equal(tree.key[:, 0], np.arange(12))
    into_d = tree.edge_child == 4
    parents_of_d = sorted(zip(tree.edge_parent[into_d].tolist(), tree.edge_action[into_d].tolist()))
    assert parents_of_d == [(1, 1), (2, 0)]
    np.testing.assert_array_equal(tree.values[:6], [1, -1, 1, -1, 1, 1])
    np.testing.assert_array_equal(tree.best_action[:6], [1, 0, 0, 0, 1, 0])
    assert tree.principal_variation() == [1, 0, 1]
    assert tree.principal_variation_nodes() == [0, 2, 4, 9]
    np.testing.assert_array_equal(tree.height, [3, 2, 2, 1, 1, 1] + [0] * 6)
    # the states of the nodes are replayed from the root: their keys match
    states = tree.node_states()
    np.testing.assert_array_equal(np.asarray(states.node), np.arange(12))


# A state reached after one move and after two: 0 (H) -> 1 (L) -> 2 | 3: -1;  0 -> 2 (L) -> 4: +0.5 | 5: +2.
# Node 2 = +1, node 1 = min(node 2, -1) = -1, root = max(-1, +1) = +1 via action 1. Node 1's child sits on
# its own breadth-first level, so induction must follow heights, not depths.
SKIP = ToyTask(children=((1, 2), (2, 3), (4, 5), T, T, T), players=(0, 1, 1, 0, 0, 0), num_turns=3)


def test_cross_level_transposition():
    tree = solve_exact(SKIP, toy_judge, jnp.asarray([0, 0, 0, -1, 0.5, 2], jnp.float32), SKIP.init())
    assert tree.num_nodes == 6 and tree.num_edges == 6
    np.testing.assert_array_equal(tree.key[:, 0], np.arange(6))
    np.testing.assert_array_equal(tree.depth, [0, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(tree.height, [3, 2, 1, 0, 0, 0])
    np.testing.assert_array_equal(tree.values, [1, -1, 1, -1, 1, 1])
    assert tree.principal_variation() == [1, 0]
    assert (tree.edge_parent[tree.edge_child == 2] == [0, 1]).all()


def test_toy_exploitability_by_hand():
    tree = solve_exact(DEPTH2, toy_judge, depth2_margins(0.5), DEPTH2.init())
    # honest uniform at the root, liar best-responds: (-1 + +1) / 2 = 0, against a game value of +1
    r = exploitability(tree, uniform_policy_probs(tree), HONEST)
    assert r == {"player": HONEST, "best_response_value": 0.0, "game_value": 1.0, "exploitability": 1.0}
    # a uniform liar cannot lose anything here: the honest player goes to node 2, which it wins anyway
    assert exploitability(tree, uniform_policy_probs(tree), LIAR)["exploitability"] == 0.0
    for player in (HONEST, LIAR):
        assert exploitability(tree, optimal_policy_probs(tree), player)["exploitability"] == 0.0
    # a callable policy, fed the nodes' states: the honest player always plays action 0 -> loses
    always0 = lambda states: np.eye(2)[np.zeros(np.asarray(states.node).shape[0], int)]  # noqa: E731
    r = exploitability(tree, always0, HONEST)
    assert r["best_response_value"] == -1.0 and r["exploitability"] == 2.0
    # probabilities are renormalised over legal moves: an unnormalised 3:1 root policy
    probs = np.zeros((7, 2))
    probs[0] = [3.0, 1.0]
    assert exploitability(tree, probs, HONEST)["best_response_value"] == pytest.approx(0.75 * -1 + 0.25 * 1)
    probs[0] = 0.0
    with pytest.raises(ValueError, match="no probability to any legal action"):
        exploitability(tree, probs, HONEST)

    tree3 = solve_exact(DEPTH3, toy_judge, DEPTH3_MARGINS, DEPTH3.init())
    # honest uniform everywhere: C = -1, D = 0, E = 0; the liar picks A = min(-1, 0), B = min(0, 0);
    # root = (-1 + 0) / 2 = -0.5
    r = exploitability(tree3, uniform_policy_probs(tree3), HONEST)
    assert r["best_response_value"] == -0.5 and r["exploitability"] == 1.5
    # liar uniform: A = 0, B = +1, root = max = +1 = game value
    assert exploitability(tree3, uniform_policy_probs(tree3), LIAR)["exploitability"] == 0.0


def test_toy_limits_and_bad_tasks():
    with pytest.raises(TreeTooLargeError, match=r"up to 12 states.*max_nodes=5.*raise max_nodes") as info:
        solve_exact(DEPTH3, toy_judge, DEPTH3_MARGINS, DEPTH3.init(), max_nodes=5)
    assert isinstance(info.value, ValueError)
    # a bound that is wrong is still caught while expanding
    lying = ToyTask(DEPTH3.children, DEPTH3.players, 3, bound=1)
    with pytest.raises(TreeTooLargeError, match="more than max_nodes=5"):
        solve_exact(lying, toy_judge, DEPTH3_MARGINS, lying.init(), max_nodes=5)
    short = ToyTask(DEPTH3.children, DEPTH3.players, num_turns=2)
    with pytest.raises(ValueError, match="num_turns=2"):
        solve_exact(short, toy_judge, DEPTH3_MARGINS, short.init())
    with pytest.raises(ValueError, match="game_index"):
        solve_exact(DEPTH3, toy_judge, DEPTH3_MARGINS, DEPTH3.init(), game_index=1)


def test_toy_graph_is_a_dag_with_the_principal_variation():
    tree = solve_exact(DEPTH3, toy_judge, DEPTH3_MARGINS, DEPTH3.init())
    g = exact_tree_to_graph(tree, action_labels=lambda a: "LR"[a])
    assert nx.is_directed_acyclic_graph(g) and not nx.is_arborescence(g)
    assert set(g.predecessors(4)) == {1, 2}
    assert g.graph == {"truncated": False, "total_nodes": 12, "kind": "exact", "value": 1.0}
    assert g.nodes[0]["label"] == "root"
    # A transposition is labelled by a move drawn into it (the principal variation's, else the lowest parent's).
    for node in g.nodes:
        into = list(g.in_edges(node, data=True))
        if into:
            assert g.nodes[node]["label"] in {e[2]["label"] for e in into}
            pv_into = [e for e in into if e[2]["on_principal_variation"]]
            expected = pv_into[0] if pv_into else min(into, key=lambda e: e[0])
            assert g.nodes[node]["label"] == expected[2]["label"]
    assert g.nodes[0]["summary"] == "turn 0, player 0"
    assert g.nodes[9]["summary"] == "turn 3, game over, margin +2.00"
    assert g.nodes[9]["judge_value"] == pytest.approx(math.tanh(1.0))
    assert [e for e in g.edges if g.edges[e]["on_principal_variation"]] == [(0, 2), (2, 4), (4, 9)]
    assert g.edges[1, 3]["optimal"] and not g.edges[1, 4]["optimal"]
    g5 = exact_tree_to_graph(tree, max_nodes=5)
    assert {0, 2, 4, 9} <= set(g5) and len(g5) == 5 and nx.is_weakly_connected(g5) and g5.graph["truncated"]
    summaries = exact_tree_to_graph(tree, state_summary=lambda key, s: f"state {int(key[0])} / {int(s.node[0])}")
    assert all(a["summary"] == f"state {n} / {n}" for n, a in summaries.nodes(data=True))
    dot = graph_to_dot(g)
    for n, a in g.nodes(data=True):
        assert f'  n{n} [label="' in dot
        assert f"V={a['minimax_value']:.2f}" in dot.split(f"  n{n} [label=")[1].split("\n")[0]
    assert "N=" not in dot and "P=" not in dot
    assert dot.count("penwidth") == 3


# ------------------------------------------------------------------ sparse-pixel digits
K = 2
GAMES = 6


@pytest.fixture(scope="module")
def digit_trees(digits, linear_judge):
    judge_fn, params = linear_judge
    task = SparsePixelTask(num_reveals=K, height=8, width=8, num_classes=10, max_candidates=8)
    labels = np.asarray(digits.labels[:GAMES])
    first = np.arange(GAMES) % 2  # honest first in even games, liar first in odd ones
    state = task.init(pixel_instances(digits.images[:GAMES], labels, (labels + 1) % 10), first)
    trees = [solve_exact(task, judge_fn, params, state, game_index=g) for g in range(GAMES)]
    return task, judge_fn, params, state, trees


def _row(state, g):
    return jax.tree.map(lambda x: x[g:g + 1], state)


_JITTED = {}


def _jitted(task, judge_fn):
    if (task, judge_fn) not in _JITTED:
        _JITTED[task, judge_fn] = (jax.jit(task.step),
                                   jax.jit(lambda p, s: task.honest_margin(s, judge_fn(p, task.judge_view(s)))))
    return _JITTED[task, judge_fn]


def _brute_force(task, judge_fn, params, root, modes):
    """Recursive search over every move order (no memoisation): ``modes[player]`` is "max", "min"
    or "uniform" (the mean over legal moves)."""
    step, margin_of = _jitted(task, judge_fn)

    def value(s):
        if bool(s.terminated[0]):
            return 1.0 if float(margin_of(params, s)[0]) > 0 else -1.0
        kids = [value(step(s, jnp.asarray([a], jnp.int32))) for a in np.flatnonzero(np.asarray(s.legal_action_mask[0]))]
        mode = modes[int(s.current_player[0])]
        return max(kids) if mode == "max" else min(kids) if mode == "min" else float(np.mean(kids))

    return value(root)


def test_digits_tree_shape_and_keys(digit_trees):
    task, _, _, state, trees = digit_trees
    for g, tree in enumerate(trees):
        n = int(np.asarray(state.legal_action_mask[g]).sum())
        assert n == 8
        # reveal orders merge: 1 + n + C(n, 2) states, and the bound is tight for K = 2
        assert tree.num_nodes == 1 + n + math.comb(n, 2) == task.tree_size_bound(state, g)
        assert tree.num_edges == n + n * (n - 1)
        assert tree.depth.max() == K and tree.terminated.sum() == math.comb(n, 2)
        states = tree.node_states()
        np.testing.assert_array_equal(np.asarray(task.state_key(states)), tree.key)
        np.testing.assert_array_equal(np.asarray(states.turn), tree.depth)
        assert len(np.unique(tree.key, axis=0)) == tree.num_nodes


def test_digits_root_value_matches_brute_force_minimax(digit_trees):
    task, judge_fn, params, state, trees = digit_trees
    values = []
    for g, tree in enumerate(trees):
        expected = _brute_force(task, judge_fn, params, _row(state, g), {HONEST: "max", LIAR: "min"})
        assert tree.value == expected
        values.append(expected)
        # the principal variation, replayed with task.step, ends in a game the value predicts
        s = _row(state, g)
        for a in tree.principal_variation():
            assert bool(s.legal_action_mask[0, a])
            s = task.step(s, jnp.asarray([a], jnp.int32))
        assert bool(s.terminated[0]) and int(s.turn[0]) == K
        margin = float(task.honest_margin(s, judge_fn(params, task.judge_view(s)))[0])
        assert (1.0 if margin > 0 else -1.0) == tree.value
    assert len(set(values)) == 2, values  # the chosen games include wins for both sides


def test_digits_exploitability(digit_trees):
    task, judge_fn, params, state, trees = digit_trees
    positive = []
    for g, tree in enumerate(trees):
        for player in (HONEST, LIAR):
            assert exploitability(tree, optimal_policy_probs(tree), player)["exploitability"] == 0.0
            r = exploitability(tree, uniform_policy_probs(tree), player)
            assert r["exploitability"] >= 0 and r["game_value"] == tree.value
            if r["exploitability"] > 0:
                positive.append((g, player, r))
    assert positive, "the uniform policy should lose something somewhere"
    # check the first such position against a brute-force expectimax
    g, player, r = positive[0]
    other = LIAR if player == HONEST else HONEST
    modes = {player: "uniform", other: "min" if player == HONEST else "max"}
    expected = _brute_force(task, judge_fn, params, _row(state, g), modes)
    assert r["best_response_value"] == pytest.approx(expected)
    # a callable uniform policy reading the nodes' replayed states gives the same numbers
    def uniform_from_states(s):
        legal = np.asarray(s.legal_action_mask, float)
        return legal / legal.sum(1, keepdims=True)

    assert exploitability(trees[g], uniform_from_states, player) == r


def test_debater_policies(digit_trees):
    task, judge_fn, params, state, trees = digit_trees
    tree = trees[0]
    # the greedy debater looks one move ahead, so on the last move it plays optimally
    greedy = debater_policy_probs(greedy_debater(task, judge_fn), params, jax.random.key(0))
    last = np.flatnonzero((tree.depth == K - 1) & ~tree.terminated)
    probs = greedy(tree.node_states(last))
    assert probs.shape == (len(last), task.num_actions) and (probs.sum(1) == 1).all()
    for node, row in zip(last, probs):
        action = int(np.argmax(row))
        assert action in tree.optimal_actions(node).tolist()
    for player in (HONEST, LIAR):
        r = exploitability(tree, greedy, player)
        assert 0.0 <= r["exploitability"] <= 2.0
    rnd = debater_policy_probs(random_debater(), params, jax.random.key(1))
    chosen = rnd(tree.node_states(np.flatnonzero(~tree.terminated)))
    legal = tree.legal_action_mask[~tree.terminated]
    assert (chosen.sum(1) == 1).all() and legal[chosen.astype(bool)].all()


def test_over_limit_tree_is_refused_before_expanding(digits, linear_judge):
    judge_fn, params = linear_judge
    task = SparsePixelTask(num_reveals=6, height=8, width=8, num_classes=10, max_candidates=64)
    labels = np.asarray(digits.labels[:1])
    state = task.init(pixel_instances(digits.images[:1], labels, (labels + 1) % 10), HONEST)
    n = int((np.asarray(digits.images[0]) > 0).sum())
    bound = sum(math.comb(n, d) for d in range(7))
    assert task.tree_size_bound(state, 0) == bound > 1000
    with pytest.raises(TreeTooLargeError) as info:
        solve_exact(task, judge_fn, params, state, max_nodes=1000)
    message = str(info.value)
    assert f"{bound:,}" in message and "1,000" in message and "raise max_nodes" in message


def test_digits_graph_export(digit_trees):
    task, _, _, state, trees = digit_trees
    tree = trees[1]
    labels = pixel_action_labels(np.asarray(state.candidates[1]), width=8)
    g = exact_tree_to_graph(tree, action_labels=labels)
    assert len(g) == tree.num_nodes and g.number_of_edges() == tree.num_edges
    attrs = {"summary", "player", "judge_value", "visits", "minimax_value", "depth", "terminated", "best_action",
             "on_principal_variation"}
    for n, a in g.nodes(data=True):
        assert attrs <= set(a)
        assert a["visits"] is None and a["minimax_value"] == tree.values[n] and a["depth"] == tree.depth[n]
        if a["terminated"]:
            assert a["judge_value"] == pytest.approx(math.tanh(tree.margin[n] / 2)) and a["best_action"] is None
        else:
            assert a["judge_value"] is None and a["best_action"] == tree.best_action[n]
    for _, _, e in g.edges(data=True):
        assert {"action", "label", "optimal"} <= set(e) and e["label"].startswith("(")
    pv = sorted((n for n, a in g.nodes(data=True) if a["on_principal_variation"]), key=lambda n: g.nodes[n]["depth"])
    assert pv[0] == 0 and g.nodes[pv[-1]]["terminated"] and len(pv) == K + 1
    assert nx.is_path(g, pv)
    assert all(g.edges[u, v]["optimal"] for u, v in zip(pv, pv[1:]))
    assert [g.edges[u, v]["action"] for u, v in zip(pv, pv[1:])] == tree.principal_variation()
    assert graph_to_dot(g).count("->") == tree.num_edges


def test_computation_task_exact_checker():
    from debate.tasks.computation.game import ComputationTask, exact_checker

    task = ComputationTask(num_steps=4, modulus=5)
    state = task.init(computation_instances(jnp.asarray([3, 3], jnp.uint32)), jnp.asarray([HONEST, LIAR]))
    # with an exact checker the honest player wins whichever side it argues
    checker = exact_checker(task)
    for g in (0, 1):
        tree = solve_exact(task, checker, None, state, game_index=g)
        assert tree.value == 1.0
        assert tree.num_nodes <= task.tree_size_bound(state, g)
        assert len(tree.principal_variation()) == task.num_turns
        assert exploitability(tree, optimal_policy_probs(tree), LIAR)["exploitability"] == 0.0
    # a checker that passes every step hands the game to the claimer, honest or not
    def rubber_stamp(params, view):
        return jnp.broadcast_to(jnp.asarray([0.0, 10.0]), (view.shape[0], 2))

    assert [solve_exact(task, rubber_stamp, None, state, game_index=g).value for g in (0, 1)] == [1.0, -1.0]
