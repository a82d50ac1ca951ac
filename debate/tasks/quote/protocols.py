"""The conditions of a text-debate experiment (Khan et al. 2024's table), each one accuracy over
questions with a 95% Wilson interval:

| condition | what the judge gets | correct when |
|---|---|---|
| ``blind`` | the question and options only (a judge trained that way) | it picks the correct option |
| ``random_quotes`` | K random sentences (the judge-alone control) | it picks the correct option |
| ``consultancy`` | K quotes by one consultant, honest for half the questions, lying for the other half | its verdict is the truth |
| ``debate`` | K quotes, alternating, honest first for half the questions and liar first for the other half | the honest debater wins |
| ``oracle`` | every sentence (a judge trained that way) | it picks the correct option |
| ``lexical`` | any of the above quotes, read by word overlap with the options (no training) | its option is correct (a tie: 0.5) |

The judge is equivariant in option order (``judges.quote_judge``), so its scores are already the mean
over both orders. Debaters are any ``debate.core.debaters.Debater`` on the task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from debate.analysis.metrics import wilson_interval
from debate.core.debaters import Debater, JudgeFn
from debate.core.runner import Games, Runner
from debate.tasks.quote.game import HONEST, LIAR, Instance, QuoteConsultancyTask, QuoteTask, quotes_view


@dataclass
class QuoteCondition:
    condition: str
    correct: np.ndarray  # [N] bool, one verdict per question (or per game)
    games: list[Games] | None = None  # the games played, for transcripts

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct)) if self.correct.size else float("nan")

    def row(self) -> dict:
        n = int(self.correct.size)
        return {"condition": self.condition, "accuracy": self.accuracy, "n": n,
                "ci95": [round(v, 4) for v in wilson_interval(self.accuracy, n)]}


def _rows(instance: Instance, index) -> Instance:
    return jax.tree.map(lambda x: None if x is None else np.asarray(x)[index], instance)


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random half of the questions and the other half (which ones get the honest first mover)."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def _chunks(chunks, part: str):
    return chunks(part) if chunks is not None else None


def debate(task: QuoteTask, judge_fn: JudgeFn, params, honest: Debater, liar: Debater, instance: Instance, key,
           batch_size: int = 256, seed: int = 0, chunks=None) -> QuoteCondition:
    """Half the questions with the honest debater quoting first, half with the liar first.
    ``chunks(part)``, where given, is the ``ChunkStore`` that keeps each finished batch of a half
    (``"honest_first"``, ``"liar_first"``), so an interrupted condition resumes."""
    runner = Runner(task, judge_fn, params, [honest, liar], batch_size)
    first_half, second_half = halves(len(instance.label), seed)
    games = [runner.play(_rows(instance, rows), first, jax.random.fold_in(key, first),
                         chunks=_chunks(chunks, part))
             for first, rows, part in ((HONEST, first_half, "honest_first"), (LIAR, second_half, "liar_first"))]
    return QuoteCondition("debate", np.concatenate([g.honest_margin > 0 for g in games]), games)


def consultancy(task: QuoteTask, judge_fn: JudgeFn, params, honest: Debater, liar: Debater, instance: Instance, key,
                batch_size: int = 256, seed: int = 0, chunks=None) -> QuoteCondition:
    """One consultant quotes all K sentences: honest for half the questions, lying for the others.
    Build search consultants on ``QuoteConsultancyTask.of(task)`` so they plan their own next quote.
    ``chunks(part)`` as in ``debate`` (parts ``"honest"``, ``"liar"``)."""
    consult = QuoteConsultancyTask.of(task)
    first_half, second_half = halves(len(instance.label), seed)
    games, correct = [], []
    for role, debater, rows in ((HONEST, honest, first_half), (LIAR, liar, second_half)):
        runner = Runner(consult, judge_fn, params, [debater, debater], batch_size)
        g = runner.play(_rows(instance, rows), role, jax.random.fold_in(key, role),
                        chunks=_chunks(chunks, "honest" if role == HONEST else "liar"))
        games.append(g)
        correct.append(g.honest_margin > 0)  # a lying consultant's verdict is right when it loses
    return QuoteCondition("consultancy", np.concatenate(correct), games)


def fixed_quotes_accuracy(judge_fn: JudgeFn, params, instance: Instance, quote_index, valid,
                          condition: str, batch_size: int = 512) -> QuoteCondition:
    """Accuracy when every question shows the given quotes (sides unargued)."""
    apply = jax.jit(lambda p, s, q, o, i, v: judge_fn(p, quotes_view(s, q, o, i, jnp.full(i.shape, -1), v)))
    n, out = len(instance.label), []
    for start in range(0, n, batch_size):
        rows = np.arange(start, start + batch_size) % n
        logits = apply(params, instance.sentences[rows], instance.question[rows], instance.options[rows],
                       jnp.asarray(quote_index[rows]), jnp.asarray(valid[rows]))
        out.append(np.asarray(logits).argmax(-1)[: min(batch_size, n - start)])
    return QuoteCondition(condition, np.concatenate(out) == np.asarray(instance.label))


def random_quotes(judge_fn: JudgeFn, params, instance: Instance, num_quotes: int, seed: int = 0) -> QuoteCondition:
    """K random sentences of each passage: the judge-alone control."""
    index, valid = random_quote_index(instance, num_quotes, seed)
    return fixed_quotes_accuracy(judge_fn, params, instance, index, valid, "random_quotes")


def blind(judge_fn: JudgeFn, params, instance: Instance) -> QuoteCondition:
    n = len(instance.label)
    return fixed_quotes_accuracy(judge_fn, params, instance, np.zeros((n, 0), np.int32), np.zeros((n, 0), bool),
                                 "blind")


def oracle(judge_fn: JudgeFn, params, instance: Instance) -> QuoteCondition:
    """Every sentence of the passage, in order."""
    valid = np.asarray(instance.sentence_valid)
    index = np.broadcast_to(np.arange(valid.shape[1], dtype=np.int32), valid.shape)
    return fixed_quotes_accuracy(judge_fn, params, instance, index, valid, "oracle")


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def lexical(questions, quote_index, valid, condition: str = "lexical") -> QuoteCondition:
    """The lexical baseline: per question, the option sharing the most words with the shown quotes
    (summed over quotes). A tie scores 0.5: the mean over both option orders of a judge that breaks
    ties by order. ``questions`` are the ``TextQuestion``s in the instance's row order;
    ``quote_index``/``valid`` [N, K] the quoted sentences, as for ``fixed_quotes_accuracy``."""
    quote_index, valid = np.asarray(quote_index), np.asarray(valid)
    if len(questions) != len(quote_index):
        raise ValueError(f"lexical: {len(questions)} questions but {len(quote_index)} rows of quotes; pass one row "
                         "of quotes per question.")
    correct = []
    for q, index, shown in zip(questions, quote_index, valid):
        quoted = [_words(q.sentences[i]) for i, ok in zip(index, shown) if ok]
        scores = np.array([sum(len(_words(o) & w) for w in quoted) for o in q.options])
        best = np.flatnonzero(scores == scores.max())
        correct.append(float(q.correct in best) / len(best))
    return QuoteCondition(condition, np.asarray(correct, np.float32))


def random_quote_index(instance: Instance, num_quotes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """K random valid sentences of each passage: (index [N, K], valid [N, K])."""
    rng = np.random.default_rng(seed)
    valid = np.asarray(instance.sentence_valid)
    scores = np.where(valid, rng.random(valid.shape), -1.0)
    index = np.argsort(-scores, axis=1)[:, :num_quotes].astype(np.int32)
    return index, np.take_along_axis(valid, index, 1)


def played_quotes(condition: QuoteCondition, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The sentences quoted in a ``debate`` or ``consultancy`` condition's games, back in question
    order (both conditions split the questions with ``halves(n, seed)``): (index [N, T], valid)."""
    if not condition.games:
        raise ValueError(f"the {condition.condition} condition kept no games; play it again to read its quotes.")
    rows = np.concatenate(halves(n, seed))
    actions = np.concatenate([np.asarray(g.actions) for g in condition.games])
    index = np.zeros_like(actions)
    index[rows] = actions
    return index.astype(np.int32), index >= 0


__all__ = ["QuoteCondition", "debate", "consultancy", "random_quotes", "blind", "oracle", "lexical", "random_quote_index", "played_quotes",
           "LIAR"]
