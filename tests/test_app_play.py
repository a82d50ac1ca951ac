"""The app's Play page, driven headlessly with streamlit's AppTest."""


import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app import live
from debate.tasks.sparse_pixel.game import HONEST
from debate.records.storage import Store

PLAY = "../app/pages/play.py"  # relative to this file (AppTest.from_file)
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


def start_game(at: AppTest, k=2, sims=8, index=0, role="honest", first="honest") -> live.LiveDebate:
    at.run()
    assert not at.exception, at.exception
    at.number_input(key="play_k").set_value(k)
    at.number_input(key="play_sims").set_value(sims)
    at.number_input(key="play_index").set_value(index)
    at.radio(key="play_role").set_value(role)
    at.radio(key="play_first").set_value(first)
    at.button(key="play_new").click().run()
    assert not at.exception, at.exception
    return at.session_state[live.SESSION_GAME_KEY]


def reveal(at: AppTest, row: int, col: int) -> None:
    at.number_input(key="play_row").set_value(row)
    at.number_input(key="play_col").set_value(col)
    at.button(key="play_reveal").click().run()
    assert not at.exception, at.exception


def test_play_a_whole_game_as_the_honest_player(judge_dir, db_url):
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    game = start_game(at)
    assert game.human_role == "honest" and game.task.num_reveals == 2 and game.is_human_turn()
    assert len(at.get("image")) == 2  # the full image and the judge's view
    row, col = game.legal_pixels()[0]
    reveal(at, row, col)
    game = at.session_state[live.SESSION_GAME_KEY]
    assert game.finished and [t.player for t in game.history] == [HONEST, 1]
    assert (game.history[0].row, game.history[0].col) == (row, col)
    assert not at.error
    assert any("Stored transcript" in s.value and game.id in s.value for s in at.success)
    stored = Store(db_url).query_transcripts()
    assert len(stored) == 1
    t = stored[0]
    assert t.id == game.id and t.experiment is None
    assert t.debater_of_role("honest") == "human:player" and t.debater_of_role("liar") == "mcts-gumbel-8"
    assert t.protocol == "debate_precommit_honest_first" and len(t.turns) == 2
    assert t.turns[0].revealed["row"] == row and t.turns[0].revealed["col"] == col
    assert t.judge == game.judge_name == str(judge_dir.resolve())  # the Game-tree page reloads it from there
    assert at.session_state[live.SESSION_LAST_TRANSCRIPT_KEY] == t.id
    assert at.session_state[live.SESSION_LAST_SEARCH_KEY].turn == 1
    # a rerun does not store it twice
    at.run()
    assert Store(db_url).count_transcripts() == 1


def test_an_illegal_pixel_shows_an_error_and_stores_nothing(db_url):
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    game = start_game(at)
    zero = tuple(int(v) for v in np.argwhere(game.image == 0)[0])
    reveal(at, *zero)
    assert any("blank" in e.value for e in at.error), [e.value for e in at.error]
    game = at.session_state[live.SESSION_GAME_KEY]
    assert game.turn == 0 and game.is_human_turn()
    assert Store(db_url).count_transcripts() == 0
    # the error goes away with the next (legal) move
    reveal(at, *game.legal_pixels()[0])
    assert not at.error


def test_ai_first_and_watch_mode(db_url):
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    game = start_game(at, role="liar", first="honest")
    assert game.turn == 1 and game.is_human_turn()  # the AI (honest) moved first
    at.radio(key="play_mode").set_value("Watch / judge an AI-vs-AI debate").run()
    at.button(key="play_new").click().run()
    game = at.session_state[live.SESSION_GAME_KEY]
    assert game.human_player is None and game.turn == 0
    at.button(key="play_next").click().run()
    assert not at.exception, at.exception
    assert game.turn == 1 and Store(db_url).count_transcripts() == 0
    at.button(key="play_next").click().run()
    assert game.finished and Store(db_url).count_transcripts() == 1
    assert Store(db_url).query_transcripts()[0].meta["mode"] == "ai-vs-ai"
