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
  discount +1 (``debate.core.debaters.make_recurrent_fn``); a search built on the debate task would plan
  against an opponent who never moves.
- **Computation task**: the consultant is the claimer and the judge, who cannot compute, picks the
  half to dispute at random (``random_challenger``); the judge checks the last step as in debate.
  A lying consultant that keeps its lie in one half survives a random challenger with probability
  about ``1 - 1/T``; against an informed challenger (debate) it never does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from debate.core.debaters import Debater, random_debater
from debate.analysis.metrics import wilson_interval


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
