"""The app's Game-tree page, driven headlessly with streamlit's AppTest, and the pure functions
behind it (the highlighted line, one value convention, the node cap and depth limit, the exact tree's
summary and refusal)."""

import re

import jax.numpy as jnp
import mctx
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app import live
from debate.analysis.exact import TreeTooLargeError
from debate.analysis.search_graph import chosen_child, chosen_line, search_tree_to_graph, search_view_graph
from debate.records.storage import Store

TREE = "../app/pages/game_tree.py"  # relative to this file (AppTest.from_file)
TIMEOUT = 120
RED_EDGE = re.compile(r'^\s*n(\d+) -> n(\d+) \[label="[^"]*", color="#c0392b"', flags=re.M)
NODE = re.compile(r'^\s*n(\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$', flags=re.M)


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    """A tiny judge checkpoint (30 steps), trained once for this module, so no test trains the default judge."""
    directory = tmp_path_factory.mktemp("app-judge")
    live.train_default_judge(directory, steps=30)
    return directory


@pytest.fixture
def db_url(tmp_path, judge_dir, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DEBATE_DB", url)
    monkeypatch.setenv(live.APP_JUDGE_ENV, str(judge_dir))
    st.cache_resource.clear()
    yield url
    st.cache_resource.clear()


def stored_game(judge_dir, db_url, judge_name=None):
    judge = live.load_app_judge(str(judge_dir))
    task = judge.make_task(3)
    game = live.LiveDebate(task, judge.judge_fn, judge.params, judge.load_images().images[1], 1, liar_claim=7,
                           human_role=None, ai_debater=live.cached_mcts_debater(task, judge.judge_fn, 8),
                           instance_id="sklearn-digits:1", judge_name=judge_name or judge.name)
    while not game.finished:
        game.ai_move()
    Store(db_url).add_transcript(game.to_transcript())
    return game


def dot_node_count(spec: str) -> int:
    return len(re.findall(r"^\s*n\d+ \[label=", spec, flags=re.M))


def dot_nodes(spec: str) -> dict[int, tuple[str, str]]:
    """{node: (label text, style attributes)} of a DOT string from graph_to_dot."""
    return {int(n): (label, rest) for n, label, rest in NODE.findall(spec)}


def red_edges(spec: str) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in RED_EDGE.findall(spec)}


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


# ------------------------------------------------------------------ pure functions on constructed trees
def test_chosen_child_breaks_visit_ties_like_the_search():
    visits = np.array([3, 5, 5, 0])
    assert chosen_child(visits) == 1  # PUCT: most visited, ties to the lowest action
    assert chosen_child(visits, np.array([9.0, 0.1, 0.2, 99.0])) == 2  # Gumbel: the tie goes to the higher score
    assert chosen_child(visits, np.array([9.0, 0.7, 0.7, 99.0])) == 1  # equal scores too: the lowest action
    assert chosen_child(np.array([1, 4, 2]), np.array([5.0, -5.0, 5.0])) == 1  # no tie: visits decide, not scores
    assert chosen_child(np.zeros(3, int)) is None


