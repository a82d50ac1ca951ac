"""The language-model debater: arguments cut at the word limit, their quotes verified against the
passage, and best-of-N keeping the argument the judge prefers. A tiny random decoder covers the code
paths; one test uses the real SmolLM2 weights (skipped, saying so, without them)."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from debate.tasks.quote.verify import check_argument
from judges.llm.debater import Argument, ArgumentWriter, argument_messages, best_of_n, cut_words
from judges.llm.judge import DebateTurn, JudgeCase, JudgeInputError, case_of_question
from judges.llm.llama import Llama, LlamaSizes
from test_llm_judge import QUESTION, STORY, smollm2_folder, tiny_tokenizer


@pytest.fixture(scope="module")
def writer():
    tokenizer = tiny_tokenizer()
    sizes = LlamaSizes(vocab_size=len(tokenizer), hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2,
                       head_dim=8, intermediate_size=48, rope_theta=10000.0, rms_norm_eps=1e-5, max_positions=1024)
    return ArgumentWriter(Llama(sizes, rngs=nnx.Rngs(5)), tokenizer, word_limit=16, max_new_tokens=24, temperature=1.0)


def test_the_prompt_shows_the_story_the_option_and_the_chosen_quote():
    messages = argument_messages(STORY, "Where is Mary?", "kitchen", 2, word_limit=30)
    user = messages[1]["content"]
    assert "Story: " + " ".join(STORY) in user  # the debater reads the whole story
    assert 'Your evidence (sentence 3): "Mary travelled to the kitchen."' in user and "at most 30 words" in user
    with pytest.raises(JudgeInputError, match="quotes sentence 9, but the story has 5 sentences"):
        argument_messages(STORY, "Where is Mary?", "kitchen", 9)


def test_cut_words_keeps_whole_words_up_to_the_limit():
    assert cut_words("one  two\nthree four", 3) == "one two three"
    assert cut_words("short", 10) == "short"


def test_arguments_are_cut_at_the_limit_and_their_quotes_checked(writer):
    arguments = writer.write(STORY, "Where is Mary?", "kitchen", 2, n=4, seed=1)
    assert len(arguments) == 4
    for argument in arguments:  # the reply starts with the claim and the chosen quote, opened
        assert argument.text.startswith('The answer is kitchen, because the story says "Mary travelled')
        assert len(argument.text.split()) <= 16
        assert argument.checks == tuple(check_argument(argument.text, STORY))
    assert len({a.text for a in arguments}) > 1  # sampled, not four copies
    again = writer.write(STORY, "Where is Mary?", "kitchen", 2, n=4, seed=1)
    assert [a.text for a in again] == [a.text for a in arguments]  # a seed gives the same arguments
    with pytest.raises(JudgeInputError, match="n must be at least 1"):
        writer.write(STORY, "Where is Mary?", "kitchen", 2, n=0)


class RecordingJudge:
    """Prefers arguments by length (a stand-in whose preference is known), recording what it saw."""

    def __init__(self):
        self.seen = []

    def option_probs(self, cases):
        self.seen += list(cases)
        p = np.array([[0.5 + 0.01 * len(c.turns[-2].argument), 0.0] for c in cases])
        p[:, 1] = 1 - p[:, 0]
        return p[:, ::-1]  # option 1 (kitchen) gets the length-based probability


def test_best_of_n_keeps_the_argument_the_judge_prefers_against_a_fixed_opponent(writer):
    case = case_of_question(QUESTION, [], (1, 0))  # debater 0 argues kitchen
    opponent = DebateTurn(1, 0, STORY[0], "Mary was in the garden.")
    judge = RecordingJudge()
    best, probs = best_of_n(writer, judge, case, debater=0, quote_index=2, n=4, opponent=opponent, seed=3)
    candidates = writer.write(STORY, QUESTION.question, "kitchen", 2, n=4, seed=3)
    assert probs == [0.5 + 0.01 * len(a.text) for a in candidates]
    assert best == candidates[int(np.argmax(probs))]
    assert len(judge.seen) == 4 and all(c.turns[-1] == opponent for c in judge.seen)
    assert all(c.turns[-2].sentence == 2 and c.turns[-2].debater == 0 for c in judge.seen)
    with pytest.raises(JudgeInputError, match="debater 2 argues no option"):
        best_of_n(writer, judge, case, debater=2, quote_index=2, n=1)


def test_an_argument_becomes_a_judge_turn_with_its_marks():
    text = 'I quote "Mary travelled to the kitchen" and "Mary flew to Paris".'
    turn = Argument(text, tuple(check_argument(text, STORY))).turn(0, 2, STORY[2])
    assert [(q.text, q.verified) for q in turn.argument_quotes] == [("Mary travelled to the kitchen", True),
                                                                    ("Mary flew to Paris", False)]
    assert isinstance(JudgeCase("q?", ("a", "b"), (0, 1), (turn,)), JudgeCase)


def test_the_real_model_writes_a_short_argument():
    folder = smollm2_folder()
    if folder is None:
        pytest.skip("the smollm2 weights are not on this machine (debate models fetch smollm2)")
    from judges.llm.tokenizer import load_tokenizer
    from judges.llm.weights import load_llama

    model, _, _ = load_llama(folder)
    real = ArgumentWriter(model, load_tokenizer(folder), word_limit=30, temperature=0.0)
    (argument,) = real.write(STORY, "Where is Mary?", "kitchen", 2)
    assert 3 <= len(argument.text.split()) <= 30, argument.text
    assert "kitchen" in argument.text.lower(), argument.text  # it argues its option
