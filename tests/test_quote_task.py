"""The quote task: generated stories, the game's rules, transcripts, the quote judge, debaters."""

from __future__ import annotations

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from debate.core.debaters import mcts_debater, random_debater
from debate.core.runner import Runner
from debate.records import rendering
from debate.records.transcript import Transcript, TranscriptError
from debate.tasks.quote import api, data, protocols, stories
from debate.tasks.quote.game import HONEST, LIAR, QuoteConsultancyTask, QuoteTask
from debate.tasks.quote.passages import PassageError, TextQuestion, split_sentences
from judges.quote_judge import quote_judge_function
from training.quote_judge_training import (QuoteTrainConfig, judge_accuracy, train_quote_judge, words_arrays,
                                           words_embedder, words_judge_config)


# ------------------------------------------------------------------------------------ stories
def answer_by_reading(q: TextQuestion) -> str:
    """The answer worked out again from the sentences' text alone (an independent reading)."""
    where, holder, lying = {}, {}, {}
    history: dict[str, list[str]] = {}
    for s in q.sentences:
        if m := re.match(r"(\w+) (?:went|moved|travelled|journeyed|walked) to the (\w+)\.", s):
            where[m[1]] = m[2]
            history.setdefault(m[1], []).append(m[2])
            for obj, h in holder.items():
                if h == m[1]:
                    lying[obj] = m[2]
        elif m := re.match(r"(\w+) (?:picked up|got|grabbed|took) the (\w+)\.", s):
            holder[m[2]] = m[1]
            lying[m[2]] = where[m[1]]
        elif m := re.match(r"(\w+) (?:dropped|put down|left) the (\w+)\.", s):
            holder.pop(m[2])
    if m := re.match(r"Where is the (\w+)\?", q.question):
        return lying[m[1]]
    if m := re.match(r"Where is (\w+)\?", q.question):
        return where[m[1]]
    m = re.match(r"Where was (\w+) before the (\w+)\?", q.question)
    visits = history[m[1]]
    return visits[visits.index(m[2]) - 1]


@pytest.mark.parametrize("level", list(stories.LEVELS))
def test_stories_are_deterministic_and_answered_by_construction(level):
    a, b = stories.generate(level, 300, seed=5), stories.generate(level, 300, seed=5)
    assert [q.to_dict() for q in a] == [q.to_dict() for q in b]
    assert [q.to_dict() for q in a] != [q.to_dict() for q in stories.generate(level, 300, seed=6)]
    for q in a:
        assert q.options[q.correct] == answer_by_reading(q), q.id
        wrong = 1 - q.correct
        assert q.misleading[q.correct] == () and len(q.misleading[wrong]) == 1
        # the liar's quote is true and names its option; the supporting facts name the answer's place or holder
        assert q.options[wrong] in q.sentences[q.misleading[wrong][0]]
        assert q.options[q.correct] in " ".join(q.sentences[i] for i in q.supporting)
    kinds = {q.kind for q in a}
    assert kinds == set(stories.LEVELS[level].kinds)


def test_story_options_and_positions_say_nothing_alone():
    qs = stories.generate("medium", 4000, seed=0)
    assert abs(np.mean([q.correct for q in qs]) - 0.5) < 0.03
    # an option's prior (how often that place is right, fitted on half) predicts the other half at chance
    prior: dict[str, list[int]] = {}
    for q in qs[:2000]:
        for i, o in enumerate(q.options):
            prior.setdefault(o, []).append(int(i == q.correct))
    guess = [int(np.argmax([np.mean(prior.get(o, [0.5])) for o in q.options])) for q in qs[2000:]]
    assert abs(np.mean(np.asarray(guess) == [q.correct for q in qs[2000:]]) - 0.5) < 0.03


def test_bad_sources_and_questions_are_one_sentence():
    with pytest.raises(PassageError, match="unknown question source 'novels'; choose one of"):
        data.load_questions("novels", 3)
    with pytest.raises(PassageError, match="unknown story level"):
        data.load_questions("stories-extreme", 3)
    q = stories.generate("easy", 1)[0]
    task = QuoteTask(num_quotes=2, max_sentences=8, dim=16)
    with pytest.raises(PassageError, match="12 sentences, more than the maximum of 8"):
        data.instances_of([q], data.hashed_embedder(16), task)
    with pytest.raises(ValueError, match="num_quotes 9 is more than the 8 sentences"):
        QuoteTask(num_quotes=9, max_sentences=8)
    with pytest.raises(PassageError, match="at least two different"):
        TextQuestion(id="x", sentences=("A.",), question="Q?", options=("a", "a"), correct=0)
    assert split_sentences("Mr. Knightley came. “Who?” said Emma. She left!") == [
        "Mr. Knightley came.", "“Who?” said Emma.", "She left!"]


