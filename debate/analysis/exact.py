"""Exact game trees of small positions: every legal move, solved by backward induction.

``solve_exact`` builds the *exact* game tree of one small game instead (every legal move, states
with equal ``task.state_key`` merged into one node, so the tree is a DAG) and solves it by backward
induction; ``exploitability`` measures how much a policy loses against a best response in it, and
``exact_tree_to_graph`` exports it with the same node attribute names as ``search_tree_to_graph``
(``player``, ``visits``, ``minimax_value``, ``judge_value``, ``summary``).

Task interface that exact solving relies on (every exactly solvable task provides it: ``debate.core.task.ExactlySolvable``):
``num_actions``, ``num_turns`` (the most moves a game can have), ``step(state, action[B])`` (pure,
batched, a no-op on finished games and illegal actions), ``judge_view(state)``,
``honest_margin(state, logits) -> [B]`` (the honest player, id 0, wins a finished game iff > 0),
``state_key(state) -> [B, k] int32`` (rows equal exactly when two states of one game have the same
future and the same verdict) and ``tree_size_bound(state, game_index) -> int`` (an upper bound on the
number of distinct states of that game, checked before anything is expanded). Every leaf of a
``State`` has the batch axis first and ``legal_action_mask [B, A]``, ``current_player [B]``,
``terminated [B]`` are among them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from debate.analysis.search_graph import CHOSEN_COLOR, CHOSEN_FILL  # noqa: F401
from debate.core.task import honest_sign, require_two_teams

class TreeTooLargeError(ValueError):
    """A game tree has more states than an exact solve was allowed to expand.

    ``states``: the task's upper bound on the tree's states (``is_bound``), or the states found
    before expansion stopped (``is_bound`` False: the tree has more); ``limit``: the ``max_nodes``
    it was refused under; ``depth``: the depth expansion reached (None for a bound)."""

    def __init__(self, message: str, states: int | None = None, limit: int | None = None, is_bound: bool = True,
                 depth: int | None = None):
        super().__init__(message)
        self.states, self.limit, self.is_bound, self.depth = states, limit, is_bound, depth


def _pow2(n: int, minimum: int = 8) -> int:
    return max(minimum, 1 << max(0, int(n) - 1).bit_length())


def _chunks(n: int, batch_size: int):
    """(start, stop, padded size) covering range(n) in chunks of at most ``batch_size`` (a power of
    two), each padded to a power of two so that jit compiles only a few shapes."""
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        yield start, stop, min(batch_size, _pow2(stop - start, _MIN_CHUNK))


def _pad_rows(array: np.ndarray, size: int, fill) -> np.ndarray:
    if array.shape[0] == size:
        return array
    pad = np.full((size - array.shape[0],) + array.shape[1:], fill, array.dtype)
    return np.concatenate([array, pad], axis=0)


_COMPILED: dict = {}
_MIN_CHUNK = 64  # the smallest padded batch: few shapes to compile, little padding wasted


def _cached(cache_key, build):
    try:
        hash(cache_key)
    except TypeError:  # an unhashable task: compile for this call only
        return build()
    if cache_key not in _COMPILED:
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        _COMPILED[cache_key] = build()
    return _COMPILED[cache_key]


def _replay_fn(task):
    """A node's state is its root replayed along one action path (``path [T]``, the first ``depth``
    entries used): trees store paths, not states, so a node costs ``T`` ints whatever the size of
    the task's state."""

    def replay(root, paths, depths):
        size, turns = paths.shape
        states = jax.tree.map(lambda x: jnp.broadcast_to(x, (size,) + x.shape[1:]), root)

        def body(states, xs):
            t, actions = xs
            active = t < depths
            moved = task.step(states, jnp.where(active, actions, 0).astype(jnp.int32))
            return jax.tree.map(
                lambda new, old: jnp.where(active.reshape((-1,) + (1,) * (new.ndim - 1)), new, old), moved, states
            ), None

        states, _ = jax.lax.scan(body, states, (jnp.arange(turns), paths.T))
        return states

    return replay


