"""The language-model judge (judges/llm/judge.py): its prompts show only what was quoted, its scores
are exactly invariant to option order and debater names, temperature scaling and calibration
numbers, the adapter from finished quote games, and, with the real SmolLM2 weights, easy questions.

A tiny random decoder with a byte-level tokenizer built here covers every code path quickly; the
real-weight tests need `debate models fetch smollm2` and skip, saying so, without it."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from debate.core.runner import Games
from debate.tasks.quote.passages import TextQuestion
from judges.llm.generate import PromptTooLong
from judges.llm.judge import (
    ArgumentQuote,
    DebateTurn,
    JudgeCase,
    JudgeInputError,
    LMJudge,
    calibration_report,
    case_of_question,
    case_of_transcript,
    cases_from_games,
    cases_from_quotes,
    fit_temperature,
    honest_margin,
    judge_messages,
    position_bias,
    probs_at,
    shifted,
)
from judges.llm.llama import Llama, LlamaSizes
from judges.llm.tokenizer import SMOLLM2_CHAT_TEMPLATE

STORY = ("Mary went to the garden.", "John picked up the apple.", "Mary travelled to the kitchen.",
         "John went to the office.", "Sandra moved to the park.")
QUESTION = TextQuestion(id="t:0", sentences=STORY, question="Where is Mary?", options=("garden", "kitchen"),
                        correct=1, supporting=(2,), misleading=((0,), ()))


def tiny_tokenizer():
    """Byte-level BPE: the 256 byte symbols, a space+letter merge for each ASCII letter (so " A" and
    " kitchen" begin with one token of their own) and SmolLM2's chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate(specials + alphabet + ["Ġ" + c for c in letters])}
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=[("Ġ", c) for c in letters]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=bpe, chat_template=SMOLLM2_CHAT_TEMPLATE, bos_token="<|im_start|>",
                                   eos_token="<|im_end|>", pad_token="<|im_end|>", additional_special_tokens=specials)


@pytest.fixture(scope="module")
def tiny():
    import jax

    tokenizer = tiny_tokenizer()
    sizes = LlamaSizes(vocab_size=len(tokenizer), hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2,
                       head_dim=8, intermediate_size=48, rope_theta=10000.0, rms_norm_eps=1e-5, max_positions=1024)
    model = Llama(sizes, rngs=nnx.Rngs(3))
    # larger weights than nnx's default so the random model has a clear preference for some labels
    nnx.update(model, jax.tree.map(lambda x: x * 3.0, nnx.state(model, nnx.Param)))
    return model, tokenizer


def debate_case(options=("garden", "kitchen"), claims=(1, 0)) -> JudgeCase:
    return case_of_question(replace(QUESTION, options=options, correct=0), [(2, 0), (0, 1)], claims)


def user_text(messages) -> str:
    return messages[-1]["content"]


# ------------------------------------------------------------------ prompts
def test_the_prompt_shows_the_quotes_and_never_the_unquoted_sentences():
    case = debate_case()
    for answer in ("label", "text"):
        text = user_text(judge_messages(case, ("Alice", "Bob"), answer=answer))
        assert "Mary travelled to the kitchen." in text and "Mary went to the garden." in text
        for unquoted in (STORY[1], STORY[3], STORY[4]):
            assert unquoted not in text
        assert "sentence 3" in text and "sentence 1" in text  # 1-based positions in the passage
        assert "Where is Mary?" in text
    text = user_text(judge_messages(case, ("Alice", "Bob")))
    assert "A. garden\nB. kitchen" in text and "Alice argues for B." in text and "Bob argues for A." in text
    swapped = user_text(judge_messages(case, ("Alice", "Bob"), option_order=[1, 0], name_order=[1, 0]))
    assert "A. kitchen\nB. garden" in swapped and "Bob argues for A." in swapped and "Alice argues for B." in swapped
    assert 'Bob quotes sentence 3: "Mary travelled to the kitchen."' in swapped


def test_blind_shows_no_debate_and_oracle_shows_every_sentence():
    case = debate_case()
    blind = user_text(judge_messages(case, mode="blind"))
    assert not any(s in blind for s in STORY) and "Alice" not in blind and "sentence" not in blind.lower()
    assert "A. garden" in blind and "Where is Mary?" in blind
    oracle = user_text(judge_messages(case, mode="oracle"))
    assert all(f"{i + 1}. {s}" in oracle for i, s in enumerate(STORY)) and "Alice" not in oracle
    with pytest.raises(JudgeInputError, match="no passage sentences"):
        judge_messages(replace(case, sentences=()), mode="oracle")


