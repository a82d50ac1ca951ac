"""The judging flow of a study in the app (AppTest): sign-in, practice with feedback, per-turn beliefs,
the verdict as P(A is right), undo, skip, nothing naming the liar, and participant/researcher mode."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from db_urls import db_url  # noqa: F401  (the fixture: every test here runs on SQLite and PostgreSQL)
from debate.records.storage import Store
from debate.records.study_design import StudyDesign
from test_app import computation_transcript, make_transcript, no_exception, texts  # noqa: E402 (tests/ on sys.path)

PAGES = "../app/pages"
SUBMIT = "FormSubmitter:verdict_form-Submit judgment"
TIMEOUT = 60
PASS = "pass-word"


@pytest.fixture(autouse=True)
def app_env(monkeypatch, tmp_path, db_url):  # noqa: F811  (SQLite, and PostgreSQL where it is set up)
    url = db_url
    monkeypatch.setenv("DEBATE_DB", url)
    monkeypatch.delenv("DEBATE_ORGANISER_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield url
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def store(app_env) -> Store:
    s = Store(app_env)
    yield s
    s.close()


def pixel_study(store: Store, *, images: int = 12, quota: int = 4, practice: int = 1, overlap: float = 0.0,
                precommit: bool = True) -> dict:
    """Debates like the quickstart's (several lies per image, both first movers) and a study over them."""
    protocol = "debate_precommit_{}_first" if precommit else "debate_no_precommit_{}_first"
    ts = [make_transcript(i, claims=(3, liar) if precommit else (3, None), first_player=first,
                          protocol=protocol.format("honest" if first == 0 else "liar"))
          for i in range(images) for liar in ((5, 7) if precommit else (None,)) for first in (0, 1)]
    store.add_transcripts(ts)
    return store.create_study("pilot", "sparse_pixel", design=StudyDesign(quota=quota, practice=practice,
                                                                          overlap_share=overlap, seed=1),
                              instructions="Decide who tells the truth.", allow_role_cues=not precommit)


def page(name: str) -> AppTest:
    return AppTest.from_file(f"{PAGES}/{name}.py", default_timeout=TIMEOUT)


def sign_in(at: AppTest, name: str = "alice", passphrase: str = PASS) -> AppTest:
    at.text_input(key="signin_name").set_value(name)
    at.text_input(key="signin_passphrase").set_value(passphrase)
    at.button(key="FormSubmitter:signin_form-Sign in").click().run()
    return no_exception(at)


def current(at: AppTest) -> dict:
    return at.session_state["judge_assignment"]


def step_through(at: AppTest, beliefs: list[int] | None = None) -> int:
    n = len(current(at)["transcript"].turns)
    for k in range(n):
        if k and beliefs:
            at.slider(key="belief").set_value(beliefs[k - 1])
        at.button(key="next_turn").click().run()
        no_exception(at)
    assert at.button(key="next_turn").disabled
    return n


def verdict(at: AppTest, p_a: int, explanation: str = "the top bar is closed", guess: int | None = None) -> AppTest:
    at.slider(key="final_p").set_value(p_a)
    at.text_area(key="explanation").set_value(explanation)
    if guess is not None:
        at.selectbox(key="guess").set_value(guess)
    at.button(key=SUBMIT).click().run()
    return no_exception(at)


def honest_letter(a: dict) -> str:
    return "A" if a["side_order"] == "honest-left" else "B"


def page_text(at: AppTest) -> str:
    return " ".join(texts(at.markdown) + texts(at.caption) + texts(at.success) + texts(at.info))


# --------------------------------------------------------------------------- the flow


def test_practice_with_feedback_then_counted_debates_with_beliefs(store):
    study = pixel_study(store, quota=3, practice=1)
    at = no_exception(page("judge").run())
    assert at.button(key="FormSubmitter:signin_form-Sign in") and "judge_assignment" not in at.session_state
    sign_in(at)
    a = current(at)
    assert a["study_set"] == "practice" and any("Practice debate 1 of 1" in m for m in texts(at.markdown))
    step_through(at)
    verdict(at, 80 if honest_letter(a) == "A" else 20)
    assert any(f"Debater {honest_letter(a)} was telling the truth" in s and "You were right" in s
               for s in texts(at.success))
    assert store.query_judgments(study_id=study["id"]) == []  # practice is not counted
    assert len(store.query_judgments(study_id=study["id"], include_practice=True)) == 1
    # the first counted debate: progress line, beliefs after each turn, the verdict
    b = current(at)
    assert b["study_set"] == "main" and any("Debate 1 of 3" in m for m in texts(at.markdown))
    assert b["transcript"].instance_id != a["transcript"].instance_id
    n = step_through(at, beliefs=[60, 70, 40])
    at.slider(key="belief").set_value(30)
    verdict(at, 30)  # B is right with 70%
    assert any(f"Saved: your judgment of debate {b['alias']}" in s and "Debater B is right with 70%" in s
               for s in texts(at.success))
    j, = store.query_judgments(study_id=study["id"])
    assert json.loads(j["beliefs_json"]) == [0.6, 0.7, 0.4, 0.3] and j["turns_seen"] == n
    assert j["confidence"] == 0.7 and j["verdict_role"] == ("liar" if honest_letter(b) == "A" else "honest")
    assert (j["study_set"], j["sequence_index"], j["study_alias"]) == ("main", 2, b["alias"])
    assert any("Debate 2 of 3" in m for m in texts(at.markdown))


