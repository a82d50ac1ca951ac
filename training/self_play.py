"""AlphaZero-style self-play for learned debaters: one loop for every task.

One iteration:

1. **Self-play**: a batch of debates on instances the task draws (``Setup.draw``: self-play images
   and random lies, or fresh computations), both sides the same network inside mctx Gumbel search
   (``debate.core.debaters.mcts_debater(network_fn=...)``, ``gumbel_scale > 0`` for exploration);
   the first player alternates from game to game.
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
follow the run's choice. The game batch of self-play and the minibatch of training are sharded over
all local devices (``debate.core.sharding``); parameters are replicated.

**What a task provides.** This module names no task: it finds a task's pieces through its ``api``
module (``debate.tasks.api(name)``): ``NetworkConfig``, ``make_network(config, seed)``,
``network_function(task, model) -> (network_fn, params)`` (``network_fn(params, state) -> (prior
logits [B, A], value [B])``, ``ValueError`` when the network does not fit the task) and
``SELF_PLAY``, a module (``debate/tasks/<name>/self_play.py``) with

- ``Settings``: a frozen dataclass of the task's own options (game, data, judge, network,
  evaluation sets); each is a command-line flag (field metadata ``zero_is_none``: 0 means None);
- ``DEFAULTS``: the task's defaults for this loop's options (``games_per_iteration``, ...);
- ``EVAL``: ``{"learned": ("policy" and/or "search"), "periodic": opponents, "final": opponents}``,
  opponents in the debater grammar (``debate.core.names``; ``mcts`` plays with ``eval_simulations``);
- ``INSTANCE_FIELDS`` (``{name: (shape, dtype)}``): what a replay row keeps of a game's start (which
  instance, who moves first); ``initial_states(task, data, rows) -> State``: the games they start;
- ``record(task, state) -> {name: [B, ...]}``: what a replay row keeps of a position besides that;
  ``rebuild_states(task, data, rows) -> State``: the positions of replay rows (all three jit-able);
- ``Setup(settings, seed, data=None)``: one run's ``task``, ``network_config``, ``data`` (a numpy
  pytree put on every device, e.g. the images, or ``()``), ``draw(rng, n, iteration) -> rows``,
  ``eval_instances(count=None, final=False) -> Instance``, ``default_judge()`` (``(judge_fn, params,
  description)`` or None) and ``describe() -> dict`` (written to ``config.json``).

A judge the engine cannot build (the pixel task trains a CNN first) comes from
``training.self_play_judges.<task>`` (``prepare_judge``); ``judge=(judge_fn, params)`` replaces it.

A run lives in one directory: ``config.json`` (``kind``, ``task``, the ``SelfPlayConfig``, the
network config, what the task describes, judge, provenance), ``judge/`` (a judge the run trains),
``checkpoints/<iteration>`` (orbax: parameters, optimizer state, replay buffer, counters),
``metrics.jsonl`` (one line per iteration, ``kind = "train"``, and per evaluation, ``kind =
"eval"``), ``eval.json`` (the final evaluation) and TensorBoard events when ``tensorboardX`` or
``torch.utils.tensorboard`` is importable. Every random choice is a function of ``(seed,
iteration)``, so a killed run resumed from its last checkpoint reaches exactly the same next
iteration (identical parameters). Metric lines written after that checkpoint are dropped on resume.

**Evaluation** (``evaluate``, ``Evaluator``): the learned debater without search (``policy``) and/or
with ``eval_simulations`` (``search``) against each opponent the task names, on its evaluation
instances, both first players. For each role the Elo gain is ``elo(p_learned) - elo(p_opponent)``
with ``elo(p) = 400 log10(p / (1 - p))``: the win rate of the learned debater in that role against
the opponent, against the win rate of the opponent in the same role and the same games against
itself (the game is not symmetric: one side wins most games whatever the players, so the raw win
rate is no Elo difference). ``pooled`` scores each instance played once in each role (learned as
honest and as liar), whose score is 0.5 at parity, with a Wilson interval.

Command line (a run resumes when its directory already holds one)::

    debate self-play --task sparse-pixel --out runs/sp --minutes 30
    python -m training.self_play --task computation --out runs/computation_sp --minutes 5
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import sys
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

from debate import tasks
from debate.analysis.metrics import wilson_interval
from debate.core import names
from debate.core.debaters import (Debater, JudgeFn, _masked_logits, debater_params, honest_outcome, learned_debater,
                                  mcts_debater, terminal_reward)
from debate.core.runner import Runner
from debate.core.sharding import batch_mesh, replicate, round_up_batch, shard_batch
from debate.core.task import HONEST_TEAM, require_two_teams, team_of
from training.checkpoints import CheckpointError, latest_step, restore_pytree
from training.self_play_judges import prepare_judge
from training.self_play_loop import ReplayBuffer, SelfPlayLoop, TensorBoard, append_jsonl

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.json"
VALUE_TARGETS = ("soft", "outcome")
HONEST_FIRST, LIAR_FIRST = 0, 1  # player ids of the honest and the lying debater in a two-player game


# ----------------------------------------------------------------------------------- tasks
def task_key(name: str) -> str:
    """The registry name of a task as the command line may spell it (``sparse-pixel``)."""
    return str(name).strip().replace("-", "_")


def task_interface(name: str):
    """The self-play pieces of task ``name`` (its ``api.SELF_PLAY``); one sentence when there are none."""
    name = task_key(name)
    try:
        api = tasks.api(name)
    except KeyError as error:
        raise ValueError(str(error).strip("'\"")) from None
    if getattr(api, "SELF_PLAY", None) is None:
        raise ValueError(f"task {name!r} has no self-play pieces (its api module has no SELF_PLAY); the tasks with "
                         f"self-play are {', '.join(self_play_tasks())}.")
    return api.SELF_PLAY


def self_play_tasks() -> list[str]:
    """The registered tasks whose api module provides ``SELF_PLAY``."""
    return [name for name in tasks.names() if getattr(tasks.api(name), "SELF_PLAY", None) is not None]


# ---------------------------------------------------------------------------------- config
@dataclass(frozen=True, init=False)
class SelfPlayConfig:
    """The options of a run: the loop's own (below) and the task's (``settings``, the task's
    ``SELF_PLAY.Settings``). ``SelfPlayConfig("computation", num_steps=8, games_per_iteration=32)``
    takes both kinds by name; an option not given takes the task's default (``SELF_PLAY.DEFAULTS``),
    else the loop's. A task option reads as an attribute (``config.num_steps``);
    ``dataclasses.replace`` takes either kind."""

    task: str
    settings: Any
    # self-play search
    games_per_iteration: int = 64
    num_simulations: int = 32
    max_num_considered_actions: int = 16  # Gumbel's root sample in self-play
    gumbel_scale: float = 1.0
    network_value: float = 1.0  # leaf value = w * network + (1 - w) * judge verdict (1: AlphaZero)
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
    eval_every: int = 0  # iterations between evaluations (0: none during training)
    eval_simulations: int = 32
    eval_max_num_considered_actions: int = 16  # the learned debater's Gumbel root sample when it plays; 0: all

    def __init__(self, task: str | None = None, settings: Any = None, **options):
        loop = {f.name: f.default for f in fields(SelfPlayConfig)[2:]}
        unknown_to_loop = {k: v for k, v in options.items() if k not in loop}
        _check_loop_options({**loop, **{k: v for k, v in options.items() if k in loop}})
        if task is None:
            raise ValueError("name the task of the run: SelfPlayConfig(task, ...) with one of "
                             f"{', '.join(self_play_tasks())}.")
        name = task_key(task)
        spec = task_interface(name)
        settings = spec.Settings() if settings is None else settings
        if not isinstance(settings, spec.Settings):
            raise ValueError(f"settings of type {type(settings).__name__} are not the {name} task's Settings.")
        known = {f.name for f in fields(spec.Settings)}
        if set(unknown_to_loop) - known:
            raise ValueError(f"unknown self-play option(s) {', '.join(sorted(set(unknown_to_loop) - known))} for task "
                             f"{name!r}; its options are {', '.join(sorted(known | set(loop)))}.")
        if unknown_to_loop:
            settings = dataclasses.replace(settings, **unknown_to_loop)
        values = {k: options.get(k, spec.DEFAULTS.get(k, default)) for k, default in loop.items()}
        _check_loop_options(values)
        object.__setattr__(self, "task", name)
        object.__setattr__(self, "settings", settings)
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def __getattr__(self, name: str):
        settings = self.__dict__.get("settings")
        if settings is not None and name in {f.name for f in fields(settings)}:
            return getattr(settings, name)
        raise AttributeError(f"SelfPlayConfig has no option {name!r}.")

    def to_dict(self) -> dict:
        return {"task": self.task, **{f.name: getattr(self, f.name) for f in fields(self)[2:]},
                **asdict(self.settings)}

    @classmethod
    def from_dict(cls, d: dict, task: str | None = None) -> SelfPlayConfig:
        """From ``to_dict`` (or the flat config of a run written before ``task`` was recorded in it);
        options added since take their defaults, options no longer known are ignored."""
        name = task_key(d.get("task") or task)
        known = {f.name for f in fields(cls)[2:]} | {f.name for f in fields(task_interface(name).Settings)}
        return cls(name, **{k: v for k, v in d.items() if k in known})


def _check_loop_options(c: dict) -> None:
    if c["value_target"] not in VALUE_TARGETS:
        raise ValueError(f"unknown value_target {c['value_target']!r}; choose one of {', '.join(VALUE_TARGETS)}.")
    for name in ("games_per_iteration", "num_simulations", "max_num_considered_actions", "replay_size",
                 "batch_size", "checkpoint_every", "eval_simulations"):
        if c[name] < 1:
            raise ValueError(f"{name} must be at least 1 (got {c[name]}).")
    if c["train_steps_per_iteration"] < 0 or c["eval_every"] < 0 or c["eval_max_num_considered_actions"] < 0:
        raise ValueError("train_steps_per_iteration, eval_every and eval_max_num_considered_actions must be >= 0.")
    if not 0.0 <= float(c["network_value"]) <= 1.0:
        raise ValueError(f"network_value must be a weight in [0, 1] (got {c['network_value']}).")


# ------------------------------------------------------------------------------ the run
def policy_value_loss(network_fn, params, states, policy_target, value_target, value_loss_weight: float):
    logits, value = network_fn(params, states)
    log_probs = jax.nn.log_softmax(_masked_logits(states.legal_action_mask, logits), axis=-1)
    policy_loss = -jnp.sum(jnp.where(policy_target > 0, policy_target * log_probs, 0.0), axis=-1).mean()
    value_loss = jnp.mean((value - value_target) ** 2)
    return policy_loss + value_loss_weight * value_loss, (policy_loss, value_loss)


def replay_fields(spec, task, data) -> dict:
    """A replay row: the task's ``INSTANCE_FIELDS``, what its ``record`` keeps of a position (shapes and
    dtypes as it gives them) and the targets."""
    sample = {name: np.zeros((1,) + tuple(shape), dtype) for name, (shape, dtype) in spec.INSTANCE_FIELDS.items()}
    position = jax.eval_shape(lambda d, rows: spec.record(task, spec.initial_states(task, d, rows)), data, sample)
    return {**spec.INSTANCE_FIELDS, **{name: (leaf.shape[1:], np.dtype(leaf.dtype)) for name, leaf in position.items()},
            "policy": ((task.num_actions,), np.float32), "value": ((), np.float32)}


@functools.lru_cache(maxsize=8)
def compiled_steps(name: str, task, judge_fn: JudgeFn, network_config, num_simulations: int,
                   max_num_considered_actions: int, gumbel_scale: float, network_value: float, value_target: str,
                   value_loss_weight: float, learning_rate: float, weight_decay: float):
    """(network_fn, optimizer, self_play, train_step): the jitted pieces of a run, built once per
    setting in a process (a resumed or repeated run in the same process compiles nothing again).

    ``self_play(judge_params, net_params, key, data, rows)`` plays one batch of games from drawn
    rows (both sides the network inside Gumbel search) and returns per-turn records ``[T, B, ...]``
    with targets, and the final margins; ``train_step(params, opt_state, data, rows)`` is one Adam
    step on replay rows."""
    api = tasks.api(name)
    spec = api.SELF_PLAY
    network_fn, _ = api.network_function(task, api.make_network(network_config))
    optimizer = optax.adamw(learning_rate, weight_decay=weight_decay)
    search = mcts_debater(task, judge_fn, num_simulations, max_num_considered_actions=max_num_considered_actions,
                          gumbel_scale=gumbel_scale, network_fn=network_fn, network_value=network_value).search

    def self_play(judge_params, net_params, key, data, rows):
        state = spec.initial_states(task, data, rows)
        params = debater_params(judge_params, net_params)

        def one_turn(state, turn_key):
            output = search(params, turn_key, state)
            record = spec.record(task, state)
            record.update(valid=~state.terminated, mover=state.current_player, policy=output.action_weights)
            return task.step(state, output.action), record

        final, records = jax.lax.scan(one_turn, state, jax.random.split(key, task.num_turns))
        margin = task.honest_margin(final, judge_fn(judge_params, task.judge_view(final)))
        honest = terminal_reward(margin) if value_target == "soft" else honest_outcome(margin)
        honest_mover = team_of(task, records.pop("mover")) == HONEST_TEAM
        records["value"] = jnp.where(honest_mover, honest[None], -honest[None])
        return records, margin

    def train_step(params, opt_state, data, rows):
        states = spec.rebuild_states(task, data, rows)

        def loss_of(p):
            return policy_value_loss(network_fn, p, states, rows["policy"], rows["value"], value_loss_weight)

        (loss, (policy_loss, value_loss)), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.stack([loss, policy_loss, value_loss])

    return network_fn, optimizer, jax.jit(self_play), jax.jit(train_step, donate_argnums=(0, 1))


class SelfPlayRun(SelfPlayLoop):
    """Holds the compiled self-play and training steps of one run directory. ``data`` goes to the
    task's ``Setup`` (the pixel task: an ``ImageDataset`` instead of loading ``dataset``); ``judge``
    (``(judge_fn, params)``) replaces the run's own."""

    metrics_file = METRICS_FILE

    def __init__(self, config: SelfPlayConfig, out_dir: str | Path, data=None, mesh=None, log=print,
                 judge: tuple | None = None):
        self.config, self.out_dir, self.log = config, Path(out_dir), log
        self.out_dir.mkdir(parents=True, exist_ok=True)
        check_run_config(self.out_dir, config)
        self.mesh = mesh or batch_mesh()
        self.api = tasks.api(config.task)
        self.setup = self.api.SELF_PLAY.Setup(config.settings, config.seed, data=data)
        self.task = self.setup.task
        if judge is not None:  # (judge_fn, params) given in code (tests, studies)
            self.judge_fn, judge_params = judge
            self.judge_description = "given in code"
        else:
            self.judge_fn, judge_params, self.judge_description = prepare_judge(config, self.setup, self.out_dir)
        self.judge_params = replicate(judge_params, self.mesh)
        self.network_config = self.setup.network_config
        self.network_fn, self.optimizer, self._self_play, self._train_step = compiled_steps(
            config.task, self.task, self.judge_fn, self.network_config, config.num_simulations,
            config.max_num_considered_actions, config.gumbel_scale, config.network_value, config.value_target,
            config.value_loss_weight, config.learning_rate, config.weight_decay)
        params = nnx.state(self.api.make_network(self.network_config, seed=config.seed))
        self.params = replicate(params, self.mesh)
        self.opt_state = replicate(self.optimizer.init(params), self.mesh)
        self.replay = ReplayBuffer(config.replay_size, replay_fields(self.api.SELF_PLAY, self.task, self.setup.data))
        self.data = replicate(jax.tree.map(jnp.asarray, self.setup.data), self.mesh)
        # the game batch and the minibatch are split over the mesh's devices
        self.games_per_iteration = round_up_batch(config.games_per_iteration, self.mesh)
        self.batch_size = round_up_batch(config.batch_size, self.mesh)
        self._evaluators: dict = {}
        if self.resume():
            self.log(f"resuming {self.out_dir} from iteration {self.iteration}")
        self._write_config()

    def play_games(self) -> tuple[dict, np.ndarray]:
        """One batch of self-play games (iteration ``self.iteration``): replay rows and margins."""
        config, n = self.config, self.games_per_iteration
        drawn = self.setup.draw(np.random.default_rng([config.seed, self.iteration, 1]), n, self.iteration)
        key = jax.random.fold_in(jax.random.key(config.seed), self.iteration)
        records, margin = self._self_play(self.judge_params, self.params, key, self.data, shard_batch(drawn, self.mesh))
        records = jax.tree.map(lambda x: np.asarray(x).swapaxes(0, 1), records)  # [B, T, ...]
        valid = records.pop("valid").reshape(-1)
        k = self.task.num_turns
        rows = {name: value.reshape((n * k,) + value.shape[2:])[valid] for name, value in records.items()}
        rows.update({name: np.repeat(value, k, axis=0)[valid] for name, value in drawn.items()})
        return rows, np.asarray(margin)

    def train_minibatch(self, rows: dict):
        return self._train_step(self.params, self.opt_state, self.data, shard_batch(rows, self.mesh))

    def place(self, tree):
        return replicate(tree, self.mesh)

    def _write_config(self) -> None:
        from debate.records.provenance import provenance

        (self.out_dir / CONFIG_FILE).write_text(json.dumps({
            "kind": f"{self.config.task}_self_play", "task": self.config.task, "config": self.config.to_dict(),
            "network": self.network_config.to_dict(), **self.setup.describe(), "judge": self.judge_description,
            "devices": len(self.mesh.devices.flat), "provenance": provenance()}, indent=2))

    def eval_instances(self, count: int | None = None, final: bool = False):
        """The task's evaluation instances (an ``Instance`` pytree): see its ``Setup.eval_instances``."""
        return self.setup.eval_instances(count, final=final)

    def evaluate(self, final: bool = False, count: int | None = None, params=None) -> dict:
        """The task's periodic (or ``final``) evaluation of the current (or given) weights."""
        config, plan = self.config, self.api.SELF_PLAY.EVAL
        return evaluate(self.task, self.judge_fn, self.judge_params, self.network_fn,
                        self.params if params is None else params, self.eval_instances(count, final),
                        learned=plan["learned"], opponents=plan["final" if final else "periodic"],
                        num_simulations=config.eval_simulations,
                        max_num_considered_actions=config.eval_max_num_considered_actions,
                        network_value=config.network_value, seed=config.seed, mesh=self.mesh,
                        evaluators=self._evaluators)