def five_node_tree() -> mctx.Tree:
    """Root 0 (the liar to move, value 0.2 for the liar) with two children visited twice each (a tie):
    action 0 -> node 1 (honest to move, -0.4), whose action 1 ends the game -> node 3 (the honest
    player's reward +1, discount 0); action 1 -> node 2 (honest to move, 0.3), whose action 0 -> node 4
    (the liar to move, 0.1)."""
    n, a = 5, 2
    children_index = np.full((1, n, a), -1, np.int32)
    children_index[0, 0] = [1, 2]
    children_index[0, 1, 1] = 3
    children_index[0, 2, 0] = 4
    visits = np.zeros((1, n, a), np.int32)
    visits[0, 0] = [2, 2]
    visits[0, 1, 1] = 1
    visits[0, 2, 0] = 1
    node_values = np.array([[0.2, -0.4, 0.3, 0.0, 0.1]], np.float32)
    child_values = np.zeros((1, n, a), np.float32)
    for p, k in ((0, 0), (0, 1), (1, 1), (2, 0)):
        child_values[0, p, k] = node_values[0, children_index[0, p, k]]
    rewards = np.zeros((1, n, a), np.float32)
    rewards[0, 1, 1] = 1.0
    discounts = -np.ones((1, n, a), np.float32)
    discounts[0, 1, 1] = 0.0
    return mctx.Tree(
        node_visits=jnp.asarray([[5, 2, 2, 1, 1]], jnp.int32), raw_values=jnp.zeros((1, n)),
        node_values=jnp.asarray(node_values), parents=jnp.asarray([[-1, 0, 0, 1, 2]], jnp.int32),
        action_from_parent=jnp.asarray([[-1, 0, 1, 1, 0]], jnp.int32), children_index=jnp.asarray(children_index),
        children_prior_logits=jnp.zeros((1, n, a)), children_visits=jnp.asarray(visits),
        children_rewards=jnp.asarray(rewards), children_discounts=jnp.asarray(discounts),
        children_values=jnp.asarray(child_values), embeddings=jnp.zeros((1, n)),
        root_invalid_actions=jnp.zeros((1, a)), extra_data=None)


def test_chosen_line_follows_the_picked_move_through_a_visit_tie():
    tree = five_node_tree()
    index, visits = np.asarray(tree.children_index[0]), np.asarray(tree.children_visits[0])
    assert chosen_line(index, visits) == [0, 1, 3]  # the old "most visited" line: the tie goes to action 0
    assert chosen_line(index, visits, root_action=1) == [0, 2, 4]  # the move the search picked
    scores = np.zeros((5, 2), np.float32)
    scores[0] = [0.0, 1.0]
    assert chosen_line(index, visits, scores) == [0, 2, 4]  # the rule's own tie-break picks it too
    graph = search_view_graph(tree, root_player=1, root_action=1)
    assert {n for n, a in graph.nodes(data=True) if a["on_chosen_line"]} == {0, 2, 4}
    assert graph.edges[0, 2]["action"] == 1


def test_values_are_from_the_honest_players_view_on_boxes_and_edges():
    graph = search_view_graph(five_node_tree(), root_player=1, root_action=1, view_player=0)
    v = {n: a["value"] for n, a in graph.nodes(data=True)}
    q = {(p, c): e["q"] for p, c, e in graph.edges(data=True)}
    # the liar's 0.2 at the root is -0.2 for the honest player; node 4's 0.1 (the liar to move) is -0.1
    assert v == pytest.approx({0: -0.2, 1: -0.4, 2: 0.3, 3: 1.0, 4: -0.1})
    # mctx's q belongs to the mover (the liar at the root): 0 + (-1)(-0.4) = 0.4 for the liar, -0.4 for honest
    assert q == pytest.approx({(0, 1): -0.4, (0, 2): 0.3, (1, 3): 1.0, (2, 4): -0.1})
    assert graph.edges[0, 1]["q_mover"] == pytest.approx(0.4) and graph.nodes[0]["value_to_move"] == pytest.approx(0.2)
    for p, c in q:  # a box's V and the q of the edge into it: one convention, one number
        assert np.sign(v[c]) == np.sign(q[p, c]) and v[c] == pytest.approx(q[p, c])
    liar = search_view_graph(five_node_tree(), root_player=1, root_action=1, view_player=1)
    assert all(liar.nodes[n]["value"] == pytest.approx(-v[n]) for n in v)


