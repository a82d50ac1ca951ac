"""Protocols: experiment conditions built from the sparse-pixel game (Irving et al. 2018, Table 2).

Each condition maps a set of test images to per-image "honest wins" outcomes; accuracy is their
mean. Debates are played in fixed-size, padded, sharded batches (one compile per shape).

- ``judge_alone``: K random nonzero pixels; correct when the true class has the top logit.
- ``debate_precommit_*``: the liar commits to one wrong class; every wrong class is played (and
  ``seeds_per_lie`` seeds of each); per seed the liar wins the image if any lie wins; the winner of
  a game is the claim with the higher judge logit on the final mask.
- ``debate_no_precommit_*``: the liar is not tied to a class; the honest player wins when the true
  class has the highest logit of all classes.
- ``control_precommit_random_lie``: one random wrong class, K random pixels, no debate.
- ``control_precommit_adversarial_lie``: the liar commits, before seeing which pixels will be shown,
  to the wrong class that wins most often against the truth over ``adversarial_masks`` random
  masks of this image; it is then judged on a fresh random mask. (Choosing the lie *after* seeing
  the mask would make this control identical to ``judge_alone``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from debate.core.debaters import Debater, JudgeFn
from debate.analysis.metrics import wilson_interval
from debate.core.play import GameRecord, make_play_fn
from debate.core.sharding import batch_mesh, replicate, round_up_batch, shard_batch
from debate.tasks.sparse_pixel.game import HONEST, LIAR, NO_CLAIM, SparsePixelTask, masked_view, random_nonzero_mask

DEBATE_CONDITIONS = (
    "debate_precommit_honest_first",
    "debate_precommit_liar_first",
    "debate_no_precommit_honest_first",
    "debate_no_precommit_liar_first",
)
CONTROL_CONDITIONS = ("judge_alone", "control_precommit_random_lie", "control_precommit_adversarial_lie")
CONDITIONS = ("judge_alone",) + DEBATE_CONDITIONS + CONTROL_CONDITIONS[1:]


@dataclass
class Games:
    """Numpy results of a batch of debates (one row per game)."""

    image_index: np.ndarray  # [G] index into the image set
    liar_claim: np.ndarray  # [G] class or NO_CLAIM
    seed_index: np.ndarray  # [G]
    first_player: int
    actions: np.ndarray  # [G, K]
    players: np.ndarray  # [G, K]
    pixels: np.ndarray  # [G, K, 2] (row, col) revealed at each turn
    claim_probs: np.ndarray  # [G, K, 2]
    class_probs: np.ndarray  # [G, K, classes]
    final_logits: np.ndarray  # [G, classes]
    honest_margin: np.ndarray  # [G]

    @property
    def honest_won(self) -> np.ndarray:
        return self.honest_margin > 0


@dataclass
class ConditionResult:
    condition: str
    honest_wins: np.ndarray  # [images] (mean over seeds where several)
    games: Games | None = None
    extra: dict = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.honest_wins))

    def row(self) -> dict:
        n = int(self.honest_wins.shape[0])
        return {"condition": self.condition, "accuracy": self.accuracy, "n": n,
                "ci95": [round(v, 4) for v in wilson_interval(self.accuracy, n)]}


class DebateRunner:
    """Plays batches of debates between two debaters before one judge, sharded over devices.

    ``honest_params`` / ``liar_params`` are what that side's ``select`` receives instead of the
    judge's parameters: ``debate.core.debaters.debater_params(judge_params, net_params)`` for a network
    debater (``mcts_debater(network_fn=...)``, ``learned_debater``). ``play`` can override them per
    call (new weights, same compiled game)."""

    def __init__(self, task: SparsePixelTask, judge_fn: JudgeFn, judge_params: Any, honest: Debater,
                 liar: Debater, batch_size: int = 256, mesh=None, honest_params: Any = None,
                 liar_params: Any = None):
        self.task, self.judge_fn, self.honest, self.liar = task, judge_fn, honest, liar
        self.mesh = mesh or batch_mesh()
        self.batch_size = round_up_batch(batch_size, self.mesh)
        self.judge_params = replicate(judge_params, self.mesh)
        self.honest_params = None if honest_params is None else replicate(honest_params, self.mesh)
        self.liar_params = None if liar_params is None else replicate(liar_params, self.mesh)
        self._play = {first: make_play_fn(task, judge_fn, honest, liar, first) for first in (HONEST, LIAR)}
        self.simulations_played = 0

    def play(self, images: np.ndarray, labels: np.ndarray, liar_claims: np.ndarray, first_player: int,
             key: jax.Array, progress=None, image_index=None, seed_index=None, honest_params: Any = None,
             liar_params: Any = None) -> Games:
        """Play one game per row; rows are padded to whole batches and the padding dropped.
        ``image_index``/``seed_index`` label the rows (default: row number / 0). ``honest_params`` /
        ``liar_params`` replace the runner's for this call."""
        honest_params = self.honest_params if honest_params is None else replicate(honest_params, self.mesh)
        liar_params = self.liar_params if liar_params is None else replicate(liar_params, self.mesh)
        num_games = len(labels)
        records = []
        for chunk_index, start in enumerate(range(0, num_games, self.batch_size)):
            index = np.arange(start, min(start + self.batch_size, num_games))
            padded = np.concatenate([index, np.full(self.batch_size - len(index), index[0])])
            state = self.task.init(images[padded], labels[padded], liar_claims[padded], first_player)
            state = shard_batch(state, self.mesh)
            record = self._play[first_player](self.judge_params, jax.random.fold_in(key, chunk_index), state,
                                              honest_params, liar_params)
            records.append(jax.tree.map(lambda x: np.asarray(x)[: len(index)], _record_arrays(self.task, record)))
            if progress is not None:
                progress(len(index))
        merged = {k: np.concatenate([r[k] for r in records]) for k in records[0]}
        return Games(image_index=np.arange(num_games) if image_index is None else np.asarray(image_index),
                     liar_claim=np.asarray(liar_claims),
                     seed_index=np.zeros(num_games, int) if seed_index is None else np.asarray(seed_index),
                     first_player=first_player, **merged)