def check_run_config(out_dir: Path, config: SelfPlayConfig) -> None:
    """Refuse to continue a run in ``out_dir`` that has another configuration (options added since
    it started take their defaults), naming the options that differ."""
    path = out_dir / CONFIG_FILE
    if not path.exists():
        return
    stored = json.loads(path.read_text())
    name = run_task(stored)
    if name != config.task:
        raise CheckpointError(f"{out_dir} holds a {name} self-play run, not a {config.task} one; choose another "
                              "--out directory.")
    before, now = SelfPlayConfig.from_dict(stored.get("config") or {}, task=name).to_dict(), config.to_dict()
    differ = [k for k in now if before.get(k) != now[k]]
    if differ:
        raise CheckpointError(f"{out_dir} holds a self-play run with a different configuration (differs in: "
                              f"{', '.join(differ)}); resume it with the same options, or give another config a "
                              "new --out directory.")


def run_task(stored: dict) -> str:
    """The task of a run from its config.json (runs written before the loop was one recorded the
    task as a description, or in ``kind`` only)."""
    task = stored.get("task")
    if isinstance(task, dict):
        task = task.get("name")
    if not task and str(stored.get("kind", "")).endswith("_self_play"):
        task = stored["kind"][: -len("_self_play")]
    if not task:
        raise KeyError("task")
    return task_key(task)