# ------------------------------------------------------------------------------------ the rules
def test_quotes_are_distinct_alternate_and_stop_at_k():
    task, instance = api.example(jax.random.key(0), 3)
    state = task.init(instance, 1)
    state = task.step(state, jnp.asarray([2, 2, 2]))
    assert state.current_player.tolist() == [0, 0, 0] and state.quoted_by[:, 2].tolist() == [1, 1, 1]
    again = task.step(state, jnp.asarray([2, 2, 2]))  # quoting a sentence twice is a no-op
    assert again.turn.tolist() == [1, 1, 1] and not bool(again.legal_action_mask[0, 2])
    beyond = task.step(state, jnp.asarray([15, 15, 15]))  # past the 12-sentence passage: illegal
    assert beyond.turn.tolist() == [1, 1, 1]
    for a in (3, 4, 5):
        state = task.step(state, jnp.full(3, a))
    assert bool(state.terminated.all()) and not bool(state.legal_action_mask.any())
    assert state.quotes[0].tolist() == [2, 3, 4, 5] and state.quoted_by[0, 2:6].tolist() == [1, 0, 1, 0]
    view = task.judge_view(state)
    assert view.side[0].tolist() == [int(state.claims[0, 1]), int(state.claims[0, 0])] * 2


def test_a_consultant_makes_every_quote():
    task, instance = api.example(jax.random.key(1), 2)
    consult = QuoteConsultancyTask.of(task)
    state = consult.init(instance, LIAR)
    for a in range(task.num_quotes):
        state = consult.step(state, jnp.full(2, a))
    assert state.quoted_by[0, :4].tolist() == [LIAR] * 4 and bool(state.terminated.all())


def _transcripts(task, instance, first=HONEST):
    judge_fn, params = _linear_judge(task)
    games = Runner(task, judge_fn, params, [random_debater()], batch_size=4).play(instance, first, jax.random.key(3))
    return api.to_transcripts(task, games, protocol="debate", debaters=["random", "random"], judge="linear", seed=0)


def _linear_judge(task):
    w = jnp.asarray(np.random.default_rng(0).normal(size=(task.dim,)), jnp.float32)
    return (lambda p, view: jnp.einsum("bod,d->bo", view.options, p) + view.quotes.sum(1)[:, None, :] @ p), w


def test_transcripts_keep_the_rules_render_redacted_and_refuse_broken_ones():
    task, instance = api.example(jax.random.key(2), 4)
    (t, *_) = _transcripts(task, instance)
    assert Transcript.from_json(t.to_json()) == t
    text = rendering.describe_transcript(t)
    assert t.instance["question"] in text and "not quoted" in text
    redacted = rendering.final_evidence(t).splitlines()
    quoted = sorted(turn.action for turn in t.turns)
    assert [line for line in redacted if not line.startswith("[")] == [
        f"{i + 1}. {t.instance['sentences'][i]}" for i in quoted]
    for mutate, message in (
            (lambda d: d["turns"][1].update(action=d["turns"][0]["action"],
                                            revealed=d["turns"][0]["revealed"]), "again"),
            (lambda d: d["turns"][0]["revealed"].update(text="Mary flew to the moon."), "records"),
            (lambda d: d["turns"][1].update(player=d["turns"][0]["player"]), "alternate"),
            (lambda d: d["turns"][0].update(action=40), "not a sentence"),
            (lambda d: d.update(claims=[d["claims"][0], d["claims"][0]]), "other than the correct"),
            (lambda d: d["instance"].update(options=["kitchen", "kitchen"]), "different")):
        d = t.to_dict()
        mutate(d)
        with pytest.raises(TranscriptError, match=message):
            Transcript.from_dict(d)


