"""Search trees as graphs: real mctx searches on 8x8 digits and a hand-built tree pinned exactly."""

import re

import jax
import jax.numpy as jnp
import mctx
import networkx as nx
import numpy as np
import pytest

from debate.core.debaters import mcts_debater
from debate.tasks.sparse_pixel.game import HONEST, SparsePixelTask
from debate.analysis.search_graph import graph_to_dot, search_tree_to_graph
from debate.tasks.sparse_pixel.game import pixel_action_labels
from debate.tasks.sparse_pixel.game import instances as pixel_instances

K = 3
SIMS = 16
BATCH = 2


# ------------------------------------------------------------------ real searches
# Gumbel with every legal pixel considered visits each of the 16 root pixels once at 16 simulations
# (a one-ply tree); PUCT (muzero) goes deep, down to the max_depth = K leaves it re-expands.
@pytest.fixture(scope="module", params=["gumbel", "muzero"])
def searched(request, digits, linear_judge):
    judge_fn, params = linear_judge
    task = SparsePixelTask(num_reveals=K, height=8, width=8, num_classes=10, max_candidates=16)
    images, labels = digits.images[:BATCH], digits.labels[:BATCH]
    state = task.init(pixel_instances(images, labels, (labels + 1) % 10), HONEST)
    debater = mcts_debater(task, judge_fn, num_simulations=SIMS, algorithm=request.param)
    out = jax.jit(debater.search)(params, jax.random.key(0), state)
    return request.param, out.search_tree, state, np.asarray(images)


def full_graph(tree, b, **kw):
    return search_tree_to_graph(tree, batch_index=b, max_nodes=10_000, **kw)


def test_root_visits_are_simulations_plus_one(searched):
    _, tree, _, _ = searched
    # mctx gives the root one visit when it is created and one more per simulation.
    assert tree.num_simulations == SIMS
    for b in range(BATCH):
        g = full_graph(tree, b)
        assert int(tree.node_visits[b, 0]) == SIMS + 1 == g.nodes[0]["visits"]
        assert sum(g.nodes[c]["visits"] for c in g.successors(0)) == g.nodes[0]["visits"] - 1
        assert sum(g.edges[0, c]["visits"] for c in g.successors(0)) == SIMS


def test_visits_add_up_except_at_the_depth_cutoff(searched):
    _, tree, _, _ = searched
    for b in range(BATCH):
        g = full_graph(tree, b)
        for n, a in g.nodes(data=True):
            kids = list(g.successors(n))
            if kids:
                assert sum(g.nodes[c]["visits"] for c in kids) == a["visits"] - 1
                assert all(g.edges[n, c]["visits"] == g.nodes[c]["visits"] for c in kids)
            elif a["visits"] > 1:
                # a leaf with several visits was re-expanded by simulations stopping at max_depth
                assert a["depth"] == K


def test_nodes_are_exactly_the_visited_slots_and_depth_is_path_length(searched):
    _, tree, _, _ = searched
    parents = np.asarray(tree.parents)
    for b in range(BATCH):
        g = full_graph(tree, b)
        visited = set(np.flatnonzero(np.asarray(tree.node_visits[b]) > 0).tolist())
        assert set(g.nodes) == visited
        assert g.graph == {"truncated": False, "total_nodes": len(visited)}
        assert nx.is_arborescence(g)
        for n, a in g.nodes(data=True):
            assert a["depth"] == nx.shortest_path_length(g, 0, n)
            hops, m = 0, n
            while parents[b, m] != mctx.Tree.NO_PARENT:
                m, hops = parents[b, m], hops + 1
            assert m == 0 and hops == a["depth"] <= K


def test_attributes_match_the_mctx_arrays(searched):
    _, tree, state, _ = searched
    for b in range(BATCH):
        root_player = int(state.current_player[b])
        g = full_graph(tree, b, root_player=root_player)
        assert g.nodes[0]["prior"] == 1.0 and g.nodes[0]["action"] is None and g.nodes[0]["reward"] == 0.0
        for p, n, e in g.edges(data=True):
            a = g.nodes[n]
            assert a["action"] == e["action"] == int(tree.action_from_parent[b, n])
            assert a["value"] == pytest.approx(float(tree.node_values[b, n]))
            prior = jax.nn.softmax(tree.children_prior_logits[b, p])[e["action"]]
            assert a["prior"] == pytest.approx(float(prior), abs=1e-6)
            assert a["reward"] == pytest.approx(float(tree.children_rewards[b, p, e["action"]]))
            # the edge's q is mctx's own q-value of that action at the parent
            q = tree.qvalues(jnp.full((BATCH,), p))[b, e["action"]]
            assert e["q"] == pytest.approx(float(q), abs=1e-6)
            assert a["player"] == (root_player + a["depth"]) % 2
            assert a["label"] == str(e["action"])