def test_nothing_on_the_page_names_the_liar(store):
    pixel_study(store, practice=0)
    at = sign_in(no_exception(page("judge").run()))
    a = current(at)
    step_through(at)
    shown = page_text(at)
    t = a["transcript"]
    for hidden in ("honest", "liar", "debate_precommit", "mcts-64", t.id[:8], "0.6", "0.7"):
        assert hidden not in shown, hidden
    assert f"Debate {a['alias']}." in shown
    honest = honest_letter(a)
    liar = "B" if honest == "A" else "A"
    assert f"Debater {honest} argues: 3" in shown and f"Debater {liar} argues: {t.claims[1]}" in shown


def test_without_precommitment_the_open_side_argues_against_and_names_a_digit(store):
    pixel_study(store, practice=0, precommit=False)
    at = sign_in(no_exception(page("judge").run()))
    a = current(at)
    honest = honest_letter(a)
    liar = "B" if honest == "A" else "A"
    shown = page_text(at)
    assert f"Debater {liar} argues against Debater {honest}'s claim" in shown and "not 3" not in shown
    step_through(at)
    p_liar = 80 if liar == "A" else 20
    verdict(at, p_liar)
    assert any("also say which answer" in e for e in texts(at.error)) and not store.query_judgments()
    verdict(at, p_liar, guess=8)
    j, = store.query_judgments()
    assert (j["verdict_claim"], j["verdict_role"], j["correct"]) == (8, "liar", False)


@pytest.mark.parametrize("p_a, explanation, message", [
    (50, "because", "50% is not allowed"),
    (70, "   ", "must not be blank"),
])
def test_bad_verdicts_are_refused_and_the_debate_stays(store, p_a, explanation, message):
    pixel_study(store, practice=0)
    at = sign_in(no_exception(page("judge").run()))
    a = current(at)
    at.button(key="next_turn").click().run()
    verdict(at, p_a, explanation)
    assert any(message in e for e in texts(at.error)) and store.count_judgments() == 0
    assert current(at)["transcript"].id == a["transcript"].id and current(at)["turns_shown"] == 1


def test_undo_within_a_minute_brings_the_debate_back(store):
    pixel_study(store, practice=0)
    at = sign_in(no_exception(page("judge").run()))
    a = current(at)
    step_through(at)
    verdict(at, 70)
    assert store.count_judgments() == 1
    at.button(key="undo").click().run()
    no_exception(at)
    assert store.count_judgments() == 0 and any("was taken back" in s for s in texts(at.success))
    b = current(at)
    assert b["transcript"].id == a["transcript"].id and b["sequence_index"] == a["sequence_index"]
    assert b["turns_shown"] == 0 and "undo" not in [x.key for x in at.button]  # nothing left to undo


def test_skip_with_a_reason(store):
    study = pixel_study(store, practice=0)
    at = sign_in(no_exception(page("judge").run()))
    a = current(at)
    at.button(key="skip").click().run()
    assert any("Choose why you skip" in e for e in texts(at.error))
    at.selectbox(key="skip_reason").set_value("I cannot decide at all")
    at.button(key="skip").click().run()
    no_exception(at)
    b = current(at)
    assert b["transcript"].instance_id != a["transcript"].instance_id
    assert store.study_progress(study["id"], at.session_state["annotator"]["id"])["skipped"] == 1