def test_free_text_arguments_carry_their_quote_marks():
    turn = DebateTurn(1, None, argument="Mary was last seen in the garden.",
                      argument_quotes=(ArgumentQuote("Mary went to the garden.", True),
                                       ArgumentQuote("Mary stayed in the garden.", False)))
    case = replace(debate_case(), turns=debate_case().turns + (turn,))
    text = user_text(judge_messages(case))
    assert "Bob: Mary was last seen in the garden." in text
    assert '(quote "Mary went to the garden.": verified, in the story)' in text
    assert '(quote "Mary stayed in the garden.": NOT found in the story)' in text


def test_bad_cases_are_one_sentence():
    with pytest.raises(JudgeInputError, match="different, non-empty options"):
        judge_messages(JudgeCase("Where?", ("a", "a")))
    with pytest.raises(JudgeInputError, match="unknown judge mode"):
        judge_messages(debate_case(), mode="jury")
    with pytest.raises(JudgeInputError, match="has no sentence 9"):
        case_of_question(QUESTION, [(9, 0)], (1, 0))


# ------------------------------------------------------------------ scores (tiny random model)
def three_option_case() -> JudgeCase:
    return JudgeCase("Where is Mary?", ("garden", "kitchen", "office"), claims=(1, 2),
                     turns=(DebateTurn(0, 2, STORY[2]), DebateTurn(1, 3, STORY[3])), id="three")


def permuted(case: JudgeCase, perm) -> JudgeCase:
    """New option j is old option perm[j]; the claims follow their options."""
    where = [list(perm).index(i) for i in range(len(perm))]
    return replace(case, options=tuple(case.options[p] for p in perm), claims=tuple(where[c] for c in case.claims))


