"""One runner for every task: pad a set of games to whole batches, shard them over the devices'
``batch`` mesh axis, fold a key per chunk, play each chunk as one compiled call, and return one
numpy ``Games`` record.

    runner = Runner(task, judge_fn, judge_params, [honest, liar], batch_size=256)
    games = runner.play(instances, first_player=HONEST, key=key)
    games.honest_won, games.actions, games["pixels"]

Chunk ``i`` plays with ``jax.random.fold_in(key, i)``; padding repeats the chunk's first game and is
dropped, so a set of games gives the same record whatever the device count. Because a chunk's games
depend only on its index, a long set can keep each finished chunk (``chunks``, a ``ChunkStore``) and
an interrupted set, played again, replays only the chunks it had not finished: same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import jax
import numpy as np

from debate.core.debaters import Debater, JudgeFn
from debate.core.play import GameRecord, distinct, make_play_fn
from debate.core.sharding import batch_mesh, replicate, round_up_batch, shard_batch
from debate.core.task import Task

GENERIC_COLUMNS = ("actions", "players", "claim_probs", "class_probs", "final_logits", "honest_margin")


@dataclass
class Games:
    """Numpy results of a set of games, one row per game, for any task.

    ``columns`` holds every per-game array: the generic ones (``actions [G, T]``, ``players [G, T]``,
    ``claim_probs [G, T, C]``, ``class_probs [G, T, classes]``, ``final_logits``, ``honest_margin``,
    ``claims [G, C]``, ``first_player [G]``), the task's ``record_extras`` (e.g. ``pixels``), the instance's leaves
    (e.g. ``label``, ``liar_claim``, ``seed``) and the caller's row labels (e.g. ``image_index``).
    Columns read as attributes (``games.honest_margin``) or items (``games["pixels"]``)."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __getattr__(self, name: str):
        columns = self.__dict__.get("columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(f"these games have no column {name!r}; they have {', '.join(sorted(columns))}.")

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __len__(self) -> int:
        return len(self.columns["honest_margin"])

    @property
    def honest_won(self) -> np.ndarray:
        return self.honest_margin > 0

    def select(self, rows) -> "Games":
        """The games at ``rows`` (a boolean mask or indices)."""
        return Games({k: v[rows] for k, v in self.columns.items()})

    @staticmethod
    def concatenate(parts: Sequence["Games"]) -> "Games":
        return Games({k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns})


class ChunkStore(Protocol):
    """Where ``Runner.play`` keeps finished chunks of one set of games (e.g. files of a resumable run)."""

    def load(self, index: int, num_games: int) -> dict[str, np.ndarray] | None:
        """Chunk ``index``'s columns if it was kept with ``num_games`` rows, else None."""

    def save(self, index: int, columns: dict[str, np.ndarray]) -> None: ...


def instance_columns(instances) -> dict[str, np.ndarray]:
    """The leaves of an instance pytree by field name (e.g. ``image``, ``label``, ``liar_claim``)."""
    fields_ = getattr(instances, "__dataclass_fields__", {})
    return {name: np.asarray(getattr(instances, name)) for name in fields_ if getattr(instances, name) is not None}


def num_rows(instances) -> int:
    return len(jax.tree.leaves(instances)[0])


class Runner:
    """Plays sets of games of one task before one judge, sharded over devices.

    ``debaters`` is one debater per player id (``[honest, liar]``), one debater for every seat, or a
    league pool with ``seating`` passed to ``play``. ``debater_params`` gives each distinct debater
    what its ``select`` receives instead of the judge's parameters (``None`` entries: the judge's)."""

    def __init__(self, task: Task, judge_fn: JudgeFn, judge_params: Any, debaters: Sequence[Debater],
                 batch_size: int = 256, mesh=None, debater_params: Sequence[Any] | None = None):
        self.task, self.judge_fn = task, judge_fn
        self.debaters = list(debaters)
        self.pool, _ = distinct(self.debaters)
        self.mesh = mesh or batch_mesh()
        self.batch_size = round_up_batch(batch_size, self.mesh)
        self.judge_params = replicate(judge_params, self.mesh)
        self.debater_params = self._replicated(debater_params)
        self._play = make_play_fn(task, judge_fn, self.debaters)

    def _replicated(self, debater_params):
        if debater_params is None:
            return None
        if len(debater_params) != len(self.pool):
            raise ValueError(f"{len(debater_params)} debater_params for {len(self.pool)} distinct debaters; "
                             "give one entry (or None) per distinct debater.")
        return [None if p is None else replicate(p, self.mesh) for p in debater_params]

    def play(self, instances, first_player, key: jax.Array, seating=None, debater_params=None,
             row_labels: dict[str, np.ndarray] | None = None, progress: Callable[[int], Any] | None = None,
             judge_params: Any = None, chunks: ChunkStore | None = None) -> Games:
        """One game per row of ``instances`` (a numpy instance pytree, leading axis G);
        ``first_player`` a player id or [G] (per-game first players need one distinct debater);
        ``row_labels`` per-game arrays copied into the record. ``seating``, ``debater_params`` and
        ``judge_params`` replace the runner's for this call (new weights, same compiled game);
        ``chunks`` keeps each finished chunk and skips those already kept (resuming a set)."""
        params = self.debater_params if debater_params is None else self._replicated(debater_params)
        judge = self.judge_params if judge_params is None else replicate(judge_params, self.mesh)
        total = num_rows(instances)
        first = np.broadcast_to(np.asarray(first_player, np.int32), (total,))
        if len(self.pool) > 1 and len(set(first.tolist())) > 1:
            raise ValueError("games with different first players need one debater for every seat (self-play); "
                             "play each first player separately.")
        parts = []
        for chunk_index, start in enumerate(range(0, total, self.batch_size)):
            index = np.arange(start, min(start + self.batch_size, total))
            kept = chunks.load(chunk_index, len(index)) if chunks is not None else None
            if kept is not None:
                parts.append(kept)
                if progress is not None:
                    progress(len(index))
                continue
            padded = np.concatenate([index, np.full(self.batch_size - len(index), index[0])])
            batch = jax.tree.map(lambda x: np.asarray(x)[padded], instances)
            state = shard_batch(self.task.init(batch, first[padded]), self.mesh)
            record = self._play(judge, jax.random.fold_in(key, chunk_index), state, seating, params)
            parts.append({k: np.asarray(v)[: len(index)] for k, v in record_columns(self.task, record).items()})
            if chunks is not None:
                chunks.save(chunk_index, parts[-1])
            if progress is not None:
                progress(len(index))
        columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
        columns["first_player"] = first.copy()
        columns.update(instance_columns(instances))
        for name, values in (row_labels or {}).items():
            columns[name] = np.asarray(values)
        return Games(columns)


def record_columns(task: Task, record: GameRecord) -> dict[str, jax.Array]:
    """The per-game arrays of one compiled batch: the generic ones and the task's extras."""
    out = {name: getattr(record, name) for name in GENERIC_COLUMNS}
    out["claims"] = record.final.claims  # [B, C] as played (an instance may leave a claim to the task)
    out.update(record.extras)
    return out