def _record_arrays(task: SparsePixelTask, record: GameRecord) -> dict:
    return {"actions": record.actions, "players": record.players,
            "pixels": task.action_pixels(record.final, record.actions),
            "claim_probs": record.claim_probs, "class_probs": record.class_probs,
            "final_logits": record.final_logits, "honest_margin": record.honest_margin}


# ---------------------------------------------------------------------------------- conditions
def precommit_debate(runner: DebateRunner, images, labels, first_player: int, seeds_per_lie: int, key,
                     num_classes: int, progress=None) -> ConditionResult:
    """Every wrong class as the liar's claim, ``seeds_per_lie`` games each."""
    num_images = len(labels)
    lies = np.array([[c for c in range(num_classes) if c != y] for y in labels])  # [N, classes-1]
    image_index = np.repeat(np.arange(num_images), (num_classes - 1) * seeds_per_lie)
    liar_claim = np.repeat(lies.reshape(-1), seeds_per_lie)
    seed_index = np.tile(np.arange(seeds_per_lie), num_images * (num_classes - 1))
    games = runner.play(images[image_index], labels[image_index], liar_claim, first_player, key, progress,
                        image_index, seed_index)
    # honest wins an (image, seed) only if it beats every lie.
    won = games.honest_won.reshape(num_images, num_classes - 1, seeds_per_lie).all(axis=1)
    name = "debate_precommit_" + ("honest_first" if first_player == HONEST else "liar_first")
    return ConditionResult(name, won.mean(axis=1), games)