def _compiled(task) -> dict:
    """Jitted replay functions of one task: ``replay`` (the states) and ``info`` (key, terminated,
    player to move, legal mask)."""

    def build():
        replay = _replay_fn(task)

        def info(root, paths, depths):
            states = replay(root, paths, depths)
            return (task.state_key(states).astype(jnp.int32), states.terminated,
                    states.current_player.astype(jnp.int32), states.legal_action_mask)

        return {"replay": jax.jit(replay), "info": jax.jit(info)}

    return _cached(("task", task), build)


def _compiled_margin(task, judge_fn):
    """Jitted (params, root, paths, depths) -> the judge's honest margin at the replayed states."""

    def build():
        replay = _replay_fn(task)

        def margin(params, root, paths, depths):
            states = replay(root, paths, depths)
            return task.honest_margin(states, judge_fn(params, task.judge_view(states)))

        return jax.jit(margin)

    return _cached(("margin", task, judge_fn), build)


@dataclass(eq=False)
class ExactTree:
    """The exact game tree (a DAG: states with equal ``task.state_key`` are one node) of one game,
    solved by backward induction. Node 0 is the root; nodes are numbered breadth first.

    Per node (arrays of length ``num_nodes``): ``key`` [N, k], ``depth`` (moves from the root along
    the shortest path), ``current_player``, ``terminated``, ``legal_action_mask`` [N, A], ``path``
    [N, T] (one action sequence from the root that reaches the node, -1 padded), ``margin`` (the
    judge's honest margin at leaves, NaN elsewhere), ``values`` (exact minimax value from the honest
    player's view: +1 the honest player wins, -1 the liar wins), ``best_action`` (lowest optimal
    action, -1 at leaves) and ``height`` (longest path down to a leaf). Edges (one per legal move,
    sorted by parent then action): ``edge_parent``, ``edge_action``, ``edge_child``.

    A leaf is a terminated node (or, for a task that breaks the interface, a live node with no legal
    move); its value is +1 iff its margin is > 0. The honest player (id 0) maximises, every other
    player minimises."""

    task: Any
    root_state: Any  # the game's root, a batch-1 State with numpy leaves
    key: np.ndarray
    depth: np.ndarray
    current_player: np.ndarray
    terminated: np.ndarray
    legal_action_mask: np.ndarray
    path: np.ndarray
    margin: np.ndarray
    values: np.ndarray
    best_action: np.ndarray
    height: np.ndarray
    edge_parent: np.ndarray
    edge_action: np.ndarray
    edge_child: np.ndarray
    batch_size: int = 1024
    edge_start: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        # Edges are sorted by parent: node n's edges are edge_start[n]:edge_start[n + 1].
        self.edge_start = np.searchsorted(self.edge_parent, np.arange(self.num_nodes + 1)).astype(np.int64)

    # ------------------------------------------------------------ shape and values
    @property
    def num_nodes(self) -> int:
        return int(self.depth.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_parent.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.legal_action_mask.shape[1])

    @property
    def leaf(self) -> np.ndarray:
        """[N] bool: nodes without children (terminated games)."""
        return self.edge_start[1:] == self.edge_start[:-1]

    @property
    def value(self) -> float:
        """The exact value of the root from the honest player's view (+1 or -1)."""
        return float(self.values[0])

    # ------------------------------------------------------------------- moves
    def children(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """(actions, child nodes) of ``node``, by action."""
        lo, hi = self.edge_start[node], self.edge_start[node + 1]
        return self.edge_action[lo:hi], self.edge_child[lo:hi]

    def child(self, node: int, action: int) -> int:
        actions, kids = self.children(node)
        hit = np.flatnonzero(actions == action)
        if hit.size == 0:
            raise ValueError(f"action {action} is not a legal move at node {node}.")
        return int(kids[hit[0]])

    def optimal_actions(self, node: int) -> np.ndarray:
        """The actions at ``node`` whose child has the node's own value (empty at a leaf)."""
        actions, kids = self.children(node)
        return actions[self.values[kids] == self.values[node]]

    def principal_variation_nodes(self) -> list[int]:
        """Nodes from the root to a leaf, following ``best_action``."""
        nodes = [0]
        while self.best_action[nodes[-1]] >= 0:
            nodes.append(self.child(nodes[-1], int(self.best_action[nodes[-1]])))
        return nodes

    def principal_variation(self) -> list[int]:
        """Actions from the root to a leaf under optimal play (lowest optimal action at each node)."""
        nodes = self.principal_variation_nodes()
        return [int(self.best_action[n]) for n in nodes[:-1]]

    # ------------------------------------------------------------------- states
    def node_states(self, nodes=None):
        """The states of ``nodes`` (default: all) as one batched State with numpy leaves, replayed
        from the root along each node's ``path`` in power-of-two chunks."""
        nodes = np.arange(self.num_nodes) if nodes is None else np.asarray(nodes, np.int64).reshape(-1)
        fns = _compiled(self.task)
        root = jax.tree.map(jnp.asarray, self.root_state)
        parts = []
        for start, stop, size in _chunks(len(nodes), self.batch_size):
            rows = nodes[start:stop]
            paths = _pad_rows(self.path[rows], size, -1)
            depths = _pad_rows(self.depth[rows], size, 0)
            states = fns["replay"](root, jnp.asarray(paths), jnp.asarray(depths))
            parts.append(jax.tree.map(lambda x, n=stop - start: np.asarray(x)[:n], states))
        if not parts:
            return jax.tree.map(lambda x: np.asarray(x)[:0], self.root_state)
        return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *parts)

    # ------------------------------------------------------------ induction
    def _backward(self, leaf_values: np.ndarray, maximise: np.ndarray, policy_node: np.ndarray | None = None,
                  edge_prob: np.ndarray | None = None) -> np.ndarray:
        """Backward induction, one height at a time (vectorised over all nodes of that height):
        leaves keep ``leaf_values``; a ``policy_node`` takes the ``edge_prob``-weighted mean of its
        children, any other node their max (``maximise``) or min."""
        values = np.where(self.leaf, leaf_values, 0.0).astype(np.float64)
        parent_height = self.height[self.edge_parent]
        order = np.argsort(parent_height, kind="stable")
        bounds = np.searchsorted(parent_height[order], np.arange(1, int(self.height.max(initial=0)) + 2))
        for h in range(1, int(self.height.max(initial=0)) + 1):
            edges = order[bounds[h - 1]:bounds[h]]
            parents, q = self.edge_parent[edges], values[self.edge_child[edges]]
            sign = np.where(maximise[parents], 1.0, -1.0)
            best = np.full(self.num_nodes, -np.inf)
            np.maximum.at(best, parents, sign * q)
            nodes = np.unique(parents)
            out = np.where(maximise[nodes], best[nodes], -best[nodes])
            if policy_node is not None:
                mean = np.zeros(self.num_nodes)
                np.add.at(mean, parents, edge_prob[edges] * q)
                out = np.where(policy_node[nodes], mean[nodes], out)
            values[nodes] = out
        return values