@pytest.mark.parametrize("answer", ["label", "text"])
def test_averaged_scores_are_exactly_invariant_to_option_order_and_names(tiny, answer):
    model, tokenizer = tiny
    judge = LMJudge(model, tokenizer, answer=answer)
    renamed = LMJudge(model, tokenizer, answer=answer, names=("Bob", "Alice"))
    for case in (debate_case(), three_option_case()):
        base = judge.judge([case])
        np.testing.assert_allclose(base.probs.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(base.logits, np.log(base.raw).mean(axis=1), atol=1e-12)
        assert base.raw.shape == (1, 2 * len(case.options), len(case.options))
        for perm in itertools.permutations(range(len(case.options))):
            got = judge.judge([permuted(case, perm)]).probs[0]
            np.testing.assert_array_equal(got, base.probs[0, list(perm)])  # bit for bit
        np.testing.assert_array_equal(renamed.judge([case]).probs, base.probs)
    # and the average is over variants that really differ: the random model has a position bias
    label = judge.judge([debate_case()]) if answer == "label" else None
    if label is not None:
        assert np.abs(label.raw[0, 0] - label.raw[0, 2]).max() > 1e-3


def test_the_score_is_the_mean_over_both_option_orders_and_both_name_orders(tiny):
    from judges.llm.generate import next_token_logprobs
    from judges.llm.tokenizer import chat_prompt_ids

    model, tokenizer = tiny
    judge = LMJudge(model, tokenizer, answer="label")
    case = debate_case()  # options garden, kitchen: already in canonical (sorted) order
    a, b = judge.label_ids[:2]
    by_hand = []
    for order in ([0, 1], [1, 0]):
        for names in ([0, 1], [1, 0]):
            ids = chat_prompt_ids(tokenizer, judge_messages(case, ("Alice", "Bob"), "debate", order, names))
            ids += tokenizer("Answer:", add_special_tokens=False)["input_ids"]
            pair = next_token_logprobs(model, [ids], judge.pad_id)[0, [a, b]].astype(np.float64)
            pair -= np.logaddexp.reduce(pair)
            by_hand.append(pair[np.argsort(order)])  # label of option i is at position order.index(i)
    result = judge.judge([case])
    np.testing.assert_allclose(result.logits[0], np.mean(by_hand, axis=0), atol=1e-5)
    np.testing.assert_allclose(result.probs[0], np.exp(result.logits[0]) / np.exp(result.logits[0]).sum(), atol=1e-12)
    assert not np.allclose(by_hand[0], by_hand[2], atol=1e-3)  # the orders do disagree before averaging


def test_all_variants_of_all_cases_go_in_few_calls(tiny):
    model, tokenizer = tiny
    judge = LMJudge(model, tokenizer, answer="label", batch_size=16)
    cases = [debate_case(), debate_case(("park", "kitchen")), debate_case(("cellar", "kitchen"))]
    judge.judge(cases)
    assert judge.calls == 1 and {rows for rows, _ in judge.shapes} == {16}  # 12 prompts, one padded call
    blind = LMJudge(model, tokenizer, answer="label", mode="blind", batch_size=16)
    blind.judge(cases)  # blind prompts do not depend on the names: 6 distinct prompts
    assert blind.calls == 1 and {rows for rows, _ in blind.shapes} == {8}
    with pytest.raises(JudgeInputError, match="same number of options"):
        judge.judge([debate_case(), three_option_case()])


def test_position_bias_is_measured_before_and_removed_after_averaging(tiny):
    model, tokenizer = tiny
    judge = LMJudge(model, tokenizer, answer="label")
    cases = [debate_case(), debate_case(("park", "kitchen")), debate_case(("cellar", "kitchen"))]
    report = position_bias(judge, cases, correct=[1, 1, 1])
    assert report["averaged_flip_rate"] == 0.0 and report["averaged_max_difference"] == 0.0
    assert report["averaged_first_option_prob"] == pytest.approx(0.5, abs=1e-12)
    result = judge.judge(cases)
    first = np.take_along_axis(result.raw, result.order[:, :, :1], axis=2)
    assert report["raw_first_label_prob"] == pytest.approx(first.mean())
    assert report["raw_first_label_prob"] != pytest.approx(0.5, abs=1e-3)  # the random model is biased
    assert 0.0 <= report["raw_flip_rate"] <= 1.0 and 0.0 <= report["averaged_accuracy"] <= 1.0


def test_a_prompt_too_long_is_refused_in_one_sentence(tiny):
    model, tokenizer = tiny
    judge = LMJudge(model, tokenizer, max_prompt_tokens=200)
    with pytest.raises(PromptTooLong, match=r"^the judge prompt for case 't:0' is \d+ tokens, more than the limit "
                                            r"of 200; [^.]*\(the model's context is 1024\)\.$"):
        judge.judge([debate_case()])
    with pytest.raises(JudgeInputError, match="more than the model's context of 1024"):
        LMJudge(model, tokenizer, max_prompt_tokens=4096)


def test_text_answers_need_options_that_begin_differently(tiny):
    model, tokenizer = tiny
    judge = LMJudge(model, tokenizer, answer="text")
    with pytest.raises(JudgeInputError, match="begin with the same token"):
        judge.judge([debate_case(("kitchen", "kitchen garden"))])


# ------------------------------------------------------------------ calibration
def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(20000, 3))
    true_t = 2.5
    p = probs_at(logits, true_t)
    labels = (rng.random((len(p), 1)) > p.cumsum(axis=1)).sum(axis=1)  # a draw from softmax(logits / 2.5)
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.05)
    assert fit_temperature(logits / 4, labels) == pytest.approx(true_t / 4, rel=0.05)
    with pytest.raises(ValueError, match="must be positive"):
        probs_at(logits, 0.0)


def test_brier_and_ece_on_a_hand_computed_example():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    labels = np.array([0, 1, 1, 0])
    report = calibration_report(probs, labels, num_bins=10)
    # top choices 0, 0, 1, 1 with confidences .9 .8 .7 .6; right: yes, no, yes, no
    assert report["accuracy"] == 0.5
    assert report["brier"] == pytest.approx((0.1 ** 2 + 0.8 ** 2 + 0.3 ** 2 + 0.6 ** 2) / 4)
    # four bins of one: |1-.9| + |0-.8| + |1-.7| + |0-.6|, over 4
    assert report["ece"] == pytest.approx((0.1 + 0.8 + 0.3 + 0.6) / 4)
    assert report["log_loss"] == pytest.approx(-np.log([0.9, 0.2, 0.7, 0.4]).mean())