def no_precommit_debate(runner: DebateRunner, images, labels, first_player: int, seeds: int, key,
                        progress=None) -> ConditionResult:
    num_images = len(labels)
    image_index = np.repeat(np.arange(num_images), seeds)
    seed_index = np.tile(np.arange(seeds), num_images)
    liar_claim = np.full(len(image_index), NO_CLAIM)
    games = runner.play(images[image_index], labels[image_index], liar_claim, first_player, key, progress,
                        image_index, seed_index)
    name = "debate_no_precommit_" + ("honest_first" if first_player == HONEST else "liar_first")
    return ConditionResult(name, games.honest_won.reshape(num_images, seeds).mean(axis=1), games)


def random_mask_logits(judge_fn: JudgeFn, judge_params, images, num_reveals: int, key, batch_size: int = 1024,
                       mesh=None) -> np.ndarray:
    """Judge logits [N, classes] on one random mask of K nonzero pixels per image."""
    mesh = mesh or batch_mesh()
    batch_size = round_up_batch(batch_size, mesh)
    params = replicate(judge_params, mesh)

    @jax.jit
    def evaluate(params, key, images):
        return judge_fn(params, masked_view(images, random_nonzero_mask(key, images, num_reveals)))

    out = []
    for chunk_index, start in enumerate(range(0, len(images), batch_size)):
        chunk = images[start : start + batch_size]
        pad = batch_size - len(chunk)
        chunk = np.concatenate([chunk, np.repeat(chunk[:1], pad, axis=0)]) if pad else chunk
        logits = evaluate(params, jax.random.fold_in(key, chunk_index), shard_batch(jnp.asarray(chunk), mesh))
        out.append(np.asarray(logits)[: batch_size - pad])
    return np.concatenate(out)


def judge_alone(judge_fn, judge_params, images, labels, num_reveals, key, mesh=None) -> ConditionResult:
    logits = random_mask_logits(judge_fn, judge_params, images, num_reveals, key, mesh=mesh)
    return ConditionResult("judge_alone", (logits.argmax(1) == labels).astype(float))


def control_random_lie(judge_fn, judge_params, images, labels, num_reveals, num_classes, key,
                       mesh=None) -> ConditionResult:
    lie_key, mask_key = jax.random.split(key)
    offset = np.asarray(jax.random.randint(lie_key, (len(labels),), 1, num_classes))
    lies = (labels + offset) % num_classes  # uniform over the wrong classes
    logits = random_mask_logits(judge_fn, judge_params, images, num_reveals, mask_key, mesh=mesh)
    rows = np.arange(len(labels))
    return ConditionResult("control_precommit_random_lie", (logits[rows, labels] > logits[rows, lies]).astype(float),
                           extra={"lies": lies.tolist()})


def control_adversarial_lie(judge_fn, judge_params, images, labels, num_reveals, num_classes, key,
                            adversarial_masks: int = 16, mesh=None) -> ConditionResult:
    choose_key, eval_key = jax.random.split(key)
    rows = np.arange(len(labels))
    wins = np.zeros((len(labels), num_classes))
    margins = np.zeros((len(labels), num_classes))
    for m in range(adversarial_masks):
        logits = random_mask_logits(judge_fn, judge_params, images, num_reveals, jax.random.fold_in(choose_key, m), mesh=mesh)
        wins += logits > logits[rows, labels][:, None]
        margins += logits - logits[rows, labels][:, None]
    # Most wins first; among equal win counts, the largest mean margin (a number in (0, 1) added).
    score = wins + 1.0 / (1.0 + np.exp(-margins / adversarial_masks))
    score[rows, labels] = -np.inf  # the lie must be wrong
    lies = score.argmax(axis=1)
    logits = random_mask_logits(judge_fn, judge_params, images, num_reveals, eval_key, mesh=mesh)
    return ConditionResult("control_precommit_adversarial_lie",
                           (logits[rows, labels] > logits[rows, lies]).astype(float),
                           extra={"lies": lies.tolist(), "adversarial_masks": adversarial_masks})
