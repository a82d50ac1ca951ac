"""Search trees as networkx graphs: what the app's game-tree page draws and exact solvers compare to.

``search_tree_to_graph`` reads one batch element of an ``mctx.Tree`` (``Debater.search(...)
.search_tree``) into a ``networkx.DiGraph`` whose nodes are mctx node indices. Facts about the mctx
layout that this module relies on (mctx 0.0.x, ``mctx/_src/search.py``):

- The tree has ``num_simulations + 1`` node slots. The root is slot 0 and starts with one visit;
  every simulation adds one visit to the root, so the root ends with ``num_simulations + 1``.
- A node first expanded on simulation ``i`` gets slot ``i + 1``. When a simulation stops at
  ``max_depth`` on an already expanded node, that node is expanded *again* (its visit count grows,
  its value is reset to the fresh leaf value) and slot ``i + 1`` stays empty, so slots with zero
  visits can sit between used ones. Only slots with visits (reachable through ``children_index``)
  are nodes here.
- ``node_visits[n] == 1 + children_visits[n].sum()`` for every node except those re-expanded at
  ``max_depth``, which have no children and count one visit per expansion.
- ``node_values`` are from the point of view of the player to move at the node;
  ``children_rewards`` belong to the player who moved, and the q-value of an action from the
  parent's view is ``reward + discount * children_values`` (``Tree.qvalues``; ``discount = -1``
  between plies of a debate, 0 after the game ends).

``search_view_graph`` is what the app draws: the line the search actually plays highlighted
(``chosen_line``: the picked root move, then mctx's own final-move rule with its tie-break,
``chosen_child`` over ``search_tie_scores``), the node cap spent on that line first and then breadth
first, and every value from one fixed player's view.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import mctx
import networkx as nx
import numpy as np

CHOSEN_COLOR = "#c0392b"
CHOSEN_FILL = "#fadbd8"


def _batch_row(array, batch_index: int) -> np.ndarray:
    return np.asarray(array[batch_index])


def search_tree_to_graph(
    tree: mctx.Tree,
    batch_index: int = 0,
    max_depth: int | None = None,
    max_nodes: int = 200,
    action_labels: Callable[[int], str] | None = None,
    root_player: int | None = None,
) -> nx.DiGraph:
    """The expanded part of one batch element's search tree as a ``networkx.DiGraph``.

    Nodes are mctx node indices with attributes ``visits``, ``value`` (mctx ``node_values``, for the
    player to move there), ``minimax_value`` and ``judge_value`` (None: a search does not know them), ``summary`` (the
    same text as ``label``), ``prior`` (the parent's softmax prior for the action leading here, 1.0 at
    the root), ``action`` (None at the root), ``label``, ``depth``, ``player`` (alternating from
    ``root_player``, or None), ``reward`` (of the action leading here, 0.0 at the root) and
    ``on_chosen_line`` (on the path that follows the most visited child from the root, ties to the
    lowest action). Edges carry ``action``, ``visits`` and ``q`` (``reward + discount * child
    value``, as ``mctx.Tree.qvalues``).

    Nodes are added breadth first from the root, at most ``max_depth`` plies deep and at most
    ``max_nodes`` in all; within a ply the most visited nodes come first, so when the cap bites it
    drops the least visited ones and the graph stays connected. ``graph.graph`` holds
    ``{"truncated": bool, "total_nodes": int}``: whether any expanded node was left out, and how
    many expanded nodes the tree has.
    """
    batch_size = np.asarray(tree.node_visits).shape[0]
    if not 0 <= batch_index < batch_size:
        raise ValueError(f"batch_index must be in [0, {batch_size}) for this tree (got {batch_index}).")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1 (got {max_nodes}).")
    if max_depth is not None and max_depth < 0:
        raise ValueError(f"max_depth must be 0 or more, or None (got {max_depth}).")
    if root_player is not None and root_player not in (0, 1):
        raise ValueError(f"root_player must be 0, 1 or None (got {root_player}).")

    visits = _batch_row(tree.node_visits, batch_index)
    values = _batch_row(tree.node_values, batch_index)
    children = _batch_row(tree.children_index, batch_index)
    child_visits = _batch_row(tree.children_visits, batch_index)
    logits = _batch_row(tree.children_prior_logits, batch_index)
    rewards = _batch_row(tree.children_rewards, batch_index)
    discounts = _batch_row(tree.children_discounts, batch_index)
    child_values = _batch_row(tree.children_values, batch_index)
    root = mctx.Tree.ROOT_INDEX

    def label_of(action):
        if action is None:
            return "root"
        return str(action_labels(action)) if action_labels is not None else str(action)

    def expanded(node):
        actions = np.flatnonzero(children[node] != mctx.Tree.UNVISITED)
        return [(int(a), int(children[node, a])) for a in actions]

    def priors(node):
        row = logits[node].astype(np.float64)
        e = np.exp(row - row.max())
        return e / e.sum()

    chosen = [root]
    while kids := expanded(chosen[-1]):
        # max() keeps the first of equals, i.e. the lowest action.
        chosen.append(max(kids, key=lambda ak: int(child_visits[chosen[-1], ak[0]]))[1])
    chosen = set(chosen)

    graph = nx.DiGraph()

    def add_node(node, parent, action, depth):
        prior = 1.0 if parent is None else float(priors(parent)[action])
        reward = 0.0 if parent is None else float(rewards[parent, action])
        graph.add_node(
            node,
            visits=int(visits[node]),
            value=float(values[node]),
            prior=prior,
            action=action,
            label=label_of(action),
            depth=depth,
            player=None if root_player is None else (root_player + depth) % 2,
            reward=reward,
            on_chosen_line=node in chosen,
            # shared with exact trees (exact_tree_to_graph): a search tree knows no minimax value
            minimax_value=None,
            judge_value=None,
            summary=label_of(action),
        )
        if parent is not None:
            graph.add_edge(
                parent,
                node,
                action=action,
                visits=int(child_visits[parent, action]),
                q=float(rewards[parent, action] + discounts[parent, action] * child_values[parent, action]),
            )

    add_node(root, None, None, 0)
    frontier, depth = [root], 0
    while frontier and len(graph) < max_nodes and (max_depth is None or depth < max_depth):
        depth += 1
        level = [(int(child_visits[p, a]), i, a, p, c) for i, p in enumerate(frontier) for a, c in expanded(p)]
        level.sort(key=lambda t: (-t[0], t[1], t[2]))
        frontier = []
        for _, _, action, parent, node in level[: max_nodes - len(graph)]:
            add_node(node, parent, action, depth)
            frontier.append(node)

    total = 0
    stack = [root]
    while stack:
        total += 1
        stack.extend(c for _, c in expanded(stack.pop()))
    graph.graph.update(truncated=len(graph) < total, total_nodes=total)
    return graph


# ------------------------------------------------------------------ the move a search plays
def chosen_child(visits, scores=None) -> int | None:
    """The action a search plays from one node's child visit counts ``visits`` [A]: the most
    visited; among equally visited ones the highest ``scores`` [A] (None: no score), then the lowest
    action (``argmax`` keeps the first of equals). None when no child was visited.

    With ``scores = search_tie_scores(...)[node]`` this is mctx's own final-move rule: Gumbel MuZero
    plays the highest ``gumbel + logits + sigma(completed q)`` among its most visited root actions,
    and the app's PUCT debater (``mcts-muzero``) plays the most visited legal action, ties to the
    lowest."""
    visits = np.asarray(visits)
    if visits.size == 0 or visits.max() <= 0:
        return None
    top = visits == visits.max()
    if scores is None:
        return int(np.flatnonzero(top)[0])
    scores = np.asarray(scores)
    best = scores[top].max()
    return int(np.flatnonzero(top & (scores == best))[0])


def chosen_line(children_index, children_visits, scores=None, root_action: int | None = None,
                root: int = 0) -> list[int]:
    """Node indices of the line a search plays, from ``root`` down to a node without visited
    children: ``root_action`` first (the move the search actually picked, e.g.
    ``PolicyOutput.action``; None: by the rule), then ``chosen_child`` of each node (arrays [N, A]
    of one batch element: mctx ``children_index``, ``children_visits``, ``search_tie_scores``)."""
    children_index, children_visits = np.asarray(children_index), np.asarray(children_visits)
    line, node = [int(root)], int(root)
    action = root_action if root_action is not None else chosen_child(
        children_visits[node], None if scores is None else scores[node])
    while action is not None and len(line) <= children_index.shape[0]:
        child = int(children_index[node, int(action)])
        if child == mctx.Tree.UNVISITED:
            break
        line.append(child)
        node = child
        action = chosen_child(children_visits[node], None if scores is None else scores[node])
    return line


def search_tie_scores(tree: mctx.Tree, batch_index: int = 0, algorithm: str = "gumbel",
                      qtransform=mctx.qtransform_completed_by_mix_value) -> np.ndarray | None:
    """[N, A] float32: what breaks ties among a node's most visited children in the search's own
    final-move rule, for ``chosen_child``. Gumbel (``mctx.gumbel_muzero_policy``): ``max(-1e9,
    gumbel + logits - max(logits) + qtransform(tree, node))`` exactly as mctx scores its root
    (``seq_halving.score_considered``), the root's Gumbel noise from ``tree.extra_data`` and none
    below it. PUCT (``"muzero"``): None (ties go to the lowest action)."""
    if algorithm != "gumbel":
        return None
    one = jax.tree.map(lambda x: jnp.asarray(x[batch_index]), tree)
    num_nodes = int(np.asarray(one.node_visits).shape[0])
    q = np.asarray(jax.vmap(qtransform, in_axes=[None, 0])(one, jnp.arange(num_nodes)), np.float32)
    logits = np.asarray(one.children_prior_logits, np.float32)
    logits = logits - logits.max(axis=-1, keepdims=True)
    gumbel = np.zeros_like(logits)
    root_gumbel = getattr(one.extra_data, "root_gumbel", None)
    if root_gumbel is not None:
        gumbel[mctx.Tree.ROOT_INDEX] = np.asarray(root_gumbel, np.float32)
    return np.maximum(np.float32(-1e9), gumbel + logits + q)


# ------------------------------------------------------------------ the app's view of a search
def _expanded_depths(children_index: np.ndarray, root: int) -> dict[int, int]:
    depths, stack = {root: 0}, [root]
    while stack:
        node = stack.pop()
        for child in children_index[node][children_index[node] != mctx.Tree.UNVISITED]:
            depths[int(child)] = depths[node] + 1
            stack.append(int(child))
    return depths


def search_view_graph(
    tree: mctx.Tree,
    batch_index: int = 0,
    max_depth: int | None = None,
    max_nodes: int = 200,
    action_labels: Callable[[int], str] | None = None,
    root_player: int = 0,
    root_action: int | None = None,
    tie_scores: np.ndarray | None = None,
    view_player: int = 0,
) -> nx.DiGraph:
    """The search tree as the app draws it: ``search_tree_to_graph``'s nodes and attributes, with
    three differences.

    - The highlighted line (``on_chosen_line``) is ``chosen_line``: the move the search actually
      picked (``root_action``), then at each node the move its own final-move rule picks
      (``tie_scores``, see ``search_tie_scores``).
    - The node cap is spent on that line first (down to ``max_depth``), then breadth first, one
      depth at a time, on the most visited children of drawn nodes (ties: lower action), so a larger
      depth limit always draws deeper.
    - Values are from ``view_player``'s view throughout (+1: that player wins). Edge ``q`` is mctx's
      q-value of the move, turned to that view (``q_mover``: mctx's own, for the player who moved);
      node ``value`` is the same estimate of the position (the judge's verdict on a move that ends
      the game, plus the node's backed-up value otherwise: equal to the ``q`` of the edge into it);
      ``value_to_move`` is mctx's ``node_values`` (for the player to move there).

    ``graph.graph``: ``truncated``, ``total_nodes`` (expanded nodes in the tree), ``within_depth``
    (expanded nodes within ``max_depth``), ``tree_depth`` (deepest expanded node),
    ``cap_filled_at_depth`` (the first depth some of whose nodes the cap left out; None when the cap
    did not bind), ``max_nodes``, ``max_depth`` and ``view_player``."""
    if root_player not in (0, 1):
        raise ValueError(f"root_player must be 0 or 1 (got {root_player}).")
    slots = int(np.asarray(tree.node_visits).shape[1])
    full = search_tree_to_graph(tree, batch_index, max_depth=max_depth, max_nodes=slots,
                                action_labels=action_labels, root_player=root_player)
    children = _batch_row(tree.children_index, batch_index)
    root = mctx.Tree.ROOT_INDEX
    depths = _expanded_depths(children, root)
    line = [n for n in chosen_line(children, _batch_row(tree.children_visits, batch_index), tie_scores,
                                   root_action, root) if n in full][:max_nodes]
    keep, filled_at = set(line), None
    deepest = max((d for _, d in full.nodes(data="depth")), default=0)
    for depth in range(1, deepest + 1):
        level = sorted((c for p in keep if full.nodes[p]["depth"] == depth - 1 for c in full.successors(p)
                        if c not in keep), key=lambda c: (-full.nodes[c]["visits"], full.nodes[c]["action"], c))
        room = max(0, max_nodes - len(keep))
        if filled_at is None and len(level) > room:  # every shallower level is complete: nodes of this one are left out
            filled_at = depth
        keep.update(level[:room])
    graph = full.subgraph(keep).copy()

    rewards = _batch_row(tree.children_rewards, batch_index)
    discounts = _batch_row(tree.children_discounts, batch_index)

    def sign(player):
        return 1.0 if player == view_player else -1.0

    on_line = set(line)
    for node, a in graph.nodes(data=True):
        a["on_chosen_line"] = node in on_line
        a["value_to_move"] = a["value"]
        if node == root:
            a["value"] = sign(a["player"]) * a["value_to_move"]
    for parent, node, e in graph.edges(data=True):
        mover, child = graph.nodes[parent], graph.nodes[node]
        e["q_mover"] = e["q"]
        e["q"] = sign(mover["player"]) * e["q_mover"]
        action = e["action"]
        value = sign(mover["player"]) * float(rewards[parent, action])
        if float(discounts[parent, action]) != 0.0:  # the game goes on: add the position's own value
            value += sign(child["player"]) * child["value_to_move"]
        child["value"] = value
    graph.graph.update(truncated=len(graph) < len(depths), total_nodes=len(depths), within_depth=len(full),
                       tree_depth=max(depths.values()), cap_filled_at_depth=filled_at, max_nodes=int(max_nodes),
                       max_depth=max_depth, view_player=view_player)
    return graph


def _dot_escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def graph_to_dot(graph: nx.DiGraph) -> str:
    """A Graphviz DOT string for ``st.graphviz_chart`` (rendered in the browser, no graphviz binary).

    One line per node (``nINDEX [label=...]``: action label, visits N, value V with 2 decimals,
    prior P) and one per edge (labelled with its q-value); the chosen line is drawn with filled
    nodes and bold red edges. The tree grows left to right (``rankdir=LR``), so a root with many
    children stacks them in a column and the text stays readable. A truncated graph says so in the
    graph label.

    Exact trees (``exact_tree_to_graph``) draw the same way: V is the ``minimax_value`` (a node has no
    ``value``), N and P are left out where ``visits``/``prior`` are None, the node's ``summary`` is
    added when it differs from its label, edges are labelled with their action label, and the
    principal variation is the chosen line."""
    lines = [
        "digraph search_tree {",
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=10, nodesep=0.12, ranksep=0.6];',
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9, color="#7f8c8d"];',
    ]
    if graph.graph.get("truncated"):
        note = f"showing {len(graph)} of {graph.graph.get('total_nodes', '?')} expanded nodes"
        lines.append(f'  label="{_dot_escape(note)}";')

    def chosen(a):
        return bool(a.get("on_chosen_line", a.get("on_principal_variation", False)))

    for node, a in graph.nodes(data=True):
        value = a.get("value")
        if value is None:
            value = a.get("minimax_value")
        numbers = []
        if a.get("visits") is not None:
            numbers.append(f"N={a['visits']}")
        if value is not None:
            numbers.append(f"V={value:.2f}")
        rows = [_dot_escape(a.get("label", node))]
        summary = a.get("summary")
        if summary is not None and summary != a.get("label"):
            rows.append(_dot_escape(summary))
        if numbers:
            rows.append("  ".join(numbers))
        if a.get("prior") is not None:
            rows.append(f"P={a['prior']:.2f}")
        text = "\\n".join(rows)
        style = ""
        if chosen(a):
            style = f', style="rounded,filled,bold", fillcolor="{CHOSEN_FILL}", color="{CHOSEN_COLOR}"'
        lines.append(f'  n{node} [label="{text}"{style}];')
    for parent, node, e in graph.edges(data=True):
        on_line = e.get("on_principal_variation", chosen(graph.nodes[parent]) and chosen(graph.nodes[node]))
        style = f', color="{CHOSEN_COLOR}", fontcolor="{CHOSEN_COLOR}", penwidth=2.5' if on_line else ""
        label = f"q={e['q']:.2f}" if e.get("q") is not None else _dot_escape(e.get("label", e.get("action", "")))
        lines.append(f'  n{parent} -> n{node} [label="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