# ------------------------------------------------------------------------------------ the judge
@pytest.fixture(scope="module")
def trained():
    """A quote judge (K=2) and a blind judge trained briefly on easy stories."""
    import tempfile

    train_q = stories.generate("easy", 2000, seed=0)
    test_q = stories.generate("easy", 2000, seed=1)
    out = {}
    for name, k, steps in (("quote", 2, 700), ("blind", 0, 300)):
        config, tokenizer = words_judge_config(train_q, num_quotes=k)
        model, _ = train_quote_judge(words_arrays(train_q, tokenizer, config),
                                     QuoteTrainConfig(judge=config, steps=steps, checkpoint_every=steps),
                                     tempfile.mkdtemp(), tokenizer=tokenizer, progress=False, log=lambda *_: None)
        out[name] = (model, tokenizer, words_arrays(test_q, tokenizer, config))
    return out, test_q


def test_the_blind_judge_is_at_chance_over_2000_questions(trained):
    judges, _ = trained
    model, _, test = judges["blind"]
    assert abs(judge_accuracy(model, test, 0) - 0.5) <= 0.03


def test_the_judge_learns_to_weigh_quotes_and_is_equivariant_in_option_order(trained):
    judges, test_q = trained
    model, tokenizer, test = judges["quote"]
    task = QuoteTask(num_quotes=2, max_sentences=64, dim=model.config.dim, encoder="words")
    instance = data.instances_of(test_q[:500], words_embedder(model, tokenizer), task)
    judge_fn, params = quote_judge_function(model)
    expert = api.expert_debater(task)
    result = protocols.debate(task, judge_fn, params, expert, expert, instance, jax.random.key(0), batch_size=250)
    assert result.accuracy >= 0.75  # chance is 0.5; random quotes give about 0.55
    # swapping the options (and who argues which) swaps the scores exactly
    state = task.init(jax.tree.map(lambda x: x[:8], instance), 0)
    state = task.step(task.step(state, jnp.asarray(np.asarray(instance.supporting[:8]).argmax(1))),
                      jnp.zeros(8, jnp.int32) + 1)
    view = task.judge_view(state)
    swapped = view.replace(options=view.options[:, ::-1], side=jnp.where(view.side >= 0, 1 - view.side, -1))
    np.testing.assert_allclose(judge_fn(params, swapped)[:, ::-1], judge_fn(params, view), atol=1e-5)


def test_the_lexical_baseline_counts_shared_words_and_halves_ties():
    q = TextQuestion(id="t:0", sentences=("Mary went to the kitchen.", "John went to the garden.", "Mary sang."),
                     question="Where is Mary?", options=("kitchen", "garden"), correct=0)
    index = np.array([[0, 2], [1, 2], [2, 2], [0, 1]], np.int32)
    valid = np.array([[True, True], [True, True], [True, True], [True, False]])
    result = protocols.lexical([q] * 4, index, valid)
    # kitchen quoted: right; garden quoted: wrong; neither: tie; kitchen shown, garden hidden: right
    np.testing.assert_array_equal(result.correct, [1.0, 0.0, 0.5, 1.0])
    assert result.accuracy == 0.625 and result.row()["n"] == 4
    with pytest.raises(ValueError, match="one row of quotes per question"):
        protocols.lexical([q], index, valid)


def test_played_quotes_come_back_in_question_order(trained):
    judges, test_q = trained
    model, tokenizer, _ = judges["quote"]
    task = QuoteTask(num_quotes=2, max_sentences=64, dim=model.config.dim, encoder="words")
    questions = test_q[:20]
    instance = data.instances_of(questions, words_embedder(model, tokenizer), task)
    judge_fn, params = quote_judge_function(model)
    expert = api.expert_debater(task)
    result = protocols.debate(task, judge_fn, params, expert, expert, instance, jax.random.key(0), batch_size=8)
    index, valid = protocols.played_quotes(result, len(questions))
    assert valid.all() and index.shape == (20, 2)
    for q, quoted in zip(questions, index):
        # the expert honest debater quotes a supporting fact, the liar a misleading one, of *this* question
        assert set(quoted) & set(q.supporting)
    assert protocols.lexical(questions, index, valid).correct.shape == (20,)