def train_self_play(config: SelfPlayConfig, out_dir: str | Path, iterations: int | None = None,
                    minutes: float | None = None, progress: bool = True, final_eval: bool = False,
                    final_eval_instances: int | None = None, data=None, mesh=None, log=print,
                    judge: tuple | None = None) -> dict:
    """Train (or resume) until ``iterations`` in total or ``minutes`` of wall time in this call,
    whichever comes first; at least one must be given. The ``minutes`` budget counts self-play,
    training, compiling and checkpoints, not the judge's preparation (training it, when the run
    trains its own) nor periodic evaluations.
    Checkpoints every ``config.checkpoint_every`` iterations and at the end. With ``final_eval``
    runs the task's final evaluation (on ``final_eval_instances`` instances; default the task's) and
    writes ``eval.json``. ``judge`` (``(judge_fn, params)``) replaces the run's judge. Returns a
    summary (``summary["run"]`` is the ``SelfPlayRun``, with the final parameters)."""
    if iterations is None and minutes is None:
        raise ValueError("give iterations, minutes or both, so that the run knows when to stop.")
    call_start = time.time()
    run = SelfPlayRun(config, out_dir, data=data, mesh=mesh, log=log, judge=judge)
    start_time = time.time()
    excluded = 0.0  # seconds of periodic evaluation, not counted against ``minutes``
    metrics_path = run.out_dir / METRICS_FILE
    board = TensorBoard(run.out_dir / "tensorboard")
    last: dict = {}
    first_iteration = run.iteration
    with tqdm(total=iterations, initial=run.iteration, desc=f"{config.task} self-play", unit="it",
              disable=not progress) as bar:
        while (iterations is None or run.iteration < iterations) and (
                minutes is None or time.time() - start_time - excluded < 60 * minutes):
            record = run.run_iteration()
            last = record
            append_jsonl(metrics_path, record)
            board.scalars(record, run.iteration, "train/")
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", games_s=f"{record['games_per_s']:.1f}",
                            honest=f"{record['self_play_honest_win_rate']:.2f}")
            if config.eval_every and run.iteration % config.eval_every == 0:
                eval_start = time.time()
                eval_record = {"kind": "eval", "iteration": run.iteration, "train_step": run.train_steps,
                               **eval_scalars(run.evaluate())}
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
        result = run.evaluate(final=True, count=final_eval_instances)
        (run.out_dir / EVAL_FILE).write_text(json.dumps({"iteration": run.iteration, **result}, indent=2,
                                                        default=float))
        append_jsonl(metrics_path, {"kind": "eval", "iteration": run.iteration, "train_step": run.train_steps,
                                    "final": True, **eval_scalars(result)})
        summary["eval"] = result
    summary["run"] = run
    return summary