def test_a_reload_keeps_the_participant_signed_in(store):
    pixel_study(store, practice=0)
    at = sign_in(no_exception(page("judge").run()))
    token = at.query_params["s"]
    token = token[0] if isinstance(token, list) else token
    first = current(at)["transcript"].id
    again = page("judge")
    again.query_params["s"] = token
    again.run()
    no_exception(again)
    assert again.session_state["annotator"]["name"] == "alice" and current(again)["transcript"].id == first
    wrong = sign_in(no_exception(page("judge").run()), passphrase="not-it")
    assert any("does not match" in e for e in texts(wrong.error)) and "annotator" not in wrong.session_state


def test_a_computation_debate_in_a_study(store):
    comp = computation_transcript()
    store.add_transcripts([comp])
    store.create_study("comp", "computation", design=StudyDesign(quota=1, practice=0, overlap_share=0.0),
                       allow_role_cues=True)
    at = sign_in(no_exception(page("judge").run()))
    a = current(at)
    assert a["transcript"].id == comp.id
    assert step_through(at) == 6
    shown = page_text(at)
    for hidden in ("honest", "liar", "debate_liar_claimer", "expert", "1.00", "exact check", "would be"):
        assert hidden not in shown, hidden
    verdict(at, 90 if honest_letter(a) == "A" else 10, "10 - 2 = 8, not 16")
    j, = store.query_judgments()
    assert (j["task"], j["verdict_role"], j["correct"], j["confidence"]) == ("computation", "honest", True, 0.9)
    assert any("You have finished this study" in s for s in texts(at.success))


def test_no_open_study_says_so(store):
    at = sign_in(no_exception(page("judge").run()))
    assert any("No study is open" in i for i in texts(at.info))


# --------------------------------------------------------------------------- participant and researcher mode


def test_participant_mode_hides_the_researcher_pages(store, monkeypatch):
    pixel_study(store)
    monkeypatch.setenv("DEBATE_ORGANISER_PASSWORD", "organiser-secret")
    at = no_exception(AppTest.from_file("../app/main.py", default_timeout=TIMEOUT).run())
    for path in ("pages/transcripts.py", "pages/analytics.py", "pages/studies.py", "pages/game_tree.py",
                 "pages/play.py", "pages/results.py"):
        direct = no_exception(AppTest.from_file(f"../app/{path}", default_timeout=TIMEOUT).run())
        assert any("for the study's organisers" in w for w in texts(direct.warning)), path
        assert not direct.dataframe and not direct.get("graphviz_chart")
    at.switch_page("pages/organiser.py").run()
    at.text_input(key="organiser_passphrase").set_value("wrong")
    at.button(key="FormSubmitter:organiser_form-Open the researcher pages").click().run()
    assert any("not the organiser passphrase" in e for e in texts(at.error))
    assert "organiser_signed_in" not in at.session_state
    at.text_input(key="organiser_passphrase").set_value("organiser-secret")
    at.button(key="FormSubmitter:organiser_form-Open the researcher pages").click().run()
    no_exception(at)
    assert at.session_state["organiser_signed_in"] is True
    at.switch_page("pages/transcripts.py").run()
    no_exception(at)
    assert at.title[0].value == "Transcripts"


def test_studies_page_creates_a_study_and_invitations(store):
    store.add_transcripts([make_transcript(i, first_player=f, protocol=f"debate_precommit_{r}_first")
                           for i in range(10) for f, r in ((0, "honest"), (1, "liar"))])
    at = no_exception(page("studies").run())
    assert any("No study yet" in i for i in texts(at.info))
    at.text_input[0].set_value("from-the-page")
    at.number_input[0].set_value(4)
    at.button(key="FormSubmitter:create_study-Create the study").click().run()
    no_exception(at)
    assert [s["name"] for s in store.list_studies()] == ["from-the-page"]
    assert store.list_studies()[0]["design"].quota == 4
    at.button(key="make_invitations").click().run()
    no_exception(at)
    assert len(at.session_state["new_codes"]) == 5


def test_a_second_tab_is_told_in_words_and_keeps_the_typed_explanation(store):
    pixel_study(store, practice=0)
    first = sign_in(no_exception(page("judge").run()))
    token = first.query_params["s"]
    second = page("judge")
    second.query_params["s"] = token[0] if isinstance(token, list) else token
    no_exception(second.run())
    a = current(first)
    assert current(second)["transcript"].id == a["transcript"].id  # the same debate in both tabs
    for at in (first, second):
        at.button(key="next_turn").click().run()
    verdict(first, 70, "judged in the first tab")
    verdict(second, 30, "typed in the second tab")
    message = " ".join(texts(second.success))
    assert f"Debate {a['alias']} was already judged by you" in message and "typed in the second tab" in message
    assert a["transcript"].id not in message and store.count_judgments() == 1