def test_chosen_line_follows_the_most_visited_child(searched):
    _, tree, _, _ = searched
    for b in range(BATCH):
        g = full_graph(tree, b)
        line, node = [0], 0
        while kids := sorted(g.successors(node), key=lambda c: g.nodes[c]["action"]):
            most = max(g.nodes[c]["visits"] for c in kids)
            node = next(c for c in kids if g.nodes[c]["visits"] == most)  # ties: lowest action
            line.append(node)
        assert {n for n, a in g.nodes(data=True) if a["on_chosen_line"]} == set(line)
        assert len(line) >= 2


@pytest.mark.parametrize("max_nodes", [1, 3, 6])
def test_max_nodes_keeps_a_connected_most_visited_subtree(searched, max_nodes):
    _, tree, _, _ = searched
    for b in range(BATCH):
        full = full_graph(tree, b)
        g = search_tree_to_graph(tree, batch_index=b, max_nodes=max_nodes)
        assert len(g) == min(max_nodes, len(full))
        assert g.graph == {"truncated": len(full) > max_nodes, "total_nodes": len(full)}
        assert nx.is_arborescence(g)
        # breadth first: a ply is only started once the previous one is complete
        depths = sorted(g.nodes[n]["depth"] for n in g)
        for d in range(depths[-1]):
            assert depths.count(d) == sum(1 for n in full if full.nodes[n]["depth"] == d)
        # within the last ply kept, no dropped node is more visited than a kept one
        last = depths[-1]
        kept = [full.nodes[n]["visits"] for n in g if full.nodes[n]["depth"] == last]
        dropped = [full.nodes[n]["visits"] for n in full if full.nodes[n]["depth"] == last and n not in g]
        assert not dropped or max(dropped) <= min(kept)
        # attributes are those of the full graph
        for n in g:
            assert g.nodes[n] == full.nodes[n]


@pytest.mark.parametrize("max_depth", [0, 1, 2])
def test_max_depth(searched, max_depth):
    _, tree, _, _ = searched
    for b in range(BATCH):
        full = full_graph(tree, b)
        g = search_tree_to_graph(tree, batch_index=b, max_depth=max_depth)
        assert set(g) == {n for n in full if full.nodes[n]["depth"] <= max_depth}
        assert g.graph["truncated"] == (len(g) < len(full))
        assert g.graph["total_nodes"] == len(full)


def test_tree_shapes_differ_by_algorithm(searched):
    algorithm, tree, _, _ = searched
    depth = max(a["depth"] for _, a in full_graph(tree, 0).nodes(data=True))
    if algorithm == "gumbel":
        assert depth == 1 and len(full_graph(tree, 0)) == SIMS + 1
    else:
        assert depth == K


# ------------------------------------------------------------------ DOT
_Q = r'"((?:[^"\\]|\\.)*)"'
NODE_LINE = re.compile(rf"^  n(\d+) \[label={_Q}(.*)\];$")
EDGE_LINE = re.compile(rf"^  n(\d+) -> n(\d+) \[label={_Q}(.*)\];$")
ATTR_LINE = re.compile(rf"^  ((graph|node|edge) \[.*\]|label={_Q});$")


def parse_dot(dot):
    """A minimal DOT reader for the subset graph_to_dot writes (no pydot/graphviz installed):
    returns ({node: (label, attrs)}, [(tail, head, label, attrs)])."""
    lines = dot.rstrip("\n").split("\n")
    assert re.fullmatch(r"digraph \w+ \{", lines[0]) and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := EDGE_LINE.match(line):
            edges.append((int(m[1]), int(m[2]), m[3], m[4]))
        elif m := NODE_LINE.match(line):
            assert int(m[1]) not in nodes
            nodes[int(m[1])] = (m[2], m[3])
        else:
            assert ATTR_LINE.match(line), line
    # every quote outside an escape is balanced
    assert re.sub(r"\\.", "", dot).count('"') % 2 == 0
    assert all(t in nodes and h in nodes for t, h, _, _ in edges)
    return nodes, edges


