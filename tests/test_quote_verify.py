"""Quotes inside free-text arguments, checked against the passage: normalised exact matches, a
fuzzy fallback, and transcripts whose marks must be the task's own check."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from debate.records.transcript import TranscriptError
from debate.tasks.quote.records import check_transcript, quote_games_to_transcripts
from debate.tasks.quote.verify import check_argument, check_quote, normalise, quotes_in

PASSAGE = ("Mary went to the kitchen.", "John picked up the football.", "Mary travelled to the garden.",
           "Daniel journeyed to the bedroom before the long winter evening ended.")


def test_normalise_folds_case_quotes_punctuation_and_spaces():
    assert normalise("  MARY  went\tto the Kitchen!! ") == "mary went to the kitchen"
    assert normalise("Daniel\u2019s ﬁle") == normalise("daniels file")  # curly apostrophe, ligature (NFKC)
    assert normalise("...") == ""


@pytest.mark.parametrize("quote, how, sentence", [
    ("Mary went to the kitchen.", "exact", 0),
    ("mary WENT to the kitchen", "exact", 0),              # case and punctuation
    ("picked up the football", "exact", 1),                # a part of a sentence
    ("Mary went", "exact", 0),                             # a short run of whole words
    ("Daniel journeyed to the bedroom before the long winter evening endd", "fuzzy", 3),  # a typo
    ("Daniel journeyed to bedroom before the long winter evening ended", "fuzzy", 3),     # a dropped word
])
def test_quotes_in_the_passage_are_verified(quote, how, sentence):
    check = check_quote(quote, PASSAGE)
    assert (check.verified, check.how, check.sentence) == (True, how, sentence)
    assert check.score == 1.0 if how == "exact" else 0.9 <= check.score < 1.0


@pytest.mark.parametrize("quote", [
    "Mary went to the garden.",            # true words, not a sentence of this passage
    "John dropped the football.",          # a fabricated fact close to a real one
    "kit",                                 # part of a word is not a quote
    "John went home",                      # too short for a fuzzy match
])
def test_quotes_not_in_the_passage_are_not_verified(quote):
    check = check_quote(quote, PASSAGE)
    assert not check.verified and check.how == "none" and check.sentence is None


def test_spans_between_straight_curly_and_angle_quotes_are_found_in_order():
    argument = 'The story says "Mary went to the kitchen", then \u201cMary travelled to the garden\u201d and \u00abJohn flew\u00bb.'
    assert quotes_in(argument) == ["Mary went to the kitchen", "Mary travelled to the garden", "John flew"]
    checks = check_argument(argument, PASSAGE)
    assert [c.verified for c in checks] == [True, True, False]
    assert [c.sentence for c in checks] == [0, 2, None]


def _transcript():
    from debate.core.runner import Games
    from debate.tasks.quote.game import QuoteTask
    from debate.tasks.quote.passages import TextQuestion

    question = TextQuestion(id="v:0", sentences=PASSAGE, question="Where is Mary?", options=("garden", "kitchen"),
                            correct=0, supporting=(2,), misleading=((), (0,)))
    games = Games({"actions": np.array([[2, 0]]), "players": np.array([[0, 1]]), "claims": np.array([[0, 1]]),
                   "claim_probs": np.full((1, 2, 2), 0.5), "final_logits": np.zeros((1, 2)),
                   "honest_margin": np.ones(1), "first_player": np.zeros(1, np.int64)})
    (transcript,) = quote_games_to_transcripts(games, [question], QuoteTask(num_quotes=2, max_sentences=4, dim=8),
                                               "debate", ("a", "b"), "j", 0)
    return transcript


def test_a_transcript_records_the_task_own_marks_and_refuses_others():
    transcript = _transcript()
    argument = 'As I said, "Mary went to the kitchen" and "Mary stayed in the kitchen".'
    transcript.turns[1].revealed.update(argument=argument,
                                        argument_quotes=[c.to_dict() for c in check_argument(argument, PASSAGE)])
    check_transcript(transcript)  # the task's own marks: accepted
    assert [q["verified"] for q in transcript.turns[1].revealed["argument_quotes"]] == [True, False]

    forged = copy.deepcopy(transcript)
    forged.turns[1].revealed["argument_quotes"][1]["verified"] = True  # a fabricated quote marked verified
    with pytest.raises(TranscriptError, match="turn 1 marks its argument's quotes"):
        check_transcript(forged)
    unmarked = copy.deepcopy(transcript)
    del unmarked.turns[1].revealed["argument_quotes"]
    with pytest.raises(TranscriptError, match="checking them against the passage gives"):
        check_transcript(unmarked)
    orphan = copy.deepcopy(transcript)
    del orphan.turns[1].revealed["argument"]
    with pytest.raises(TranscriptError, match="marks argument quotes but has no argument"):
        check_transcript(orphan)


def test_arguments_render_with_each_quote_marked_verified_or_not():
    from debate.tasks.quote.rendering import RENDERER

    transcript = _transcript()
    argument = 'As I said, "Mary went to the kitchen" and "Mary stayed in the kitchen".'
    transcript.turns[1].revealed.update(argument=argument,
                                        argument_quotes=[c.to_dict() for c in check_argument(argument, PASSAGE)])
    line = RENDERER.turn_text(transcript, transcript.turns[1])
    assert line.endswith('As I said, "Mary went to the kitchen" [✓ verified] and '
                         '"Mary stayed in the kitchen" [✗ not in the passage].')
    assert "[✗ not in the passage]" in RENDERER.describe_transcript(transcript)
    assert RENDERER.argument_text(transcript.turns[0]) is None  # no argument: the quote alone
    assert "—" not in RENDERER.turn_text(transcript, transcript.turns[0])