def test_search_beats_random_as_either_side(trained):
    judges, test_q = trained
    model, tokenizer, _ = judges["quote"]
    task = QuoteTask(num_quotes=2, max_sentences=64, dim=model.config.dim)
    instance = data.instances_of(test_q[:128], words_embedder(model, tokenizer), task)
    judge_fn, params = quote_judge_function(model)
    mcts, rand = mcts_debater(task, judge_fn, 16), random_debater()
    honest_mcts = protocols.debate(task, judge_fn, params, mcts, rand, instance, jax.random.key(1), batch_size=128)
    liar_mcts = protocols.debate(task, judge_fn, params, rand, mcts, instance, jax.random.key(1), batch_size=128)
    both_random = protocols.debate(task, judge_fn, params, rand, rand, instance, jax.random.key(1), batch_size=128)
    assert honest_mcts.accuracy > both_random.accuracy + 0.1
    assert liar_mcts.accuracy < both_random.accuracy - 0.1


def test_a_judge_over_a_frozen_encoder_trains_on_each_distinct_text_once(tmp_path):
    from judges.quote_judge import QuoteJudgeConfig
    from training.quote_judge_training import cached_embedder, frozen_arrays, load_quote_judge

    calls = []
    hashed = data.hashed_embedder(24)
    embed = cached_embedder(lambda texts: calls.append(len(texts)) or hashed(texts))
    questions = stories.generate("easy", 200, seed=3)
    config = QuoteJudgeConfig(dim=24, num_quotes=2, encoder="minilm")
    arrays = frozen_arrays(questions, embed, config)
    distinct = {t for q in questions for t in (*q.sentences, q.question, *q.options)}
    assert arrays["table"].shape == (len(distinct), 24) and calls == [len(distinct)]
    np.testing.assert_allclose(arrays["table"][arrays["sentences"][0, 3]], hashed([questions[0].sentences[3]])[0])
    embed([questions[0].sentences[0]])
    assert calls == [len(distinct)]  # cached
    model, _ = train_quote_judge(arrays, QuoteTrainConfig(judge=config, steps=3, checkpoint_every=3), tmp_path,
                                 progress=False, log=lambda *_: None)
    loaded, loaded_config, tokenizer = load_quote_judge(tmp_path)
    assert loaded_config.judge == config and tokenizer is None
    task = QuoteTask(num_quotes=2, max_sentences=64, dim=24)
    instance = data.instances_of(questions[:4], hashed, task)
    view = task.judge_view(task.init(instance, 0))
    np.testing.assert_allclose(quote_judge_function(loaded)[0](quote_judge_function(loaded)[1], view),
                               quote_judge_function(model)[0](quote_judge_function(model)[1], view), atol=1e-6)


# its own folder: tests/golden/*.json are the migrated schema-1 files (tests/test_golden_transcripts.py)
GOLDEN = __import__("pathlib").Path(__file__).parent / "golden" / "quote" / "greedy_debate.json"


def golden_quote_debate() -> dict:
    """A greedy text debate on a fixed story, hashed word vectors and a fixed linear judge."""
    from debate.core.debaters import greedy_debater

    task = QuoteTask(num_quotes=4, max_sentences=16, dim=32, encoder="hashed")
    question = stories.generate("easy", 1, seed=11)[0]
    instance = data.instances_of([question], data.hashed_embedder(32), task)
    judge_fn, w = _linear_judge(task)
    greedy = greedy_debater(task, judge_fn)
    games = Runner(task, judge_fn, w, [greedy, greedy], batch_size=1).play(instance, LIAR, jax.random.key(0))
    (t,) = api.to_transcripts(task, games, protocol="debate_liar_first", debaters=["greedy", "greedy"],
                              judge="linear", seed=0, instance_ids=[question.id])
    d = t.to_dict()
    for volatile in ("id", "created_at"):
        d.pop(volatile)
    return json.loads(json.dumps(d))


def test_the_golden_text_debate_is_played_again_exactly():
    """Regenerate after an intended rule change only: ``python tests/test_quote_task.py --write``."""
    expected = json.loads(GOLDEN.read_text())
    got = golden_quote_debate()
    for turn_got, turn_expected in zip(got.pop("turns"), expected.pop("turns")):
        probs_got, probs_expected = turn_got.pop("judge_probs"), turn_expected.pop("judge_probs")
        np.testing.assert_allclose(probs_got, probs_expected, atol=1e-5)
        assert turn_got == turn_expected
    got["meta"], expected["meta"] = (np.round(np.asarray(got["meta"]["final_logits"]), 4).tolist(),
                                     np.round(np.asarray(expected["meta"]["final_logits"]), 4).tolist())
    assert got == expected


if __name__ == "__main__" and "--write" in __import__("sys").argv:
    GOLDEN.write_text(json.dumps(golden_quote_debate(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
