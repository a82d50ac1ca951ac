"""Pixel consultancy: the sparse-pixel game in which one consultant reveals all K pixels.

See ``debate.core.consultancy`` for the protocol and how its accuracy is scored."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from debate.core.consultancy import ConsultancyResult
from debate.core.debaters import Debater, JudgeFn
from debate.core.play import make_symmetric_play_fn
from debate.core.sharding import batch_mesh, replicate, round_up_batch, shard_batch
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask, State


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
