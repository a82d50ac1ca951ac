"""Consultancy: one debater argues alone before the judge (the baseline of Khan et al. 2024).

In debate two debaters argue opposite answers; in consultancy a single *consultant* is assigned
one answer (the true one or a wrong one, half the time each, without the judge knowing which) and
argues for it alone. The judge's accuracy is the share of verdicts that end with the truth:
``0.5 * P(honest consultant wins) + 0.5 * P(lying consultant loses)``, so a judge that always
believes (or always doubts) the consultant scores 0.5.

- **Pixel task**: ``PixelConsultancyTask`` is the sparse-pixel game in which the consultant reveals
  all K pixels (the player to move never changes; ``first_player`` names the consultant: ``HONEST``
  argues the true class, ``LIAR`` the wrong claim). The judge decides between the same two claims as
  in debate. Build search consultants on this task (``mcts_debater(PixelConsultancyTask.of(task),
  ...)``), so that their model knows the consultant moves again: search then backs values up with
  discount +1 (``debate.debaters.make_recurrent_fn``); a search built on the debate task would plan
  against an opponent who never moves.
- **Computation task**: the consultant is the claimer and the judge, who cannot compute, picks the
  half to dispute at random (``random_challenger``); the judge checks the last step as in debate.
  A lying consultant that keeps its lie in one half survives a random challenger with probability
  about ``1 - 1/T``; against an informed challenger (debate) it never does.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from debate.debaters import Debater, JudgeFn, random_debater
from debate.metrics import wilson_interval
from debate.play import make_symmetric_play_fn
from debate.sharding import batch_mesh, replicate, round_up_batch, shard_batch
from debate.sparse_pixel import HONEST, LIAR, SparsePixelTask, State


@dataclass(frozen=True)
class PixelConsultancyTask(SparsePixelTask):
    """The sparse-pixel game with one consultant revealing every pixel (``first_player``)."""

    name = "sparse_pixel_consultancy"

    def step(self, state: State, action) -> State:
        return super().step(state, action).replace(current_player=state.current_player)

    @classmethod
    def of(cls, task: SparsePixelTask) -> "PixelConsultancyTask":
        return cls(num_reveals=task.num_reveals, height=task.height, width=task.width,
                   num_classes=task.num_classes, max_candidates=task.max_candidates)


def random_challenger() -> Debater:
    """The judge's own challenge in computation consultancy: a half picked uniformly at random."""
    debater = random_debater()
    return Debater("random-challenger", debater.select)


@dataclass
class ConsultancyResult:
    """Per instance, whether the honest consultant won and whether the lying consultant won."""

    honest_won: np.ndarray  # [N] bool
    liar_won: np.ndarray  # [N] bool

    @property
    def accuracy(self) -> float:
        return float(0.5 * np.mean(self.honest_won) + 0.5 * np.mean(~self.liar_won))

    def row(self) -> dict:
        n = int(self.honest_won.size + self.liar_won.size)  # verdicts, half with each consultant
        lo, hi = wilson_interval(self.accuracy, n)
        return {"accuracy": self.accuracy, "ci95": [round(lo, 4), round(hi, 4)], "verdicts": n,
                "honest_consultant_win_rate": float(np.mean(self.honest_won)),
                "lying_consultant_win_rate": float(np.mean(self.liar_won))}


class PixelConsultancyRunner:
    """Plays pixel consultancies of one consultant, padded to whole batches and sharded."""

    def __init__(self, task: SparsePixelTask, judge_fn: JudgeFn, judge_params, consultant: Debater,
                 batch_size: int = 256, mesh=None):
        self.task = PixelConsultancyTask.of(task)
        self.mesh = mesh or batch_mesh()
        self.batch_size = round_up_batch(batch_size, self.mesh)
        self.judge_params = replicate(judge_params, self.mesh)
        self.consultant = consultant
        self._play = make_symmetric_play_fn(self.task, judge_fn, consultant)

    def margins(self, images, labels, liar_claims, consultant_role: int, key) -> np.ndarray:
        """[N] honest margins (judge logit of the true claim minus the other) after the consultant
        in ``consultant_role`` (HONEST or LIAR) revealed its K pixels."""
        labels, liar_claims = np.asarray(labels, np.int32), np.asarray(liar_claims, np.int32)
        out = []
        for chunk_index, start in enumerate(range(0, len(labels), self.batch_size)):
            index = np.arange(start, min(start + self.batch_size, len(labels)))
            padded = np.concatenate([index, np.full(self.batch_size - len(index), index[0])])
            state = self.task.init(images[padded], labels[padded], liar_claims[padded], consultant_role)
            record = self._play(self.judge_params, jax.random.fold_in(key, chunk_index), shard_batch(state, self.mesh))
            out.append(np.asarray(record.honest_margin)[: len(index)])
        return np.concatenate(out)

    def play(self, images, labels, liar_claims, key) -> ConsultancyResult:
        """Every instance once with an honest and once with a lying consultant."""
        honest = self.margins(images, labels, liar_claims, HONEST, jax.random.fold_in(key, HONEST))
        lying = self.margins(images, labels, liar_claims, LIAR, jax.random.fold_in(key, LIAR))
        return ConsultancyResult(honest_won=honest > 0, liar_won=lying <= 0)


def computation_consultancy(runner_factory, consultant: Debater, seeds, liar_claims, key) -> ConsultancyResult:
    """Bisection consultancy: ``consultant`` as the claimer against ``random_challenger``, honest on
    every instance and lying on every instance. ``runner_factory(honest, liar)`` builds a
    ``debate.computation_protocols.ComputationDebateRunner``."""
    challenger = random_challenger()
    honest = runner_factory(consultant, challenger).play(seeds, liar_claims, HONEST, jax.random.fold_in(key, HONEST))
    lying = runner_factory(challenger, consultant).play(seeds, liar_claims, LIAR, jax.random.fold_in(key, LIAR))
    return ConsultancyResult(honest_won=honest.honest_won, liar_won=~lying.honest_won)


__all__ = ["PixelConsultancyTask", "PixelConsultancyRunner", "ConsultancyResult", "random_challenger",
           "computation_consultancy"]