def test_node_cap_goes_to_the_chosen_line_first_then_breadth_first():
    tree = five_node_tree()
    graph = search_view_graph(tree, max_depth=2, max_nodes=3, root_player=1, root_action=1)
    assert set(graph) == {0, 2, 4}  # the chosen line to the depth limit, then nothing: the cap is full
    assert graph.graph["cap_filled_at_depth"] == 1 and graph.graph["within_depth"] == 5
    notes = live.search_drawing_notes(graph)
    assert notes == ["The node cap (3) was filled at depth 1, so 2 of the 5 nodes within the depth limit are not "
                     "drawn and deeper levels are drawn only along the highlighted line: raise the cap to see them."]
    graph = search_view_graph(tree, max_depth=2, max_nodes=4, root_player=1, root_action=1)
    assert set(graph) == {0, 1, 2, 4} and graph.graph["cap_filled_at_depth"] == 2
    assert live.search_drawing_notes(graph)[0].startswith("The node cap (4) was filled at depth 2, so 1 of the 5 nodes")
    assert "deeper levels" not in live.search_drawing_notes(graph)[0]
    # the depth limit: one more ply draws more nodes while the cap is not binding
    counts = [len(search_view_graph(tree, max_depth=d, max_nodes=10, root_player=1)) for d in (0, 1, 2, 3)]
    assert counts == [1, 3, 5, 5]
    shallow = search_view_graph(tree, max_depth=1, max_nodes=10, root_player=1)
    assert shallow.graph["cap_filled_at_depth"] is None
    assert live.search_drawing_notes(shallow) == ["The search went 2 plies deep: the depth limit (1) leaves 2 deeper "
                                                  "nodes out."]
    deep = search_view_graph(tree, max_depth=3, max_nodes=10, root_player=1)
    assert live.search_drawing_notes(deep) == ["The search tree is only 2 plies deep, so a depth limit above 2 draws "
                                               "nothing more (more simulations search deeper)."]


def test_exact_refusal_speaks_plain_words():
    text = live.exact_refusal(TreeTooLargeError("x", states=31_931, limit=20_000), reveals_left=4)
    assert text.startswith("This position is too big to solve exactly under the current limit: the remaining 4 "
                           "reveals can be played in so many orders that its game tree can have up to 31,931 "
                           "distinct positions, and the limit is 20,000.")
    assert "Raise the limit below to at least 31,931" in text and "max_nodes" not in text
    huge = live.exact_refusal(TreeTooLargeError("x", states=300_000, limit=20_000), reveals_left=5, max_limit=200_000)
    assert "more than the largest limit offered here (200,000): pick a later move" in huge and "Raise" not in huge


