"""The engine-facing surface of the sparse-pixel task (the contract is in ``debate.core.task``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from debate.core.runner import Games
from debate.tasks.sparse_pixel.game import (LIAR, NO_CLAIM, Instance, SparsePixelTask, default_max_candidates,
                                            instances)
from debate.tasks.sparse_pixel.records import games_to_transcripts
from debate.tasks.sparse_pixel import self_play as SELF_PLAY  # noqa: F401, N812 (what training.self_play needs)
from debate.tasks.sparse_pixel.network import NetworkConfig, make_network, network_function  # noqa: F401

NAME = SparsePixelTask.name
Task = SparsePixelTask
DEBATER_KINDS: dict = {}  # only the generic kinds (random, greedy, mcts-N, learned)


def make_task(**config) -> SparsePixelTask:
    return SparsePixelTask(**config)


def example(key: jax.Array, num_games: int, task: SparsePixelTask | None = None) -> tuple[SparsePixelTask, Instance]:
    """A small game and ``num_games`` random sparse images (no data files): for tests and demos."""
    task = task or SparsePixelTask(num_reveals=3, height=5, width=5, num_classes=4)
    k_ink, k_value, k_label, k_lie = jax.random.split(key, 4)
    shape = (num_games, task.height, task.width)
    images = jnp.where(jax.random.uniform(k_ink, shape) < 0.5, jax.random.uniform(k_value, shape, minval=0.1), 0.0)
    labels = jax.random.randint(k_label, (num_games,), 0, task.num_classes)
    lies = (labels + jax.random.randint(k_lie, (num_games,), 1, task.num_classes)) % task.num_classes
    # uint8, as transcripts store images: a replayed game sees exactly the same pixels
    images = np.round(np.asarray(images) * 255).astype(np.uint8)
    return task, instances(images, np.asarray(labels, np.int32), np.asarray(lies, np.int32))


def task_of(transcript) -> SparsePixelTask:
    """The game a stored transcript was played in (K and candidate count from its meta where recorded,
    else K = its number of turns and the default candidate count)."""
    inst = transcript.instance
    height, width = int(inst["height"]), int(inst["width"])
    meta = transcript.meta or {}
    k = int(meta.get("num_reveals") or len(transcript.turns))
    max_candidates = meta["max_candidates"] if "max_candidates" in meta else default_max_candidates(height, width)
    if transcript.turns and max_candidates is not None and max(t.action for t in transcript.turns) >= max_candidates:
        max_candidates = None
    num_classes = int(meta.get("num_classes") or 0) or max(
        len(transcript.turns[0].judge_class_probs or []) if transcript.turns else 0, 10, transcript.ground_truth + 1)
    return SparsePixelTask(num_reveals=max(k, 1), height=height, width=width, num_classes=num_classes,
                           max_candidates=max_candidates)


def instance_of(transcript) -> Instance:
    """The stored image (0..255), the true class and the liar's claim, as a batch of one."""
    inst = transcript.instance
    image = np.asarray(inst["pixels"], np.uint8).reshape(int(inst["height"]), int(inst["width"]))
    liar = transcript.claims[LIAR] if len(transcript.claims) > LIAR else None
    return instances(jnp.asarray(image[None]), jnp.asarray([transcript.ground_truth], jnp.int32),
                     jnp.asarray([NO_CLAIM if liar is None else liar], jnp.int32))


def check_turn(task: SparsePixelTask, state, turn, transcript) -> None:
    """The pixel the transcript says a turn revealed is the one its action reveals."""
    pixel = int(state.candidates[0, int(turn.action)])
    said = (turn.revealed.get("row"), turn.revealed.get("col"))
    if (pixel // task.width, pixel % task.width) != said:
        raise ValueError(f"turn {turn.index + 1} of transcript {str(transcript.id)[:8]} says pixel {said} but replaying "
                         f"its action reveals ({pixel // task.width}, {pixel % task.width}); it was played with other "
                         "candidates.")


def to_transcripts(task: SparsePixelTask, games: Games, *, protocol: str, debaters, judge: str, seed: int,
                   instance_ids=None, experiment: str | None = None) -> list:
    """One transcript per game of a ``Runner`` record (its columns hold each game's image and label)."""
    rows = Games({**games.columns, "image_index": np.arange(len(games))})
    rows.columns.setdefault("seed_index", np.zeros(len(games), int))
    ids = instance_ids if instance_ids is not None else [f"example:{i}" for i in range(len(games))]
    out = games_to_transcripts(rows, games["image"], games["label"], list(ids), protocol, tuple(debaters), judge, seed,
                               experiment)
    for transcript in out:
        transcript.meta.update({"num_reveals": task.num_reveals, "max_candidates": task.max_candidates,
                                "num_classes": task.num_classes})
    return out