# ------------------------------------------------------------------ the quote task
def test_cases_from_finished_games_follow_who_quoted_what():
    questions = [QUESTION, replace(QUESTION, id="t:1")]
    games = Games({"actions": np.array([[2, 0, 4], [3, 1, 1]]), "players": np.array([[0, 1, 0], [1, 0, 1]]),
                   "quotes": np.array([[2, 0, 4], [3, 1, -1]]), "claims": np.array([[1, 0], [1, 0]]),
                   "honest_margin": np.zeros(2)})
    a, b = cases_from_games(games, questions)
    assert [(t.sentence, t.debater, t.text) for t in a.turns] == [(2, 0, STORY[2]), (0, 1, STORY[0]), (4, 0, STORY[4])]
    assert [(t.sentence, t.debater) for t in b.turns] == [(3, 1), (1, 0)]  # the -1 slot was never quoted
    assert a.claims == (1, 0) and a.options == QUESTION.options and a.sentences == STORY
    unargued = cases_from_quotes(questions, np.array([[2, -1], [0, 1]]))
    assert [t.debater for t in unargued[1].turns] == [-1, -1] and unargued[0].claims == ()
    assert "Sentence 1:" in user_text(judge_messages(unargued[1]))
    with pytest.raises(JudgeInputError, match="need the claims"):
        cases_from_quotes(questions, np.array([[2], [0]]), np.array([[0], [1]]))
    with pytest.raises(JudgeInputError, match="2 games but 1 questions"):
        cases_from_games(games, questions[:1])


def test_a_transcript_becomes_the_same_case_with_its_arguments():
    from debate.tasks.quote.game import QuoteTask
    from debate.tasks.quote.records import quote_games_to_transcripts

    games = Games({"actions": np.array([[2, 0]]), "players": np.array([[0, 1]]), "claims": np.array([[1, 0]]),
                   "claim_probs": np.full((1, 2, 2), 0.5), "final_logits": np.zeros((1, 2)),
                   "honest_margin": np.ones(1), "first_player": np.zeros(1, np.int64)})
    (transcript,) = quote_games_to_transcripts(games, [QUESTION], QuoteTask(num_quotes=2), "debate", ("a", "b"), "j", 0)
    case = case_of_transcript(transcript)
    assert case == replace(cases_from_games(games, [QUESTION])[0], id="t:0")
    transcript.turns[1].revealed.update(argument="Mary was in the garden first.",
                                        argument_quotes=[{"text": "Mary went to the garden.", "verified": True}])
    argued = case_of_transcript(transcript).turns[1]
    assert argued.argument == "Mary was in the garden first." and argued.argument_quotes == (
        ArgumentQuote("Mary went to the garden.", True),)


def test_judge_games_gives_one_distribution_per_game(tiny):
    model, tokenizer = tiny
    judge = LMJudge(model, tokenizer)
    games = Games({"actions": np.array([[2, 0]]), "players": np.array([[0, 1]]), "quotes": np.array([[2, 0]]),
                   "claims": np.array([[1, 0]]), "honest_margin": np.zeros(1)})
    probs = judge.judge_games(games, [QUESTION])
    assert probs.shape == (1, 2) and probs.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(probs, judge.judge_questions([QUESTION], [[2, 0]], [[0, 1]], [[1, 0]]))
    assert honest_margin(probs, [[1, 0]])[0] == pytest.approx(np.log(probs[0, 1] / probs[0, 0]))
    case, where = shifted(cases_from_games(games, [QUESTION])[0])
    assert case.options == ("kitchen", "garden") and case.claims == (0, 1) and where == [1, 0]


# ------------------------------------------------------------------ the real weights
def smollm2_folder() -> Path | None:
    from judges.model_files import ModelMissing, find_model

    try:
        return find_model("smollm2")
    except ModelMissing:
        return None


@pytest.fixture(scope="module")
def smollm2_judge():
    folder = smollm2_folder()
    if folder is None:
        pytest.skip("the smollm2 weights are not on this machine (debate models fetch smollm2)")
    return LMJudge.load(folder)


EASY = [
    (JudgeCase("Where is Mary?", ("kitchen", "garden"), claims=(0, 1),
               turns=(DebateTurn(0, 3, "Mary went to the kitchen."),)), 0),
    (JudgeCase("Where is John?", ("park", "office"), claims=(1, 0),
               turns=(DebateTurn(0, 6, "John journeyed to the office."),)), 1),
    (JudgeCase("Where is the apple?", ("cellar", "bedroom"), claims=(1, 0),
               turns=(DebateTurn(0, 2, "The apple is in the bedroom."),)), 1),
]


def test_real_judge_prefers_the_option_a_quote_states(smollm2_judge):
    judge = smollm2_judge
    result = judge.judge([case for case, _ in EASY])  # 6 distinct prompts (text answers ignore option order)
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-9)
    assert list(result.probs.argmax(axis=1)) == [right for _, right in EASY], result.probs