# ------------------------------------------------------------------------------ evaluation
def elo_from_rate(p: float, n: int | None = None) -> float:
    """400 log10(p / (1 - p)); with ``n`` games, p is kept within [0.5/n, 1 - 0.5/n] (finite)."""
    eps = 0.5 / n if n else 1e-9
    p = min(max(p, eps), 1 - eps)
    return 400.0 * math.log10(p / (1 - p))


class Evaluator:
    """The learned debater (network + ``num_simulations`` search, or the bare policy with 0) against
    an opponent (a ``Debater`` or a spec of the debater grammar; default: plain search at the same
    simulation count, ``mcts-N``) on instances of a two-team task. Compiles once; the baseline
    (opponent against itself) is computed once per instance set and cached; network weights are an
    argument of ``evaluate``. ``max_num_considered_actions`` 0 or None: every legal action."""

    def __init__(self, task, judge_fn: JudgeFn, judge_params, network_fn, num_simulations: int = 64,
                 max_num_considered_actions: int | None = 16, opponent: Debater | str | None = None,
                 batch_size: int = 256, mesh=None, network_value: float = 1.0):
        require_two_teams(task, "evaluation against an opponent")
        self.task, self.judge_fn, self.judge_params = task, judge_fn, judge_params
        self.num_simulations = num_simulations
        if num_simulations > 0:
            self.learned = mcts_debater(task, judge_fn, num_simulations, network_fn=network_fn,
                                        max_num_considered_actions=max_num_considered_actions or None,
                                        network_value=network_value)
        else:
            self.learned = learned_debater(network_fn)
        if opponent is None or isinstance(opponent, str):
            opponent = names.build_debater(opponent or f"mcts-{max(num_simulations, 1)}", task, judge_fn)
        self.opponent = opponent
        # One pool (learned, opponent); each matchup is a seating of the same compiled game.
        self.runner = Runner(task, judge_fn, judge_params, [self.learned, self.opponent], batch_size, mesh)
        self.seatings = {"as_honest": (0, 1), "as_liar": (1, 0), "baseline": (1, 1)}
        self._baseline_cache: dict = {}

    def evaluate(self, net_params, instances, key=None) -> dict:
        """Win rates on every instance (an ``Instance`` pytree), each played with both first players."""
        key = jax.random.key(0) if key is None else key
        params = debater_params(self.judge_params, net_params)
        cache_key = tuple(np.asarray(leaf).tobytes() for leaf in jax.tree.leaves(instances))
        honest_won = {}
        for first in (HONEST_FIRST, LIAR_FIRST):
            k = jax.random.fold_in(key, first)

            def play(matchup):
                return self.runner.play(instances, first, k, seating=self.seatings[matchup],
                                        debater_params=[params, None]).honest_won

            honest_won["as_honest", first] = play("as_honest")
            honest_won["as_liar", first] = play("as_liar")
            if (cache_key, first) not in self._baseline_cache:
                self._baseline_cache[cache_key, first] = play("baseline")
            honest_won["baseline", first] = self._baseline_cache[cache_key, first]
        return summarize_match(honest_won, num_simulations=self.num_simulations, learned=self.learned.name,
                               opponent=self.opponent.name)