def _leaf_values(margin: np.ndarray) -> np.ndarray:
    return np.where(margin > 0, 1.0, -1.0)


def solve_exact(task, judge_fn, judge_params, state, game_index: int = 0, max_nodes: int = 200_000,
                batch_size: int = 1024) -> ExactTree:
    """The exact game tree of game ``game_index`` of a batched ``state``, solved by minimax.

    First checks ``task.tree_size_bound`` and raises ``TreeTooLargeError`` when the tree could have
    more than ``max_nodes`` states (also raised if expansion itself passes ``max_nodes``). Then it
    expands breadth first, one level at a time: every legal move of every frontier state is stepped
    in vectorised calls of at most ``batch_size`` (padded to powers of two), children are merged by
    ``task.state_key`` (``np.unique`` over key rows, then a lookup among earlier levels), leaves are
    scored by the judge in batches, and backward induction runs one height at a time over edge
    arrays. Values are from the honest player's view (+1 honest wins, -1 liar wins)."""
    require_two_teams(task, "solve_exact (minimax)")
    batch = int(np.asarray(state.current_player).shape[0])
    if not 0 <= game_index < batch:
        raise ValueError(f"game_index must be in [0, {batch}) for this state (got {game_index}).")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1 (got {max_nodes}).")
    batch_size = _pow2(batch_size, 1)
    if hasattr(task, "tree_size_bound"):
        bound = int(task.tree_size_bound(state, game_index))
        if bound > max_nodes:
            raise TreeTooLargeError(
                f"This game tree can have up to {bound:,} states, more than the limit max_nodes={max_nodes:,}; "
                "use fewer reveals/steps or fewer candidates, or raise max_nodes.", states=bound, limit=max_nodes)
    turns, num_actions = int(task.num_turns), int(task.num_actions)
    fns = _compiled(task)
    margin_fn = _compiled_margin(task, judge_fn)
    root_np = jax.tree.map(lambda x: np.asarray(x[game_index:game_index + 1]), state)
    root = jax.tree.map(jnp.asarray, root_np)

    def describe(paths: np.ndarray, depths: np.ndarray):
        outs = []
        for start, stop, size in _chunks(len(paths), batch_size):
            out = fns["info"](root, jnp.asarray(_pad_rows(paths[start:stop], size, -1)),
                              jnp.asarray(_pad_rows(depths[start:stop], size, 0)))
            outs.append([np.asarray(x)[:stop - start] for x in out])
        return [np.concatenate(xs, axis=0) for xs in zip(*outs)]

    root_path = np.full((1, turns), -1, np.int32)
    key, terminated, player, legal = describe(root_path, np.zeros(1, np.int32))
    keys, terms, players, legals = [key], [terminated], [player], [legal]
    paths, depths = [root_path], [np.zeros(1, np.int32)]
    index = {key[0].tobytes(): 0}
    num_nodes = 1
    e_parent, e_action, e_child = [], [], []
    frontier_first, frontier_path, frontier_term, frontier_legal = 0, root_path, terminated, legal
    depth = 0
    while True:
        expandable = np.flatnonzero(~frontier_term & frontier_legal.any(axis=1))
        if expandable.size == 0:
            break
        if depth >= turns:
            raise ValueError(f"the game still has legal moves after task.num_turns={turns} moves; the task's "
                             "num_turns must be the most moves a game can have.")
        rows, actions = np.nonzero(frontier_legal[expandable])  # sorted by parent, then action
        local_parents = expandable[rows]
        child_paths = frontier_path[local_parents].copy()
        child_paths[:, depth] = actions
        c_key, c_term, c_player, c_legal = describe(child_paths, np.full(len(actions), depth + 1, np.int32))
        uniq, first, inverse = np.unique(c_key, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        ids = np.array([index.get(row.tobytes(), -1) for row in uniq], np.int64)
        new = np.flatnonzero(ids < 0)
        new = new[np.argsort(first[new], kind="stable")]  # new nodes in (parent, action) order
        ids[new] = num_nodes + np.arange(len(new))
        for u in new:
            index[uniq[u].tobytes()] = int(ids[u])
        num_nodes += len(new)
        if num_nodes > max_nodes:
            raise TreeTooLargeError(
                f"This game tree has more than max_nodes={max_nodes:,} states ({num_nodes:,} found by depth "
                f"{depth + 1}); use fewer reveals/steps or fewer candidates, or raise max_nodes.",
                states=num_nodes, limit=max_nodes, is_bound=False, depth=depth + 1)
        e_parent.append(frontier_first + local_parents)
        e_action.append(actions.astype(np.int32))
        e_child.append(ids[inverse])
        src = first[new]
        keys.append(uniq[new]); terms.append(c_term[src]); players.append(c_player[src])  # noqa: E702
        legals.append(c_legal[src]); paths.append(child_paths[src])  # noqa: E702
        depths.append(np.full(len(new), depth + 1, np.int32))
        frontier_first = num_nodes - len(new)
        frontier_path, frontier_term, frontier_legal = child_paths[src], c_term[src], c_legal[src]
        depth += 1

    key, terminated, player = np.concatenate(keys), np.concatenate(terms), np.concatenate(players)
    legal, path, node_depth = np.concatenate(legals), np.concatenate(paths), np.concatenate(depths)
    edge_parent = np.concatenate(e_parent).astype(np.int64) if e_parent else np.zeros(0, np.int64)
    edge_action = np.concatenate(e_action) if e_action else np.zeros(0, np.int32)
    edge_child = np.concatenate(e_child).astype(np.int64) if e_child else np.zeros(0, np.int64)

    # Height (longest path to a leaf) orders the induction; it settles within num_turns sweeps
    # unless the task's keys make a cycle.
    height = np.zeros(num_nodes, np.int64)
    for _ in range(turns + 2):
        new_height = np.zeros(num_nodes, np.int64)
        np.maximum.at(new_height, edge_parent, height[edge_child] + 1)
        if np.array_equal(new_height, height):
            break
        height = new_height
    else:
        raise ValueError("the task's state keys make a cycle (a state reachable from itself); state_key must "
                         "tell apart states with different futures.")

    is_leaf = np.ones(num_nodes, bool)
    is_leaf[edge_parent] = False
    leaves = np.flatnonzero(is_leaf)
    margin = np.full(num_nodes, np.nan)
    for start, stop, size in _chunks(len(leaves), batch_size):
        rows = leaves[start:stop]
        out = margin_fn(judge_params, root, jnp.asarray(_pad_rows(path[rows], size, -1)),
                            jnp.asarray(_pad_rows(node_depth[rows], size, 0)))
        margin[rows] = np.asarray(out, np.float64)[:stop - start]

    tree = ExactTree(
        task=task, root_state=root_np, key=key, depth=node_depth, current_player=player, terminated=terminated,
        legal_action_mask=legal, path=path, margin=margin, values=np.zeros(num_nodes),
        best_action=np.full(num_nodes, -1), height=height, edge_parent=edge_parent, edge_action=edge_action, edge_child=edge_child, batch_size=batch_size,
    )
    tree.values = tree._backward(_leaf_values(np.nan_to_num(margin)), np.asarray(honest_sign(task, player)) > 0)
    optimal = tree.values[edge_child] == tree.values[edge_parent]
    best = np.full(num_nodes, num_actions, np.int64)
    np.minimum.at(best, edge_parent[optimal], edge_action[optimal].astype(np.int64))
    tree.best_action = np.where(is_leaf, -1, best).astype(np.int32)
    return tree


# -------------------------------------------------------------------- policies
def optimal_policy_probs(tree: ExactTree) -> np.ndarray:
    """[N, A] one-hot on ``best_action`` (all zeros at leaves)."""
    probs = np.zeros((tree.num_nodes, tree.num_actions))
    live = tree.best_action >= 0
    probs[np.flatnonzero(live), tree.best_action[live]] = 1.0
    return probs


def uniform_policy_probs(tree: ExactTree) -> np.ndarray:
    """[N, A] uniform over each node's legal actions (all zeros at leaves)."""
    legal = np.zeros((tree.num_nodes, tree.num_actions))
    legal[tree.edge_parent, tree.edge_action] = 1.0
    return legal / np.maximum(legal.sum(axis=1, keepdims=True), 1.0)


def debater_policy_probs(debater, judge_params, key: jax.Array) -> Callable:
    """A policy for ``exploitability``: a callable (batched State of nodes) -> [N, A] that runs
    ``debater.select(judge_params, key, states)`` (jitted, batches padded to powers of two; a fresh
    key per call via ``fold_in``) and one-hot encodes the chosen actions."""
    select = jax.jit(debater.select)
    calls = [0]

    def policy(states) -> np.ndarray:
        legal = np.asarray(states.legal_action_mask)
        n, num_actions = legal.shape
        size = _pow2(n, _MIN_CHUNK)
        # pad with copies of the first state (any valid state will do; its action is dropped)
        padded = jax.tree.map(lambda x: np.concatenate([np.asarray(x), np.repeat(np.asarray(x)[:1], size - n, axis=0)]),
                              states)
        actions = np.asarray(select(judge_params, jax.random.fold_in(key, calls[0]), padded))[:n]
        calls[0] += 1
        probs = np.zeros((n, num_actions))
        probs[np.arange(n), actions] = 1.0
        return probs

    return policy


def exploitability(tree: ExactTree, policy_probs, player: int) -> dict:
    """How much ``player``'s policy loses against a best-responding opponent, in the exact tree.

    ``policy_probs`` is an [N, A] array (rows: nodes) or a callable (batched State of nodes ->
    [N, A]); it is only read at non-leaf nodes where ``player`` moves, renormalised over the legal
    actions there. Elsewhere the opponent best-responds (minimising against the honest player,
    maximising against any other). Returns ``best_response_value`` (honest view, the policy against
    its best response), ``game_value`` (the exact root value) and ``exploitability``: game value
    minus best-response value for the honest player, the reverse for any other; 0 for an optimal
    policy, >= 0 always."""
    at = np.flatnonzero((tree.current_player == player) & ~tree.leaf)
    if callable(policy_probs):
        probs = np.zeros((tree.num_nodes, tree.num_actions))
        for start in range(0, len(at), tree.batch_size):
            rows = at[start:start + tree.batch_size]
            out = np.asarray(policy_probs(tree.node_states(rows)), np.float64)
            if out.shape != (len(rows), tree.num_actions):
                raise ValueError(f"the policy returned shape {out.shape} for {len(rows)} states; expected "
                                 f"({len(rows)}, {tree.num_actions}).")
            probs[rows] = out
    else:
        probs = np.asarray(policy_probs, np.float64)
        if probs.shape != (tree.num_nodes, tree.num_actions):
            raise ValueError(f"policy_probs must have shape (num_nodes, num_actions) = ({tree.num_nodes}, "
                             f"{tree.num_actions}) (got {probs.shape}).")
    edge_prob = probs[tree.edge_parent, tree.edge_action]
    if not np.all(np.isfinite(edge_prob)) or np.any(edge_prob < 0):
        raise ValueError("policy probabilities must be finite and non-negative.")
    total = np.zeros(tree.num_nodes)
    np.add.at(total, tree.edge_parent, edge_prob)
    policy_node = np.zeros(tree.num_nodes, bool)
    policy_node[at] = True
    empty = at[total[at] <= 0]
    if empty.size:
        raise ValueError(f"the policy gives no probability to any legal action at {empty.size} node(s) "
                         f"(first: node {int(empty[0])}); it must put mass on legal actions.")
    edge_prob = edge_prob / np.where(total > 0, total, 1.0)[tree.edge_parent]
    # The opponent of the honest player minimises; the honest player maximises against anyone else.
    maximise = np.full(tree.num_nodes, bool(np.asarray(honest_sign(tree.task, player)) < 0))
    values = tree._backward(_leaf_values(np.nan_to_num(tree.margin)), maximise, policy_node, edge_prob)
    best_response = float(values[0])
    game = tree.value
    loss = game - best_response if float(honest_sign(tree.task, player)) > 0 else best_response - game
    return {"player": int(player), "best_response_value": best_response, "game_value": game,
            "exploitability": float(loss)}


# ----------------------------------------------------------------------- export
def exact_tree_to_graph(tree: ExactTree, max_nodes: int | None = None,
                        action_labels: Callable[[int], str] | None = None,
                        state_summary: Callable[[np.ndarray, Any], str] | None = None) -> nx.DiGraph:
    """The exact tree as a ``networkx.DiGraph`` whose nodes are tree node ids (a DAG: a state reached
    by several move orders is one node with several parents).

    Node attributes: ``summary`` (``state_summary(key_row, state)`` with the node's key and its
    batch-1 State, else "turn d, player p" / "turn d, game over, margin m"), ``player``,
    ``judge_value`` (tanh(margin / 2) at leaves, None elsewhere), ``visits`` (None), ``prior``
    (None), ``minimax_value``, ``margin`` (None off leaves), ``depth``, ``terminated``,
    ``best_action`` (None at leaves), ``on_principal_variation``, ``action`` (a move drawn into the
    node, the principal variation's where it is on it; None at the root) and ``label`` (its action label, "root" at the root). Edges:
    ``action``, ``label``, ``optimal`` (the child keeps the parent's value) and
    ``on_principal_variation``.

    With ``max_nodes`` the graph keeps the principal variation and then the lowest node ids (breadth
    first), so it stays connected; ``graph.graph`` holds ``truncated``, ``total_nodes``, ``kind``
    ("exact") and ``value`` (the root value)."""
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1 or None (got {max_nodes}).")
    pv = tree.principal_variation_nodes()
    pv_set = set(pv)
    if max_nodes is None or max_nodes >= tree.num_nodes:
        keep = np.arange(tree.num_nodes)
    else:
        chosen = pv[:max_nodes]
        rest = [n for n in range(tree.num_nodes) if n not in pv_set][: max_nodes - len(chosen)]
        keep = np.array(sorted(set(chosen) | set(rest)), np.int64)

    def label_of(action):
        if action is None:
            return "root"
        return str(action_labels(action)) if action_labels is not None else str(action)

    states = tree.node_states(keep) if state_summary is not None else None
    leaf = tree.leaf
    graph = nx.DiGraph()
    for i, n in enumerate(keep.tolist()):
        d = int(tree.depth[n])
        action = None if d == 0 else int(tree.path[n, d - 1])
        margin = float(tree.margin[n]) if leaf[n] else None
        if state_summary is not None:
            summary = str(state_summary(tree.key[n], jax.tree.map(lambda x, i=i: x[i:i + 1], states)))
        elif leaf[n]:
            summary = f"turn {d}, game over, margin {margin:+.2f}"
        else:
            summary = f"turn {d}, player {int(tree.current_player[n])}"
        graph.add_node(
            n,
            summary=summary,
            player=int(tree.current_player[n]),
            judge_value=math.tanh(margin / 2.0) if margin is not None else None,
            visits=None,
            prior=None,
            minimax_value=float(tree.values[n]),
            margin=margin,
            depth=d,
            terminated=bool(tree.terminated[n]),
            best_action=None if leaf[n] else int(tree.best_action[n]),
            on_principal_variation=n in pv_set,
            action=action,
            label=label_of(action),
        )
    pv_edges = set(zip(pv[:-1], pv[1:]))
    kept = np.zeros(tree.num_nodes, bool)
    kept[keep] = True
    for e in np.flatnonzero(kept[tree.edge_parent] & kept[tree.edge_child]):
        p, c, a = int(tree.edge_parent[e]), int(tree.edge_child[e]), int(tree.edge_action[e])
        if graph.has_edge(p, c):  # two moves from one state reach the same state: keep the lowest action
            continue
        on_pv = (p, c) in pv_edges
        graph.add_edge(p, c, action=a, label=label_of(a), optimal=bool(tree.values[c] == tree.values[p]),
                       on_principal_variation=on_pv)
    # A state reached by several move orders: label it by a move drawn into it (the principal
    # variation's first), not by the last move of whichever path found it first.
    for node in graph.nodes:
        into = sorted(graph.in_edges(node, data=True), key=lambda e: (not e[2]["on_principal_variation"], e[0]))
        if into:
            graph.nodes[node]["action"] = into[0][2]["action"]
            graph.nodes[node]["label"] = into[0][2]["label"]
    graph.graph.update(truncated=len(keep) < tree.num_nodes, total_nodes=tree.num_nodes, kind="exact",
                       value=tree.value)
    return graph
