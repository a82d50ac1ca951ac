"""The app's Game-tree page, driven headlessly with streamlit's AppTest."""

import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app import live
from debate.records.storage import Store

TREE = "../app/pages/game_tree.py"  # relative to this file (AppTest.from_file)
TIMEOUT = 120


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
    # move 2 is searched again from the replayed position and picks the move the game played
    at.number_input(key=f"tree_move_{game.id}").set_value(2).run()
    assert not at.exception and not at.error
    snap = at.session_state["tree_snapshot"][1]
    assert snap.turn == 1 and snap.action == snap.played_action == game.history[1].action
    at.slider(key="tree_nodes").set_value(5).run()
    assert "showing 5 of" in at.get("graphviz_chart")[0].proto.spec


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
    t.turns[0].action = first.row * task.width + first.col
    assert t.turns[0].action != first.action  # otherwise this test would prove nothing
    Store(db_url).add_transcript(t)
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
    assert 'n0 [label="root' in at.get("graphviz_chart")[0].proto.spec


def test_exact_tree_of_a_stored_transcript(judge_dir, db_url):
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
    summary = next(m.value for m in at.markdown if m.value.startswith("**Exact game value"))
    assert f"Exact game value {solution.value:+.0f}: the {solution.winner_role} player wins" in summary
    pv = " → ".join(f"{m['role']} ({m['pixel'][0]}, {m['pixel'][1]})" for m in solution.principal_variation_moves())
    assert len(solution.principal_variation) == 2 and pv in summary
    assert f"The search's move (mcts-gumbel-8) **{solution.action_label(solution.searched_action)}**" in summary
    charts = at.get("graphviz_chart")
    assert len(charts) == 2  # the search tree, then the exact tree
    spec = charts[1].proto.spec
    assert dot_node_count(spec) == len(solution.graph) == live.EXACT_DRAW_NODES < solution.num_states
    assert f"showing {live.EXACT_DRAW_NODES} of {solution.num_states} expanded nodes" in spec
    for node in solution.tree.principal_variation_nodes():  # the principal variation is drawn, in red
        assert re.search(rf'^\s*n{node} \[label=.*fillcolor="#fadbd8"', spec, flags=re.M)
    # the whole tree fits under the larger cap; the solution is not solved again on a rerun
    at.slider(key="tree_exact_nodes").set_value(500).run()
    assert not at.exception, at.exception
    spec = at.get("graphviz_chart")[1].proto.spec
    assert dot_node_count(spec) == solution.num_states and "showing" not in spec
    assert list(at.session_state["tree_exact_cache"].values()) == [solution]


def test_exact_tree_over_the_limit_says_so(judge_dir, db_url):
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
    assert info.startswith("The exact tree of this position is not solved: This game tree can have up to 31,931 "
                           "states, more than the limit max_nodes=20,000")
    assert len(at.get("graphviz_chart")) == 1  # the search tree is still drawn
