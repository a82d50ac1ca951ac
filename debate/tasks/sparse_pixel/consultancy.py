"""Pixel consultancy: the sparse-pixel game in which one consultant reveals all K pixels.

See ``debate.core.consultancy`` for the protocol and how its accuracy is scored."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from debate.core.consultancy import ConsultancyResult
from debate.core.debaters import Debater, JudgeFn
from debate.core.runner import Runner
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask, State, instances


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


def consultancy_runner(task: SparsePixelTask, judge_fn: JudgeFn, judge_params, consultant: Debater,
                       batch_size: int = 256, mesh=None) -> Runner:
    """A runner of pixel consultancies: ``consultant`` makes every move of ``PixelConsultancyTask.of(task)``."""
    return Runner(PixelConsultancyTask.of(task), judge_fn, judge_params, [consultant], batch_size, mesh)


def consultancy_margins(runner: Runner, images, labels, liar_claims, consultant_role: int, key) -> np.ndarray:
    """[N] honest margins (judge logit of the true claim minus the other) after the consultant in
    ``consultant_role`` (HONEST or LIAR) revealed its K pixels."""
    games = runner.play(instances(images, np.asarray(labels, np.int32), np.asarray(liar_claims, np.int32)),
                        consultant_role, key)
    return games.honest_margin


def pixel_consultancy(runner: Runner, images, labels, liar_claims, key) -> ConsultancyResult:
    """Every instance once with an honest and once with a lying consultant."""
    honest = consultancy_margins(runner, images, labels, liar_claims, HONEST, jax.random.fold_in(key, HONEST))
    lying = consultancy_margins(runner, images, labels, liar_claims, LIAR, jax.random.fold_in(key, LIAR))
    return ConsultancyResult(honest_won=honest > 0, liar_won=lying <= 0)