def summarize_match(honest_won: dict, **extra) -> dict:
    """Win rates, Elo gains with Wilson intervals, from ``{(matchup, first player): honest_won [N]}``."""
    both = lambda m: np.concatenate([honest_won[m, HONEST_FIRST], honest_won[m, LIAR_FIRST]]).astype(float)
    baseline_honest = both("baseline")
    out: dict = {**extra, "games_per_matchup": int(baseline_honest.size)}
    for role in ("as_honest", "as_liar"):
        wins = both(role) if role == "as_honest" else 1.0 - both(role)  # the learned debater's wins
        base = baseline_honest if role == "as_honest" else 1.0 - baseline_honest  # the opponent in that role
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
                                for name, first in (("honest_first", HONEST_FIRST), ("liar_first", LIAR_FIRST))},
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


def evaluate(task, judge_fn: JudgeFn, judge_params, network_fn, net_params, instances, *,
             learned=("policy", "search"), opponents=("mcts",), num_simulations: int = 32,
             max_num_considered_actions: int | None = None, network_value: float = 1.0, seed: int = 0,
             batch_size: int = 256, mesh=None, evaluators: dict | None = None) -> dict:
    """The learned debater without search (``policy``) and/or with ``num_simulations`` (``search``)
    against each opponent (debater grammar; ``mcts`` plays ``num_simulations``), as honest and as
    liar, every instance with each first player: ``{"<learned>_vs_<opponent>": summarize_match(...)}``
    plus the games per matchup. ``evaluators`` (a dict) keeps the compiled matches between calls."""
    evaluators = {} if evaluators is None else evaluators
    out: dict = {"games_per_matchup": 2 * len(jax.tree.leaves(instances)[0]), "simulations": num_simulations}
    for opponent in opponents:
        for kind in learned:
            if kind not in ("policy", "search"):
                raise ValueError(f"unknown learned debater {kind!r}; use policy (no search) or search.")
            sims = num_simulations if kind == "search" else 0
            cache = (kind, opponent, task, judge_fn, network_fn, sims, max_num_considered_actions, network_value)
            if cache not in evaluators:
                spec = f"mcts-{num_simulations}" if opponent == "mcts" else opponent
                evaluators[cache] = Evaluator(task, judge_fn, judge_params, network_fn, sims,
                                              max_num_considered_actions, opponent=spec, batch_size=batch_size,
                                              mesh=mesh, network_value=network_value)
            out[f"{kind}_vs_{opponent}"] = evaluators[cache].evaluate(net_params, instances,
                                                                      key=jax.random.key(seed))
    return out