def test_dot_has_one_line_per_node_and_edge(searched):
    _, tree, _, _ = searched
    for max_nodes in (5, 200):
        g = search_tree_to_graph(tree, batch_index=1, max_nodes=max_nodes)
        nodes, edges = parse_dot(graph_to_dot(g))
        assert set(nodes) == set(g.nodes)
        assert {(t, h) for t, h, _, _ in edges} == set(g.edges)
        for n, (label, attrs) in nodes.items():
            a = g.nodes[n]
            assert label.split("\\n")[1] == f"N={a['visits']}  V={a['value']:.2f}"
            assert ("filled" in attrs) == a["on_chosen_line"]
        assert ("showing" in graph_to_dot(g)) == g.graph["truncated"]


def test_pixel_labels_point_at_nonzero_pixels(searched):
    _, tree, state, images = searched
    for b in range(BATCH):
        labels = pixel_action_labels(np.asarray(state.candidates[b]), width=8)
        g = full_graph(tree, b, action_labels=labels)
        for n, a in g.nodes(data=True):
            if a["action"] is None:
                assert a["label"] == "root"
                continue
            row, col = map(int, re.fullmatch(r"\((\d+), (\d+)\)", a["label"]).groups())
            assert images[b][row, col] > 0
            assert row * 8 + col == int(state.candidates[b, a["action"]])


def test_pixel_labels_for_padding():
    labels = pixel_action_labels(np.array([9, 0, 63, -1]), width=8)
    assert [labels(a) for a in range(5)] == ["(1, 1)", "(0, 0)", "(7, 7)", "-", "-"]
    with pytest.raises(ValueError, match="1-D"):
        pixel_action_labels(np.zeros((2, 3)), 8)


# ------------------------------------------------------------------ a hand-built tree
def tiny_tree():
    """Three simulations, two actions:

        0 (root, 4 visits, value 0.1)
        |- a0 -> 1 (2 visits, value -0.5, reward 0.0, discount -1)
        |         `- a1 -> 3 (1 visit, value 0.25, reward 1.0, discount 0: the game ended)
        `- a1 -> 2 (1 visit, value 0.3, reward 0.2, discount -1)

    Root prior logits [log 3, 0] -> softmax [0.75, 0.25]; node 1's [0, 0] -> [0.5, 0.5]."""
    N, A = 4, 2
    f = lambda *v: jnp.asarray([v], jnp.float32)  # noqa: E731
    children_index = -np.ones((1, N, A), np.int32)
    children_index[0, 0] = [1, 2]
    children_index[0, 1, 1] = 3
    children_visits = np.zeros((1, N, A), np.int32)
    children_visits[0, 0] = [2, 1]
    children_visits[0, 1, 1] = 1
    logits = np.zeros((1, N, A), np.float32)
    logits[0, 0] = [np.log(3.0), 0.0]
    rewards = np.zeros((1, N, A), np.float32)
    rewards[0, 0, 1] = 0.2
    rewards[0, 1, 1] = 1.0
    discounts = -np.ones((1, N, A), np.float32)
    discounts[0, 1, 1] = 0.0
    child_values = np.zeros((1, N, A), np.float32)
    child_values[0, 0] = [-0.5, 0.3]
    child_values[0, 1, 1] = 0.25
    return mctx.Tree(
        node_visits=jnp.asarray([[4, 2, 1, 1]], jnp.int32),
        raw_values=f(0.0, 0.0, 0.0, 0.0),
        node_values=f(0.1, -0.5, 0.3, 0.25),
        parents=jnp.asarray([[-1, 0, 0, 1]], jnp.int32),
        action_from_parent=jnp.asarray([[-1, 0, 1, 1]], jnp.int32),
        children_index=jnp.asarray(children_index),
        children_prior_logits=jnp.asarray(logits),
        children_visits=jnp.asarray(children_visits),
        children_rewards=jnp.asarray(rewards),
        children_discounts=jnp.asarray(discounts),
        children_values=jnp.asarray(child_values),
        embeddings=jnp.zeros((1, N)),
        root_invalid_actions=jnp.zeros((1, A)),
        extra_data=None,
    )