# ------------------------------------------------------------------ the page
def test_game_tree_of_a_stored_transcript(judge_dir, db_url):
    game = stored_game(judge_dir, db_url)
    at = AppTest.from_file(TREE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    spec = charts[0].proto.spec
    assert spec.startswith("digraph search_tree") and 'n0 [label="root' in spec
    assert "N=9" in spec  # the root of an 8-simulation search
    table = at.dataframe[0].value
    assert list(table.columns)[:4] == ["action", "pixel", "visits", "q"]
    assert table["visits"].is_monotonic_decreasing and table["visits"].sum() == 8
    snap = at.session_state["tree_snapshot"][1]
    # Gumbel with 8 simulations visits 8 root pixels once each: a tie, and the highlight is the move it
    # chose (not the lowest action among the most visited), the rule reproducing the search's own choice
    tree = snap.output.search_tree
    index, visits = np.asarray(tree.children_index[0]), np.asarray(tree.children_visits[0])
    assert (visits[0] == visits[0].max()).sum() == 8
    child = int(index[0, snap.action])
    assert chosen_line(index, visits, snap.tie_scores())[1] == child == snap.chosen_line()[1]
    assert red_edges(spec) == {(0, child)}
    assert dot_nodes(spec)[child][0].startswith(snap.action_label(snap.action))
    assert table.loc[table["chosen"], "pixel"].tolist() == [snap.action_label(snap.action)]
    legend = captions(at)[0]
    assert "All values are from the honest player's view: +1 = the honest player wins" in legend
    assert f"Red: the move the search chose, **{snap.action_label(snap.action)}**" in legend
    # one convention: the edge q into every box is that box's V, in the table too
    labels = dot_nodes(spec)
    edges = re.findall(r'^\s*n(\d+) -> n(\d+) \[label="q=(-?[\d.]+)"', spec, flags=re.M)
    assert len(edges) == 8
    for _, node, q in edges:
        v = float(re.search(r"V=(-?[\d.]+)", labels[int(node)][0]).group(1))
        assert np.sign(v) == np.sign(float(q)) and v == pytest.approx(float(q), abs=0.011)
    sign = 1.0 if snap.root_player == live.HONEST else -1.0
    q_mover = np.asarray(tree.children_rewards[0, 0] + tree.children_discounts[0, 0] * tree.children_values[0, 0])
    np.testing.assert_allclose(table["q"], sign * q_mover[table["action"].to_numpy()], rtol=1e-6)
    # move 2 is searched again from the replayed position and picks the move the game played
    at.number_input(key=f"tree_move_{game.id}").set_value(2).run()
    assert not at.exception and not at.error
    snap = at.session_state["tree_snapshot"][1]
    assert snap.turn == 1 and snap.action == snap.played_action == game.history[1].action
    at.slider(key="tree_nodes").set_value(5).run()
    assert "showing 5 of" in at.get("graphviz_chart")[0].proto.spec
    assert any(c.startswith("The node cap (5) was filled at depth 1, so ") and c.endswith("raise the cap to see them.")
               for c in captions(at))


def test_depth_limit_and_node_cap(judge_dir, db_url):
    game = stored_game(judge_dir, db_url)
    at = AppTest.from_file(TREE, default_timeout=TIMEOUT).run()
    at.number_input(key=f"tree_sims_{game.id}").set_value(64).run()  # a search that goes 2+ plies deep
    at.slider(key="tree_nodes").set_value(500).run()
    assert not at.exception, at.exception
    snap = at.session_state["tree_snapshot"][1]
    full = search_tree_to_graph(snap.output.search_tree, max_nodes=10_000)
    within = [sum(1 for _, d in full.nodes(data="depth") if d <= limit) for limit in (1, 2)]
    assert within[0] < within[1] < 500  # the cap does not bind
    drawn = []
    for limit in (1, 2):
        at.slider(key="tree_depth").set_value(limit).run()
        assert not at.exception, at.exception
        drawn.append(dot_node_count(at.get("graphviz_chart")[0].proto.spec))
        assert not any("node cap" in c for c in captions(at))
    assert drawn == within  # the depth slider changes the drawing: every node within the limit is drawn
    # a binding cap: the caption says so, and the chosen line still reaches the depth limit
    at.slider(key="tree_nodes").set_value(25).run()
    spec = at.get("graphviz_chart")[0].proto.spec
    assert dot_node_count(spec) == 25
    note = next(c for c in captions(at) if "node cap" in c)
    assert note == (f"The node cap (25) was filled at depth 1, so {within[1] - 25} of the {within[1]} nodes within the "
                    "depth limit are not drawn and deeper levels are drawn only along the highlighted line: raise the "
                    "cap to see them.")
    line = snap.chosen_line()[:3]
    assert len(line) == 3 and red_edges(spec) == {(line[0], line[1]), (line[1], line[2])}
    assert int(np.asarray(snap.output.search_tree.children_index[0])[0, snap.action]) == line[1]


def test_game_tree_names_the_played_pixel_when_the_recorded_action_is_a_flat_index(judge_dir, db_url):
    """A transcript from another tool records each turn's action as the flat pixel index, not the
    game's candidate index: the page still says which pixel the game played (it used to say "-")."""
    judge = live.load_app_judge(str(judge_dir))
    task = judge.make_task(3)
    game = live.LiveDebate(task, judge.judge_fn, judge.params, judge.load_images().images[1], 1, liar_claim=7,
                           human_role=None, ai_debater=live.cached_mcts_debater(task, judge.judge_fn, 8),
                           instance_id="sklearn-digits:1", judge_name=judge.name)
    while not game.finished:
        game.ai_move()
    t = game.to_transcript()
    first = game.history[0]
    store = Store(db_url)
    store.add_transcript(t)
    # the task's rules refuse such a transcript today, so it can only be an old row: write it as one
    t.turns[0].action = first.row * task.width + first.col
    assert t.turns[0].action != first.action  # otherwise this test would prove nothing
    import sqlalchemy as sa

    from debate.records.storage import transcripts

    with store.engine.begin() as conn:
        conn.execute(sa.update(transcripts).where(transcripts.c.id == t.id).values(body_json=t.to_json()))
    at = AppTest.from_file(TREE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    snap = at.session_state["tree_snapshot"][1]
    assert snap.turn == 0 and snap.played_pixel == (first.row, first.col) and snap.played_action == first.action
    text = next(m.value for m in at.markdown if m.value.startswith("Position after 0 move(s)"))
    assert f"the game played **({first.row}, {first.col})**" in text and "played -" not in text
    table = at.dataframe[0].value
    assert table.loc[table["played"], "pixel"].tolist() == [f"({first.row}, {first.col})"]
    assert 'rankdir=LR' in at.get("graphviz_chart")[0].proto.spec


def test_game_tree_says_when_the_judge_is_missing(judge_dir, db_url):
    stored_game(judge_dir, db_url, judge_name="/nowhere/judge-checkpoint")
    at = AppTest.from_file(TREE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert any("not available" in e.value for e in at.error)
    assert not at.get("graphviz_chart")


def test_game_tree_of_the_live_games_last_search(judge_dir, db_url):
    judge = live.load_app_judge(str(judge_dir))
    task = judge.make_task(2)
    game = live.LiveDebate(task, judge.judge_fn, judge.params, judge.load_images().images[2], 2, liar_claim=3,
                           human_role="liar", ai_debater=live.cached_mcts_debater(task, judge.judge_fn, 8))
    game.ai_move()
    at = AppTest.from_file(TREE, default_timeout=TIMEOUT)
    at.session_state[live.SESSION_LAST_SEARCH_KEY] = game.last_search_snapshot()
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="tree_source").value == "The live game's last AI move"
    spec = at.get("graphviz_chart")[0].proto.spec
    assert 'n0 [label="root' in spec
    snap = game.last_search_snapshot()
    assert red_edges(spec) == {(0, int(np.asarray(snap.output.search_tree.children_index[0])[0, snap.action]))}


def test_exact_tree_summary_table_and_drawing_threshold(judge_dir, db_url):
    game = stored_game(judge_dir, db_url)  # K=3 on an 8x8 digit
    at = AppTest.from_file(TREE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert at.toggle(key="tree_exact").value is False and len(at.get("graphviz_chart")) == 1
    at.number_input(key=f"tree_move_{game.id}").set_value(2).run()  # two reveals left
    at.toggle(key="tree_exact").set_value(True).run()
    assert not at.exception, at.exception
    assert not at.error and not at.info, [e.value for e in at.error] + [i.value for i in at.info]
    assert [t.label for t in at.tabs] == ["Search tree (MCTS)", "Exact tree (minimax)"]
    (solution,) = at.session_state["tree_exact_cache"].values()
    assert isinstance(solution, live.ExactSolution) and solution.turn == 1
    assert solution.num_states == 1 + 29 + 406 > live.EXACT_DRAW_LIMIT and solution.depth == 2
    summary = next(m.value for m in at.markdown if m.value.startswith("**Exact game value"))
    assert f"Exact game value {solution.value:+.0f}: the {solution.winner_role} player wins" in summary
    assert "values are from the honest player's view, +1 = the honest player wins" in summary
    assert f"The tree: {solution.num_states:,} distinct states, 2 moves deep" in summary
    pv = " → ".join(f"{m['role']} ({m['pixel'][0]}, {m['pixel'][1]})" for m in solution.principal_variation_moves())
    assert len(solution.principal_variation) == 2 and pv in summary
    assert f"The search's move (mcts-gumbel-8) **{solution.action_label(solution.searched_action)}**" in summary
    # the root's moves with their exact values: every legal move, optimal ones first
    moves = at.dataframe[1].value
    actions, kids = solution.tree.children(0)
    assert len(moves) == len(actions) == 29
    by_action = dict(zip(actions.tolist(), solution.tree.values[kids].tolist()))
    assert [by_action[a] for a in moves["action"]] == moves["value"].tolist()
    assert moves["optimal"].tolist() == [v == solution.value for v in moves["value"]]
    assert moves["optimal"].is_monotonic_decreasing and moves["optimal"].iloc[0]
    assert moves.loc[moves["searched"], "action"].tolist() == [solution.searched_action]
    assert moves.loc[moves["played"], "action"].tolist() == [game.history[1].action]
    # 436 states: no drawing, and the page says why
    assert len(at.get("graphviz_chart")) == 1  # the search tree only
    assert any(c.startswith(f"The whole tree ({solution.num_states} states) is not drawn: the page draws exact trees of "
                            f"at most {live.EXACT_DRAW_LIMIT} states") for c in captions(at))
    # the last move: 1 + 28 states, drawn whole; the principal variation in red; V in the honest view
    at.number_input(key=f"tree_move_{game.id}").set_value(3).run()
    assert not at.exception, at.exception
    last = at.session_state["tree_exact_cache"][at.session_state["tree_snapshot"][1].position_key()]
    assert last.num_states == 29 <= live.EXACT_DRAW_LIMIT and last.drawable
    charts = at.get("graphviz_chart")
    assert len(charts) == 2
    spec = charts[1].proto.spec
    assert dot_node_count(spec) == last.num_states and "showing" not in spec
    nodes = dot_nodes(spec)
    for node in last.tree.principal_variation_nodes():
        assert 'fillcolor="#fadbd8"' in nodes[node][1]
    leaves = [text for n, (text, _) in nodes.items() if n != 0]
    assert len(leaves) == 28 and all(("honest wins" in t) == ("V=1.00" in t) for t in leaves)
    assert f"V={last.value:.2f}" in nodes[0][0]
    assert len(at.session_state["tree_exact_cache"]) == 2  # each position solved once


def test_exact_tree_over_the_limit_says_so_and_offers_a_limit(judge_dir, db_url):
    judge = live.load_app_judge(str(judge_dir))
    task = judge.make_task(4)  # 30 nonzero pixels, 4 reveals: up to 31,931 states > 20,000
    game = live.LiveDebate(task, judge.judge_fn, judge.params, judge.load_images().images[1], 1, liar_claim=7,
                           human_role="liar", ai_debater=live.cached_mcts_debater(task, judge.judge_fn, 8))
    game.ai_move()
    at = AppTest.from_file(TREE, default_timeout=TIMEOUT)
    at.session_state[live.SESSION_LAST_SEARCH_KEY] = game.last_search_snapshot()
    at.run()
    at.toggle(key="tree_exact").set_value(True).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (info,) = [i.value for i in at.info]
    assert info.startswith("This position is too big to solve exactly under the current limit: the remaining 4 reveals "
                           "can be played in so many orders that its game tree can have up to 31,931 distinct "
                           "positions, and the limit is 20,000.")
    assert "max_nodes" not in info and "Raise the limit below to at least 31,931" in info
    limit = at.number_input(key="tree_exact_limit")
    assert (limit.value, limit.min, limit.max) == (live.EXACT_MAX_NODES, 1_000, 200_000) == (20_000, 1_000,
                                                                                             live.EXACT_LIMIT_MAX)
    assert len(at.get("graphviz_chart")) == 1  # the search tree is still drawn
    # the control works: a higher limit solves it (once), without a drawing of its 31,931 states
    limit.set_value(40_000).run()
    assert not at.exception, at.exception
    assert not at.info, [i.value for i in at.info]
    (solution,) = at.session_state["tree_exact_cache"].values()
    assert isinstance(solution, live.ExactSolution) and solution.num_states == 31_931 and solution.depth == 4
    assert any(m.value.startswith(f"**Exact game value {solution.value:+.0f}") for m in at.markdown)
    assert len(at.dataframe[1].value) == 30 and len(at.get("graphviz_chart")) == 1
