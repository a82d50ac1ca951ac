"""The app judges and replays text (quote) debates: the quotes in passage order with the gaps
redacted, never the passage, for the judge; the passage for researchers replaying it."""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from debate.core.debaters import random_debater
from debate.core.runner import Runner
from debate.records.storage import Store
from debate.tasks.quote import api

PAGES = "../app/pages"
TIMEOUT = 60


@pytest.fixture
def store(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DEBATE_DB", url)
    monkeypatch.setenv("DEBATE_APP_JUDGE", str(tmp_path / "no-judge"))
    monkeypatch.chdir(tmp_path)
    st.cache_resource.clear()
    s = Store(url)
    yield s
    s.close()
    st.cache_resource.clear()


def quote_transcripts(n=4):
    task, instance = api.example(jax.random.key(4), n)
    w = np.random.default_rng(0).normal(size=(task.dim,)).astype(np.float32)
    judge_fn = lambda p, v: (v.options @ p) + (v.quotes.sum(1) @ p)[:, None]  # noqa: E731
    out = []
    for first in (0, 1):
        games = Runner(task, judge_fn, w, [random_debater()], batch_size=n).play(instance, first, jax.random.key(first))
        out += api.to_transcripts(task, games, protocol=f"debate_{'honest' if first == 0 else 'liar'}_first",
                                  debaters=["random", "random"], judge="linear", seed=0)
    return out


def no_exception(at):
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_person_judges_a_text_debate_seeing_only_quotes(store):
    from debate.records.study_design import StudyDesign

    ts = quote_transcripts()
    store.add_transcripts(ts)
    store.create_study("text study", "quote", design=StudyDesign(quota=1, practice=0, overlap_share=0.0))
    at = no_exception(AppTest.from_file(f"{PAGES}/judge.py", default_timeout=TIMEOUT).run())
    at.text_input(key="signin_name").set_value("tess")
    at.text_input(key="signin_passphrase").set_value("pass-word")
    at.button(key="FormSubmitter:signin_form-Sign in").click().run()
    t = no_exception(at).session_state["judge_assignment"]["transcript"]
    shown = " ".join(m.value for m in at.markdown)
    assert t.instance["question"] in shown and "not quoted yet" in shown
    for turn in t.turns:
        at.button(key="next_turn").click().run()
        no_exception(at)
    shown = " ".join(m.value for m in at.markdown)
    quoted = {tt.action for tt in t.turns}
    for i, sentence in enumerate(t.instance["sentences"]):
        # the passage itself never shows; (?<!\d): "2. X" must not match inside "12. X" (stories repeat sentences)
        shown_here = re.search(rf"(?<!\d){i + 1}\. {re.escape(sentence)}", shown) is not None
        assert shown_here == (i in quoted), (i, sentence)
    assert "not quoted" in shown
    at.slider(key="final_p").set_value(70)
    at.text_area(key="explanation").set_value("the later quote decides")
    at.button(key="FormSubmitter:verdict_form-Submit judgment").click().run()
    j, = no_exception(at) and store.query_judgments()
    assert (j["transcript_id"], j["task"], j["turns_seen"]) == (t.id, "quote", len(t.turns))


def test_researchers_replay_a_text_debate_with_the_passage(store):
    t = quote_transcripts()[0]
    store.add_transcripts([t])
    at = no_exception(AppTest.from_file(f"{PAGES}/transcripts.py", default_timeout=TIMEOUT).run())
    at.selectbox(key="open_transcript").set_value(t.id).run()
    shown = " ".join(m.value for m in no_exception(at).markdown)
    assert t.instance["question"] in shown
    assert all(s in shown for s in t.instance["sentences"])  # the expander holds the whole passage