def eval_scalars(result: dict) -> dict:
    """The numbers of an ``evaluate`` result as flat metric names (``search_vs_mcts_as_honest_win_rate``, ...)."""
    out = {}
    for name, match in result.items():
        if not isinstance(match, dict):
            continue
        for role in ("as_honest", "as_liar"):
            out[f"{name}_{role}_win_rate"] = match[role]["learned_win_rate"]
            out[f"{name}_{role}_baseline_win_rate"] = match[role]["baseline_win_rate"]
            out[f"{name}_{role}_elo"] = match[role]["elo"]
        out[f"{name}_pooled_score"] = match["pooled"]["score"]
        out[f"{name}_pooled_elo"] = match["pooled"]["elo"]
    return out


# -------------------------------------------------------------------------- loading debaters
def read_run(run_dir: str | Path, task_name: str | None = None) -> tuple[SelfPlayConfig, dict]:
    """(SelfPlayConfig, config.json dict) of the self-play run in ``run_dir``, of either format (the
    one loop's, or the twin trainers' before it)."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    what = f"{task_name} self-play run" if task_name else "self-play run"
    if not path.exists():
        raise CheckpointError(f"no {what} at {run_dir} ({CONFIG_FILE} is missing); train one with `debate self-play "
                              f"--task {(task_name or 'TASK').replace('_', '-')} --out DIR` or pass the directory of "
                              "an existing run.")
    try:
        stored = json.loads(path.read_text())
        config = SelfPlayConfig.from_dict(stored["config"], task=run_task(stored))
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is not the config.json of a self-play run ({type(e).__name__}: {e}); pass "
                              "the directory written by `debate self-play --out DIR`.") from None
    if task_name is not None and config.task != task_key(task_name):
        raise CheckpointError(f"{run_dir} holds a {config.task} self-play run; its network cannot play {task_name} "
                              "games: use a run trained on this task.")
    return config, stored


def load_network(run_dir: str | Path, task):
    """(network_fn, net_params, SelfPlayConfig, config.json dict) of the latest checkpoint of a run,
    the network bound to ``task`` (a game of the run's task, e.g. a longer computation)."""
    run_dir = Path(run_dir)
    config, stored = read_run(run_dir, task.name)
    step = latest_step(run_dir)
    if step is None:
        raise CheckpointError(f"{run_dir} has a config but no saved step; train it with "
                              f"`debate self-play --task {config.task.replace('_', '-')} --out {run_dir}`.")
    api = tasks.api(config.task)
    try:
        network_fn, params = api.network_function(task, api.make_network(api.NetworkConfig(**stored["network"]),
                                                                           seed=config.seed))
    except ValueError as e:
        raise CheckpointError(str(e).replace("the network", f"the network in {run_dir}", 1)) from None
    restored = restore_pytree(run_dir, step, {"params": params})
    # jax arrays: numpy leaves cannot be indexed by traced values when the weights are bound into a
    # compiled debater (a tournament's ``select``)
    return network_fn, jax.tree.map(jnp.asarray, restored["params"]), config, stored


def load_learned_debater(run_dir: str | Path, task, judge_fn: JudgeFn, num_simulations: int = 0) -> tuple[Debater, Any]:
    """The learned debater of a self-play run of any task and its network parameters.

    ``num_simulations = 0``: no search (the legal action with the highest prior logit); otherwise
    deterministic Gumbel search (``gumbel_scale = 0``) with the network's prior and value, as the
    run evaluated it. The debater's ``select(params, key, state)`` takes ``params =
    debater_params(judge_params, net_params)`` (``Runner(debater_params=...)``), or bind the weights
    with ``debate.core.debaters.bind_network_params``."""
    if num_simulations < 0:
        raise ValueError(f"num_simulations must be >= 0 (got {num_simulations}).")
    network_fn, net_params, config, _ = load_network(run_dir, task)
    name = Path(run_dir).name
    if num_simulations == 0:
        return learned_debater(network_fn, name=f"learned-{name}"), net_params
    debater = mcts_debater(task, judge_fn, num_simulations, network_fn=network_fn,
                           max_num_considered_actions=config.eval_max_num_considered_actions or None,
                           network_value=config.network_value, name=f"learned-{name}-mcts-{num_simulations}")
    return debater, net_params


# ----------------------------------------------------------------------------- command line
class UsageError(ValueError):
    """A bad command line: one sentence naming the option, the problem and the fix."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (one sentence) instead of printing usage and exiting."""

    def error(self, message: str):
        raise UsageError(f"{message}; see `debate self-play --help`.")


MAX_SEED = 2**63 - 1
#: (lowest, highest) of the integer options; the rest must be in 0 .. ``MAX_SIZE``.
INT_RANGES = {"seed": (0, MAX_SEED), "data_shuffle_seed": (-1, 2**32 - 1), "batch_size": (1, 65_536),
              "games_per_iteration": (1, 65_536), "num_simulations": (1, 1_000_000),
              "eval_simulations": (1, 1_000_000), "iterations": (0, 10**9), "final_eval_instances": (1, 10**7)}
#: integer options that count something and must be at least 1
AT_LEAST_ONE = {"num_reveals", "judge_steps", "eval_instances", "channels", "num_layers", "hidden", "num_steps",
                "modulus", "depth", "eval_games", "replay_size", "checkpoint_every", "max_num_considered_actions"}
MAX_SIZE = 10**9
#: (lowest, highest, lowest excluded) of the float options; every float must be finite
FLOAT_RANGES = {"learning_rate": (0.0, 10.0, True), "weight_decay": (0.0, None, False),
                "gumbel_scale": (0.0, None, False), "value_loss_weight": (0.0, None, False),
                "network_value": (0.0, 1.0, False), "checker_error_rate": (0.0, 1.0, False),
                "minutes": (0.0, 10**7, True)}


def check_command_line(values: dict, out: str) -> None:
    """Refuse a bad value before any work starts (``UsageError``, one sentence): integers in range,
    floats finite and in range, a known data set, a usable ``--out`` directory."""
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            lo, hi = INT_RANGES.get(name, (1 if name in AT_LEAST_ONE else 0, MAX_SIZE))
            if not lo <= value <= hi:
                raise UsageError(f"{flag} {value} is out of range; pass a whole number from {lo} to {hi}.")
        elif isinstance(value, float):
            lo, hi, open_low = FLOAT_RANGES.get(name, (None, None, False))
            if not math.isfinite(value):
                raise UsageError(f"{flag} must be a finite number (got {value}); pass e.g. {flag} 0.001.")
            if (lo is not None and (value <= lo if open_low else value < lo)) or (hi is not None and value > hi):
                where = f"{'(' if open_low else '['}{lo}, {hi if hi is not None else 'inf'}]"
                raise UsageError(f"{flag} {value:g} is out of range; pass a value in {where}.")
    if "dataset" in values:
        from debate.tasks.sparse_pixel.data import DATASET_SPECS

        if values["dataset"] not in DATASET_SPECS:
            raise UsageError(f"--dataset {values['dataset']!r} is not a data set; choose one of "
                             f"{', '.join(DATASET_SPECS)}.")
    if values.get("judge_dir"):
        judge = Path(values["judge_dir"]).expanduser()
        if not (judge / "config.json").is_file():
            raise UsageError(f"--judge-dir {judge} holds no judge checkpoint (config.json is missing); pass the "
                             "directory written by `debate train-judge --out DIR`, or leave it out to train one.")
    check_out_dir(Path(out))


def check_out_dir(out: Path) -> None:
    """``--out``: a directory (new or existing) that can be written, whose config.json, if any, is a
    JSON object."""
    import os

    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is an existing file, not a directory; pass a directory (new or existing).")
    base = out.absolute()
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise UsageError(f"--out {out} cannot be created because {base} is a file; pass another directory.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: directory {base} is not writable; pass a directory you can write to.")
    config = out / CONFIG_FILE
    if config.exists():
        try:
            stored = json.loads(config.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, OSError) as e:
            raise UsageError(f"--out {out}: {config} is not readable JSON ({type(e).__name__}; truncated or "
                             "corrupt?); choose a new --out directory or delete the broken run.") from None
        if not isinstance(stored, dict):
            raise UsageError(f"--out {out}: {config} holds a JSON {type(stored).__name__}, not a run's config; "
                             "choose a new --out directory.")


def main(argv=None, default_task: str | None = None) -> None:
    """``--task NAME`` (or ``default_task``) picks the task; its options and the loop's are flags.
    Bad options raise ``UsageError`` (a ``ValueError``, one sentence) before any work starts."""
    argv = list(sys.argv[1:] if argv is None else argv)
    choices = self_play_tasks()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", default=default_task)
    task = pre.parse_known_args(argv)[0].task
    if task is not None:
        task_interface(task)  # an unknown task: one sentence
    parser = _Parser(description="AlphaZero-style self-play for learned debaters"
                                     + (f" on the {task} task." if task else " (give --task)."))
    parser.add_argument("--task", default=task, required=task is None,
                        help=f"the task: {', '.join(n.replace('_', '-') for n in choices)}")
    parser.add_argument("--out", required=True, help="Run directory (resumed when it already holds this run).")
    parser.add_argument("--minutes", type=float, default=None, help="Wall-time budget of this call.")
    parser.add_argument("--iterations", type=int, default=None, help="Stop at this many iterations in total.")
    parser.add_argument("--no-final-eval", action="store_true", help="Skip the final evaluation.")
    parser.add_argument("--final-eval-instances", "--final-eval-images", dest="final_eval_instances", type=int,
                        default=None, help="Instances (held-out images) in the final evaluation (default: the task's).")
    options = []
    if task is not None:
        defaults = SelfPlayConfig(task)
        options = list(fields(defaults.settings)) + list(fields(SelfPlayConfig)[2:])
        for f in options:
            flag, default = "--" + f.name.replace("_", "-"), getattr(defaults, f.name)
            if f.metadata.get("zero_is_none"):
                parser.add_argument(flag, type=int, default=default or 0, help=f"default {default}; "
                                    + f.metadata.get("help", "0: none"))
            elif isinstance(default, bool):
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
            else:
                parser.add_argument(flag, type=type(default), default=default)
    args = parser.parse_args(argv)
    if args.minutes is None and args.iterations is None:
        raise UsageError("give --minutes or --iterations (or both), so that the run knows when to stop.")
    values = {f.name: (getattr(args, f.name) or None) if f.metadata.get("zero_is_none") else getattr(args, f.name)
              for f in options}
    check_command_line({**values, "minutes": args.minutes, "iterations": args.iterations,
                        "final_eval_instances": args.final_eval_instances}, args.out)
    config = SelfPlayConfig(args.task, **values)
    summary = train_self_play(config, args.out, iterations=args.iterations, minutes=args.minutes,
                              final_eval=not args.no_final_eval, final_eval_instances=args.final_eval_instances)
    summary.pop("run")
    print(json.dumps(summary, indent=2, default=float))


if __name__ == "__main__":
    try:
        main()
    except ValueError as error:  # bad options, a run that does not match: one sentence, exit status 2
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