def test_hand_built_tree_attributes_exactly():
    tree = tiny_tree()
    g = search_tree_to_graph(tree, root_player=1, action_labels=lambda a: "LR"[a])
    assert g.graph == {"truncated": False, "total_nodes": 4}
    expected = {
        0: dict(visits=4, value=0.1, prior=1.0, action=None, label="root", depth=0, player=1, reward=0.0,
                on_chosen_line=True, minimax_value=None, judge_value=None, summary="root"),
        1: dict(visits=2, value=-0.5, prior=0.75, action=0, label="L", depth=1, player=0, reward=0.0,
                on_chosen_line=True, minimax_value=None, judge_value=None, summary="L"),
        2: dict(visits=1, value=0.3, prior=0.25, action=1, label="R", depth=1, player=0, reward=0.2,
                on_chosen_line=False, minimax_value=None, judge_value=None, summary="R"),
        3: dict(visits=1, value=0.25, prior=0.5, action=1, label="R", depth=2, player=1, reward=1.0,
                on_chosen_line=True, minimax_value=None, judge_value=None, summary="R"),
    }
    assert set(g.nodes) == set(expected)
    for n, want in expected.items():
        assert g.nodes[n] == pytest.approx(want)
    # q = reward + discount * child value: 0 + (-1)(-0.5) = 0.5; 0.2 + (-1)(0.3) = -0.1; 1.0 + 0 * 0.25 = 1.0
    assert dict(g.edges[0, 1]) == pytest.approx({"action": 0, "visits": 2, "q": 0.5})
    assert dict(g.edges[0, 2]) == pytest.approx({"action": 1, "visits": 1, "q": -0.1})
    assert dict(g.edges[1, 3]) == pytest.approx({"action": 1, "visits": 1, "q": 1.0})
    q_root = np.asarray(tree.qvalues(jnp.zeros((1,), jnp.int32)))[0]
    np.testing.assert_allclose(q_root, [0.5, -0.1], rtol=1e-6)


def test_hand_built_tree_truncation_and_player_default():
    tree = tiny_tree()
    g = search_tree_to_graph(tree, max_nodes=2)
    # the more visited child (node 1, 2 visits) is kept before node 2
    assert set(g) == {0, 1} and g.graph == {"truncated": True, "total_nodes": 4}
    assert all(a["player"] is None for _, a in g.nodes(data=True))
    g = search_tree_to_graph(tree, max_depth=1)
    assert set(g) == {0, 1, 2} and g.graph["truncated"]
    g = search_tree_to_graph(tree, max_depth=0)
    assert set(g) == {0} and g.graph == {"truncated": True, "total_nodes": 4}


def test_hand_built_tree_dot_escapes_quotes():
    g = search_tree_to_graph(tiny_tree(), action_labels=lambda a: ['say "hi"', "back\\slash"][a])
    dot = graph_to_dot(g)
    nodes, edges = parse_dot(dot)
    assert len(nodes) == 4 and len(edges) == 3
    assert nodes[1][0] == 'say \\"hi\\"\\nN=2  V=-0.50\\nP=0.75'
    assert nodes[2][0].startswith("back\\\\slash\\n")
    assert nodes[3][0] == 'back\\\\slash\\nN=1  V=0.25\\nP=0.50'
    chosen_edges = {(t, h) for t, h, _, attrs in edges if "penwidth" in attrs}
    assert chosen_edges == {(0, 1), (1, 3)}
    assert [label for t, h, label, _ in edges if (t, h) == (0, 2)] == ["q=-0.10"]


def test_bad_arguments_are_refused():
    tree = tiny_tree()
    with pytest.raises(ValueError, match="batch_index must be in"):
        search_tree_to_graph(tree, batch_index=1)
    with pytest.raises(ValueError, match="max_nodes must be at least 1"):
        search_tree_to_graph(tree, max_nodes=0)
    with pytest.raises(ValueError, match="max_depth"):
        search_tree_to_graph(tree, max_depth=-1)
    with pytest.raises(ValueError, match="root_player"):
        search_tree_to_graph(tree, root_player=2)
