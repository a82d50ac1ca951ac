"""The quote view: a text debate over a hidden passage. The judge sees the question, the options
and, after every turn, each quote so far in passage order with the gaps between them redacted;
researchers replaying a debate can also open the whole passage."""

from __future__ import annotations

import streamlit as st

from app.views import TextView
from debate.tasks.quote.rendering import RENDERER


class QuoteView(TextView):
    task = "quote"
    label = "text (quote)"
    judge_order = 30
    explanation_hint = "e.g. sentence 9 is Mary's latest move, after the garden in sentence 4"
    debater_mark = "quote"

    def _quotes_panel(self, transcript, shown: int) -> None:
        st.markdown(f"**Question:** {transcript.instance['question']}")
        st.markdown("**The quotes so far, in passage order** (unquoted sentences are redacted):")
        lines = RENDERER.redacted_passage(transcript, shown) if shown else [
            f"[… all {len(transcript.instance['sentences'])} sentences not quoted yet …]"]
        st.markdown("\n".join(f"- {line}" for line in lines))

    def judge_turns(self, transcript, shown, *, first_mover, player_colors, turn_log) -> None:
        n = len(transcript.turns)
        st.caption(f"{first_mover} quotes first; the debate has {n} quotes.")
        self._quotes_panel(transcript, shown)
        turn_log()

    def replay(self, transcript, turn, *, turn_lines) -> None:
        self._quotes_panel(transcript, turn)
        st.caption(f"After {turn} of {len(transcript.turns)} quotes.")
        turn_lines(transcript.turns[:turn])
        check = RENDERER.evidence_check(transcript)
        if turn >= len(transcript.turns) and check:
            st.caption(f"Evidence: {check}.")
        with st.expander("The whole passage (researchers only)"):
            quoted = {int(t.revealed["sentence"]) for t in transcript.turns[:turn]}
            st.markdown("\n".join(f"{i + 1}. " + (f"**{s}**" if i in quoted else s)
                                  for i, s in enumerate(transcript.instance["sentences"])))
        with st.expander("The whole debate as text"):
            st.code(RENDERER.describe_transcript(transcript), language=None)


VIEW = QuoteView()
