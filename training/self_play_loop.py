"""The task-free bookkeeping of ``training.self_play``: the replay buffer, the iteration / training /
checkpoint loop (``SelfPlayLoop``), the JSONL metric log and TensorBoard."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from training.checkpoints import latest_step, restore_pytree, save_pytree


class ReplayBuffer:
    """A ring of the newest ``capacity`` positions, one numpy array per field.

    ``fields`` maps a name to ``(shape of one row, dtype)``; a trainer stores what it needs to rebuild
    a position (which instance, the moving part of the state) and its targets. ``state_dict`` /
    ``load_state_dict`` make it part of a checkpoint, so a resumed run samples the same minibatches."""

    def __init__(self, capacity: int, fields: dict):
        self.capacity = capacity
        self.arrays = {name: np.zeros((capacity,) + tuple(shape), dtype) for name, (shape, dtype) in fields.items()}
        self.counters = np.zeros(2, np.int64)  # [size, next insert position]

    @property
    def size(self) -> int:
        return int(self.counters[0])

    def add(self, rows: dict) -> None:
        n = len(next(iter(rows.values())))
        position = int(self.counters[1])
        index = (position + np.arange(n)) % self.capacity
        for name, array in self.arrays.items():
            array[index] = rows[name]
        self.counters[:] = [min(self.size + n, self.capacity), (position + n) % self.capacity]

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict:
        index = rng.integers(0, self.size, batch_size)
        return {name: array[index] for name, array in self.arrays.items()}

    def state_dict(self) -> dict:
        return {**self.arrays, "counters": self.counters}

    def load_state_dict(self, d: dict) -> None:
        for name in self.arrays:
            self.arrays[name] = np.array(d[name], dtype=self.arrays[name].dtype)
        self.counters = np.array(d["counters"], np.int64)


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def truncate_jsonl(path: Path, iteration: int) -> None:
    """Drop metric lines written after ``iteration`` (a resumed run redoes those iterations)."""
    if path.exists():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line).get("iteration", 0) <= iteration]
        path.write_text("".join(line + "\n" for line in kept))


class SelfPlayLoop:
    """Iterations, minibatch training and checkpoints of a self-play run.

    A subclass sets ``config`` (with ``seed`` and ``train_steps_per_iteration``), ``out_dir``,
    ``params``, ``opt_state``, ``replay``, ``games_per_iteration``, ``batch_size`` and
    ``metrics_file``, and implements ``play_games() -> (replay rows, honest margins)`` and
    ``train_minibatch(rows) -> (params, opt_state, [loss, policy loss, value loss])``; ``place`` puts
    restored arrays where training wants them (replicated over a mesh, for one). Every minibatch is a
    function of ``(seed, train step)``, so a resumed run continues exactly."""

    iteration = 0
    train_steps = 0
    games = 0

    def place(self, tree):
        return tree

    def train(self, steps: int) -> np.ndarray:
        """``steps`` Adam steps on replay minibatches; the mean [loss, policy loss, value loss]."""
        losses = []
        for _ in range(steps):
            rng = np.random.default_rng([self.config.seed, self.train_steps, 2])
            self.params, self.opt_state, loss = self.train_minibatch(self.replay.sample(rng, self.batch_size))
            self.train_steps += 1
            losses.append(loss)
        return np.mean(np.asarray(jnp.stack(losses)), axis=0) if losses else np.full(3, np.nan)

    def run_iteration(self) -> dict:
        """Play a batch of games, store their positions, train; the iteration's metrics."""
        t0 = time.perf_counter()
        rows, margin = self.play_games()
        t1 = time.perf_counter()
        self.replay.add(rows)
        losses = self.train(self.config.train_steps_per_iteration)
        t2 = time.perf_counter()
        self.iteration += 1
        self.games += self.games_per_iteration
        return {"kind": "train", "iteration": self.iteration, "train_step": self.train_steps, "games": self.games,
                "loss": float(losses[0]), "policy_loss": float(losses[1]), "value_loss": float(losses[2]),
                "self_play_honest_win_rate": float(np.mean(margin > 0)),
                "games_per_s": self.games_per_iteration / (t1 - t0),
                "train_steps_per_s": self.config.train_steps_per_iteration / max(t2 - t1, 1e-9),
                "replay_size": self.replay.size, "time": time.time()}

    def checkpoint_tree(self) -> dict:
        return {"params": self.params, "opt_state": self.opt_state, "replay": self.replay.state_dict(),
                "counters": np.array([self.iteration, self.train_steps, self.games], np.int64)}

    def save(self) -> None:
        save_pytree(self.out_dir, self.iteration, jax.device_get(self.checkpoint_tree()))

    def resume(self) -> bool:
        """Load the latest checkpoint of ``out_dir`` if there is one (and drop later metric lines)."""
        step = latest_step(self.out_dir)
        if step is None:
            return False
        restored = restore_pytree(self.out_dir, step, jax.device_get(self.checkpoint_tree()))
        self.params, self.opt_state = self.place(restored["params"]), self.place(restored["opt_state"])
        self.replay.load_state_dict(restored["replay"])
        self.iteration, self.train_steps, self.games = (int(v) for v in restored["counters"])
        truncate_jsonl(self.out_dir / self.metrics_file, self.iteration)
        return True


class TensorBoard:
    """SummaryWriter from tensorboardX or torch.utils.tensorboard when importable; else nothing."""

    def __init__(self, log_dir: Path):
        self.writer = None
        for module in ("tensorboardX", "torch.utils.tensorboard"):
            try:
                self.writer = __import__(module, fromlist=["SummaryWriter"]).SummaryWriter(str(log_dir))
                break
            except Exception:  # noqa: BLE001 - optional: any import problem means "no TensorBoard"
                continue

    def scalars(self, record: dict, step: int, prefix: str = "") -> None:
        if self.writer is None:
            return
        for name, value in record.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in ("time", "iteration"):
                self.writer.add_scalar(prefix + name, value, step)
        self.writer.flush()
