"""AlphaZero-style self-play for learned debaters on the computation (bisection) task.

The same loop as ``training.self_play`` (the pixel task), on ``debate.tasks.computation.game.ComputationTask``
with the network of ``training.computation_networks``:

1. **Self-play**: a batch of bisection debates on fresh random instances (a seed each), a random
   wrong final value for the liar, the honest player as claimer in half the games; both sides the
   same network inside mctx Gumbel search (``gumbel_scale`` > 0 explores).
2. **Targets**: the search's ``action_weights`` per position, and the judge's verdict from the
   mover's view (``debate.core.debaters.terminal_reward``).
3. **Training**: a replay ring of the newest positions, Adam steps on minibatches (cross-entropy
   to the search policy plus squared value error; ``training.self_play.policy_value_loss``).

The judge speaks only at the end (it checks one step), so the judge's leaf value is 0 everywhere
else: by default the network's value is the leaf value (``network_value = 1``, AlphaZero), and
learning works backwards from the last round, where the search alone finds the right midpoint.

The game batch of self-play and the training minibatch are sharded over all local devices
(``debate.core.sharding``); parameters are replicated. A run directory holds ``config.json``,
``checkpoints/<iteration>`` (parameters, optimizer state, replay buffer, counters: a killed run
resumes to the same next iteration), ``metrics.jsonl``, ``eval.json`` and TensorBoard events when
``tensorboardX`` or ``torch.utils.tensorboard`` is importable. Every random choice is a function of
``(seed, iteration)``.

Evaluation (``evaluate``): the learned debater, without search and with ``eval_simulations``, in
both roles against the expert (who plays optimally against an exact checker) and against plain
MCTS with the same simulations (the judge as its only evaluator, which never finds the right
midpoint at T >= 4), on fresh instances, each as claimer and as challenger; reported as win rates
and Elo differences to the opponent playing itself (``training.self_play.summarize_match``).

Command line::

    python -m training.computation_self_play --out runs/computation_sp --minutes 5
    debate self-play --task computation --out runs/computation_sp --minutes 5
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from debate.core.play import make_play_fn
from debate.tasks.computation.game import (HONEST, LIAR, ComputationTask, checker_params, exact_checker, instances,
                                          noisy_checker)
from debate.tasks.computation.protocols import expert_debater, random_lies
from debate.core.debaters import (bind_network_params, debater_params, learned_debater, mcts_debater, random_debater,
                             terminal_reward)
from training.checkpoints import CheckpointError, latest_step, restore_pytree
from training.computation_networks import ComputationNetworkConfig, make_network, network_function
from debate.core.sharding import batch_mesh, replicate, round_up_batch, shard_batch
from training.self_play_loop import ReplayBuffer, SelfPlayLoop, TensorBoard, append_jsonl
from training.self_play import policy_value_loss, summarize_match

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.json"
MOVING_FIELDS = ("lo", "hi", "v_lo", "v_hi", "pending", "current_player", "turn", "terminated")


@dataclass(frozen=True)
class ComputationSelfPlayConfig:
    # task and judge
    num_steps: int = 64  # T
    modulus: int = 31  # p
    operators: str = "affine"
    checker_error_rate: float = 0.0  # 0: the exact checker; > 0: debate.tasks.computation.game.noisy_checker
    # network
    hidden: int = 256
    depth: int = 2
    # self-play search
    games_per_iteration: int = 128
    num_simulations: int = 32
    # Gumbel's root sample. Searching all p midpoint values with 32 simulations visits each once, never
    # reaching the verdict two plies down, and self-play settles on "the claimer always loses"; 8
    # sampled values get enough visits to see the verdict at the last round, and learning climbs from there.
    max_num_considered_actions: int = 8
    gumbel_scale: float = 1.0
    network_value: float = 1.0  # the judge's leaf value is 0 until the last step: AlphaZero by default
    # training
    replay_size: int = 50_000
    batch_size: int = 256
    train_steps_per_iteration: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    value_loss_weight: float = 1.0
    # bookkeeping
    seed: int = 0
    checkpoint_every: int = 25
    eval_every: int = 0
    eval_games: int = 256
    eval_simulations: int = 32

    def __post_init__(self):
        for name in ("games_per_iteration", "num_simulations", "max_num_considered_actions", "replay_size", "batch_size", "checkpoint_every",
                     "eval_games", "eval_simulations", "hidden", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)}).")
        if self.train_steps_per_iteration < 0 or self.eval_every < 0:
            raise ValueError("train_steps_per_iteration and eval_every must be >= 0.")
        if not 0.0 <= self.network_value <= 1.0 or not 0.0 <= self.checker_error_rate <= 1.0:
            raise ValueError("network_value and checker_error_rate must be in [0, 1].")
        self.task()  # checks T, p and the operators

    def task(self) -> ComputationTask:
        return ComputationTask(num_steps=self.num_steps, modulus=self.modulus, operators=self.operators)

    def judge(self, task: ComputationTask):
        """(judge_fn, params): the exact checker, or the noisy one at ``checker_error_rate``."""
        if self.checker_error_rate == 0.0:
            return exact_checker(task), None
        return noisy_checker(task), checker_params(self.checker_error_rate, self.seed)

    def network_config(self) -> ComputationNetworkConfig:
        return ComputationNetworkConfig(modulus=self.modulus, hidden=self.hidden, depth=self.depth)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ComputationSelfPlayConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def computation_replay_buffer(capacity: int, num_actions: int) -> ReplayBuffer:
    """Positions as the instance (seed, lie, claimer), the moving part of the state
    (``task.split_static``) and the targets."""
    return ReplayBuffer(capacity, {
        "seed": ((), np.uint32), "lie": ((), np.int32), "claimer": ((), np.int32),
        **{name: ((), bool if name == "terminated" else np.int32) for name in MOVING_FIELDS},
        "policy": ((num_actions,), np.float32), "value": ((), np.float32)})


def rebuild_states(task: ComputationTask, rows: dict):
    static = task.init(instances(rows["seed"], rows["lie"]), rows["claimer"])
    return task.merge_static(static, tuple(rows[name] for name in MOVING_FIELDS))


@functools.lru_cache(maxsize=8)
def compiled_steps(config: ComputationSelfPlayConfig):
    """(task, judge_fn, network_fn, optimizer, self_play, train_step), built once per config."""
    task = config.task()
    judge_fn, _ = config.judge(task)
    network_fn, _ = network_function(task, make_network(config.network_config()))
    optimizer = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
    search = mcts_debater(task, judge_fn, config.num_simulations, gumbel_scale=config.gumbel_scale,
                          max_num_considered_actions=config.max_num_considered_actions,
                          network_fn=network_fn, network_value=config.network_value).search

    def self_play(judge_params, net_params, key, seeds, lies, claimer):
        state = task.init(instances(seeds, lies), claimer)
        params = debater_params(judge_params, net_params)

        def one_turn(state, turn_key):
            output = search(params, turn_key, state)
            record = dict(zip(MOVING_FIELDS, task.split_static(state)[1]))
            record.update(valid=~state.terminated, policy=output.action_weights)
            return task.step(state, output.action), record

        final, records = jax.lax.scan(one_turn, state, jax.random.split(key, task.num_turns))
        margin = task.honest_margin(final, judge_fn(judge_params, task.judge_view(final)))
        honest = terminal_reward(margin)
        records["value"] = jnp.where(records["current_player"] == HONEST, honest[None], -honest[None])
        return records, margin

    def train_step(params, opt_state, rows):
        states = rebuild_states(task, rows)

        def loss_of(p):
            return policy_value_loss(network_fn, p, states, rows["policy"], rows["value"], config.value_loss_weight)

        (loss, (policy_loss, value_loss)), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.stack([loss, policy_loss, value_loss])

    return task, judge_fn, network_fn, optimizer, jax.jit(self_play), jax.jit(train_step, donate_argnums=(0, 1))


class ComputationSelfPlayRun(SelfPlayLoop):
    metrics_file = METRICS_FILE

    def __init__(self, config: ComputationSelfPlayConfig, out_dir: str | Path, mesh=None):
        self.config, self.out_dir = config, Path(out_dir)
        self.mesh = mesh or batch_mesh()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / CONFIG_FILE
        if path.exists():
            stored = json.loads(path.read_text()).get("config")
            if stored != config.to_dict():
                raise ValueError(f"{self.out_dir} holds a run with another config; pass a new --out or the same options "
                                 f"(differs in: {', '.join(k for k in config.to_dict() if stored.get(k) != config.to_dict()[k])}).")
        (self.task, self.judge_fn, self.network_fn, self.optimizer, self._self_play,
         self._train_step) = compiled_steps(config)
        self.judge_params = replicate(config.judge(self.task)[1], self.mesh)
        params = nnx.state(make_network(config.network_config(), seed=config.seed))
        self.params = replicate(params, self.mesh)
        self.opt_state = replicate(self.optimizer.init(params), self.mesh)
        self.replay = computation_replay_buffer(config.replay_size, self.task.num_actions)
        # the game batch and the minibatch are split over the mesh's devices
        self.games_per_iteration = round_up_batch(config.games_per_iteration, self.mesh)
        self.batch_size = round_up_batch(config.batch_size, self.mesh)
        self.resume()
        from debate.records.provenance import provenance

        path.write_text(json.dumps({"config": config.to_dict(), "network": config.network_config().to_dict(),
                                    "task": "computation", "provenance": provenance()}, indent=2))

    def play_games(self) -> tuple[dict, np.ndarray]:
        config, n = self.config, self.games_per_iteration
        rng = np.random.default_rng([config.seed, self.iteration, 1])
        seeds = rng.integers(0, 2**32 - 1, n, dtype=np.uint32)
        lies = np.asarray(random_lies(self.task, seeds, jax.random.key(int(rng.integers(2**31)))), np.int32)
        claimer = ((np.arange(n) + self.iteration) % 2).astype(np.int32)
        key = jax.random.fold_in(jax.random.key(config.seed), self.iteration)
        records, margin = self._self_play(self.judge_params, self.params, key,
                                          *shard_batch((seeds, lies, claimer), self.mesh))
        records = jax.tree.map(lambda x: np.asarray(x).swapaxes(0, 1), records)  # [B, turns, ...]
        valid = records.pop("valid").reshape(-1)
        k = self.task.num_turns
        rows = {name: value.reshape((n * k,) + value.shape[2:])[valid] for name, value in records.items()}
        rows.update(seed=np.repeat(seeds, k)[valid], lie=np.repeat(lies, k)[valid], claimer=np.repeat(claimer, k)[valid])
        return rows, np.asarray(margin)

    def train_minibatch(self, rows: dict):
        return self._train_step(self.params, self.opt_state, shard_batch(rows, self.mesh))

    def place(self, tree):
        return replicate(tree, self.mesh)


# ------------------------------------------------------------------------------------ evaluation
def evaluate(task: ComputationTask, judge_fn, judge_params, network_fn, net_params, num_games: int = 256,
             num_simulations: int = 32, seed: int = 0, opponents=("expert", "mcts", "random"),
             network_value: float = 1.0) -> dict:
    """The learned debater without search (``policy``) and with ``num_simulations`` (``search``) against
    each opponent, as honest and as liar, every instance once with each side as claimer."""

    learned = {"policy": bind_network_params(learned_debater(network_fn), net_params),
               "search": bind_network_params(mcts_debater(task, judge_fn, num_simulations, network_fn=network_fn,
                                             network_value=network_value), net_params)}
    builders = {"expert": lambda: expert_debater(task), "random": random_debater,
                "mcts": lambda: mcts_debater(task, judge_fn, num_simulations, root_tie_break=True)}
    rng = np.random.default_rng([seed, 7])
    seeds = rng.integers(0, 2**32 - 1, num_games, dtype=np.uint32)
    lies = np.asarray(random_lies(task, seeds, jax.random.key(seed + 7)), np.int32)
    out = {"games_per_matchup": 2 * num_games, "simulations": num_simulations}
    for opponent_name in opponents:
        opponent = builders[opponent_name]()
        for kind, debater in learned.items():
            play = make_play_fn(task, judge_fn, [debater, opponent])
            honest_won = {}
            for matchup, (h, l) in {"as_honest": (0, 1), "as_liar": (1, 0), "baseline": (1, 1)}.items():
                for claimer in (HONEST, LIAR):
                    state = task.init(instances(seeds, lies), claimer)
                    key = jax.random.fold_in(jax.random.key(seed), claimer)
                    record = play(judge_params, key, state, seating=np.asarray([h, l], np.int32))
                    honest_won[matchup, claimer] = np.asarray(record.honest_margin) > 0
            out[f"{kind}_vs_{opponent_name}"] = summarize_match(honest_won, learned=kind, opponent=opponent.name)
    return out


def eval_scalars(result: dict) -> dict:
    return {f"{name}_{role}_win_rate": match[role]["learned_win_rate"]
            for name, match in result.items() if isinstance(match, dict) for role in ("as_honest", "as_liar")}


# -------------------------------------------------------------------------------------------- run
def train_computation_self_play(config: ComputationSelfPlayConfig, out_dir, iterations: int | None = None,
                                minutes: float | None = None, final_eval: bool = True, progress: bool = True,
                                mesh=None) -> dict:
    """Run (or resume) until ``iterations`` in total or ``minutes`` of wall time in this call."""
    run = ComputationSelfPlayRun(config, out_dir, mesh=mesh)
    metrics_path = run.out_dir / METRICS_FILE
    board = TensorBoard(run.out_dir / "tensorboard")
    start, first = time.time(), run.iteration
    last = None
    with tqdm(desc="computation self-play", unit="it", disable=not progress) as bar:
        while (iterations is None or run.iteration < iterations) and (minutes is None or time.time() - start < 60 * minutes):
            last = run.run_iteration()
            append_jsonl(metrics_path, last)
            board.scalars(last, run.iteration, "train/")
            bar.update(1)
            bar.set_postfix(games_s=f"{last['games_per_s']:.0f}", loss=f"{last['loss']:.3f}",
                            honest=f"{last['self_play_honest_win_rate']:.2f}")
            if config.eval_every and run.iteration % config.eval_every == 0:
                result = evaluate(run.task, run.judge_fn, run.judge_params, run.network_fn, run.params,
                                  config.eval_games, config.eval_simulations, config.seed, opponents=("expert",),
                                  network_value=config.network_value)
                append_jsonl(metrics_path, {"kind": "eval", "iteration": run.iteration, **eval_scalars(result)})
            if run.iteration % config.checkpoint_every == 0:
                run.save()
    if latest_step(run.out_dir) != run.iteration:
        run.save()
    summary = {"iterations": run.iteration, "iterations_this_run": run.iteration - first,
               "train_steps": run.train_steps, "games": run.games, "wall_s": round(time.time() - start, 1), "last": last}
    if final_eval:
        result = evaluate(run.task, run.judge_fn, run.judge_params, run.network_fn, run.params, config.eval_games,
                          config.eval_simulations, config.seed, network_value=config.network_value)
        (run.out_dir / EVAL_FILE).write_text(json.dumps({"iteration": run.iteration, **result}, indent=2, default=float))
        append_jsonl(metrics_path, {"kind": "eval", "iteration": run.iteration, "final": True, **eval_scalars(result)})
        summary["eval"] = result
    summary["run"] = run
    return summary


def load_computation_debater(checkpoint_dir, task: ComputationTask, judge_fn, num_simulations: int = 0):
    """(Debater, net_params) of a computation self-play run: the bare policy, or search with its prior and value."""
    checkpoint_dir = Path(checkpoint_dir)
    path = checkpoint_dir / CONFIG_FILE
    if not path.exists() or json.loads(path.read_text()).get("task") != "computation":
        raise CheckpointError(f"no computation self-play run at {checkpoint_dir}; train one with "
                              "`debate self-play --task computation --out DIR`.")
    config = ComputationSelfPlayConfig.from_dict(json.loads(path.read_text())["config"])
    step = latest_step(checkpoint_dir)
    if step is None:
        raise CheckpointError(f"{checkpoint_dir} has a config but no saved step; train it first.")
    network_fn, params = network_function(task, make_network(config.network_config(), seed=config.seed))
    params = jax.tree.map(jnp.asarray, restore_pytree(checkpoint_dir, step, {"params": params})["params"])
    if num_simulations == 0:
        return learned_debater(network_fn, name=f"learned-{checkpoint_dir.name}"), params
    return mcts_debater(task, judge_fn, num_simulations, network_fn=network_fn, network_value=config.network_value,
                        name=f"learned-{checkpoint_dir.name}-mcts-{num_simulations}"), params


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="AlphaZero-style self-play for computation (bisection) debaters.")
    parser.add_argument("--out", required=True, help="Run directory (resumed when it already holds this run).")
    parser.add_argument("--minutes", type=float, default=None, help="Wall-time budget of this call.")
    parser.add_argument("--iterations", type=int, default=None, help="Stop at this many iterations in total.")
    parser.add_argument("--no-final-eval", action="store_true")
    for f in fields(ComputationSelfPlayConfig):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = parser.parse_args(argv)
    if args.minutes is None and args.iterations is None:
        parser.error("give --minutes or --iterations (or both).")
    config = ComputationSelfPlayConfig(**{f.name: getattr(args, f.name) for f in fields(ComputationSelfPlayConfig)})
    summary = train_computation_self_play(config, args.out, args.iterations, args.minutes, not args.no_final_eval)
    summary.pop("run")
    print(json.dumps(summary, indent=2, default=float))


if __name__ == "__main__":
    main()
