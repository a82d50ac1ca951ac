"""The quote view: a text debate over a hidden passage. The judge sees the question, the options
and, after every turn, each quote so far in passage order with the gaps between them redacted;
researchers replaying a debate can also open the whole passage."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import streamlit as st

from app.views import TextView
from debate.tasks.quote.rendering import RENDERER

if TYPE_CHECKING:  # the live game loads jax: imported only where a game is drawn
    from app.live_quote import LiveQuoteDebate


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


    # the Play page's live game (``app.live_quote.LiveQuoteDebate``), drawn by the functions below
    def play_claims_line(self, game, names, order) -> None:
        play_claims_line(game, names, order)

    def play_passage(self, game, names, on_quote, on_typed=None) -> None:
        play_passage(game, names, on_quote, on_typed)

    def play_judge_view(self, game) -> None:
        play_judge_view(game)

    def play_turn_rows(self, game, names, beliefs: bool) -> list[dict]:
        return play_turn_rows(game, names, beliefs)

    def play_caption(self, game) -> str:
        return play_caption(game)


VIEW = QuoteView()


# ------------------------------------------------------------------ drawing the live game


def play_claims_line(game: LiveQuoteDebate, names: dict, order) -> None:
    """The question and who argues which option (in ``order``)."""
    st.markdown(f"**Question:** {game.question.question}")
    st.markdown("  \n".join(f"{names[p]} argues {game.claim_text(game.claims[p])}" for p in order))


def play_passage(game: LiveQuoteDebate, names: dict, on_quote: Callable[[int], None] | None,
                 on_typed: Callable[[], None] | None = None) -> None:
    """The whole passage, as a debater reads it: each sentence numbered, a quoted one with who quoted it
    on which turn; with ``on_quote`` (the person's turn) a *Quote* button beside each sentence not yet
    quoted, and with ``on_typed`` a keyboard fallback (a sentence number, key ``play_sentence``)."""
    quoted = game.quoted()
    st.markdown("**The passage** (the judge never sees it, only the quotes):")
    for i, sentence in enumerate(game.sentences):
        turn = quoted.get(i)
        line = f"{i + 1}. " + (f"**{sentence}** — quoted by {names[turn.player]} on turn {turn.index + 1}"
                               if turn is not None else sentence)
        if on_quote is None or turn is not None:
            st.markdown(line)
            continue
        text_col, button_col = st.columns([6, 1])
        text_col.markdown(line)
        button_col.button("Quote", key=f"play_quote_{i}", on_click=on_quote, args=(i,),
                          help=f"Quote sentence {i + 1} as your move.")
    if on_quote is not None and on_typed is not None:
        with st.expander("Type a sentence number instead"):
            c1, c2 = st.columns([1, 1])
            c1.number_input("Sentence", min_value=1, max_value=len(game.sentences), value=1, key="play_sentence")
            c2.button("Quote it", key="play_quote_typed", on_click=on_typed)
            st.caption("Sentences you may quote: " + ", ".join(str(i + 1) for i in game.legal_sentences()))


def play_judge_view(game: LiveQuoteDebate) -> None:
    """What the judge sees so far: the quotes in passage order, the gaps between them redacted."""
    k = game.num_turns
    st.markdown(f"**What the judge sees after {game.turn} of {k} quotes** (unquoted sentences are redacted):")
    lines = RENDERER.redacted_passage(game.board_transcript()) if game.history else [
        f"[… all {len(game.sentences)} sentences not quoted yet …]"]
    st.markdown("\n".join(f"- {line}" for line in lines))


def play_turn_rows(game: LiveQuoteDebate, names: dict, beliefs: bool) -> list[dict]:
    """One row per quote for the page's turn table; with ``beliefs`` the judge's belief after it."""
    from app.live_quote import HONEST, LIAR

    rows = []
    for t in game.history:
        row = {"turn": t.index + 1, "who": names[t.player], "sentence": t.sentence + 1, "quote": t.text}
        if beliefs:
            row.update({f"p({names[p]})": round(t.judge_probs[p], 3) for p in (HONEST, LIAR)})
        rows.append(row)
    return rows


def play_caption(game: LiveQuoteDebate) -> str:
    """The researcher's line about the game: the answer, the claims and the debaters."""
    from app.live_quote import HONEST, LIAR

    return (f"Question {game.instance_id}: the answer is {game.claim_text(game.label)}. Honest argues "
            f"{game.claim_text(game.label)}; liar argues {game.claim_text(game.liar_claim)}. Honest: "
            f"{game.debater_name(HONEST)}, liar: {game.debater_name(LIAR)}.")
