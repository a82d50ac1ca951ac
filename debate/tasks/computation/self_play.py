"""The computation (bisection) task's pieces of self-play; ``training.self_play`` is the one loop that
uses them (it finds this module as ``debate.tasks.api("computation").SELF_PLAY``; the interface is
described there).

- ``Settings``: the computation (T, p, operators), the checker (exact, or noisy at
  ``checker_error_rate``), the network (``hidden``, ``depth``) and the evaluation games.
- ``Setup``: fresh random instances for every self-play game (a seed each, a random wrong final
  value for the liar, the honest player as claimer in every other game), the checker as judge
  (``default_judge``), and evaluation on fresh instances.
- A replay row names its seed, lie and claimer (``INSTANCE_FIELDS``) and keeps the moving part of the
  position (``record``); ``rebuild_states`` makes the full position from them alone.

The judge speaks only at the end (it checks one step), so the judge's leaf value is 0 everywhere
else: by default the network's value is the leaf value (``network_value = 1``, AlphaZero), and
learning works backwards from the last round, where the search alone finds the right midpoint.
Gumbel's root considers 8 sampled midpoint values: searching all p values with 32 simulations visits
each once, never reaching the verdict two plies down, and self-play settles on "the claimer always
loses"; 8 sampled values get enough visits to see the verdict at the last round, and learning climbs
from there.

Evaluation: the learned debater, without search and with ``eval_simulations``, in both roles against
the expert (who plays optimally against an exact checker) and, at the end, against plain MCTS with
the same simulations (the judge as its only evaluator, which never finds the right midpoint at
T >= 4) and a random debater.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import numpy as np

from debate.tasks.computation.game import ComputationTask, checker_params, exact_checker, instances, noisy_checker
from debate.tasks.computation.network import NetworkConfig
from debate.tasks.computation.protocols import random_lies


@dataclass(frozen=True)
class Settings:
    num_steps: int = 64  # T
    modulus: int = 31  # p
    operators: str = "affine"
    checker_error_rate: float = 0.0  # 0: the exact checker; > 0: debate.tasks.computation.game.noisy_checker
    hidden: int = 256
    depth: int = 2
    eval_games: int = 256  # fresh instances per evaluation, each played with either side as claimer

    def __post_init__(self):
        for name in ("eval_games", "hidden", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)}).")
        if not 0.0 <= self.checker_error_rate <= 1.0:
            raise ValueError(f"checker_error_rate must be in [0, 1] (got {self.checker_error_rate}).")
        self.task()  # checks T, p and the operators

    def task(self) -> ComputationTask:
        return ComputationTask(num_steps=self.num_steps, modulus=self.modulus, operators=self.operators)


# The task's defaults for the loop's generic options (the others keep the loop's own).
DEFAULTS = {"games_per_iteration": 128, "max_num_considered_actions": 8, "network_value": 1.0,
            "replay_size": 50_000, "eval_simulations": 32, "eval_max_num_considered_actions": 0}

EVAL = {"learned": ("policy", "search"), "periodic": ("expert",), "final": ("expert", "mcts", "random")}

INSTANCE_FIELDS = {"seed": ((), np.uint32), "lie": ((), np.int32), "claimer": ((), np.int32)}
MOVING_FIELDS = ("lo", "hi", "v_lo", "v_hi", "pending", "current_player", "turn", "terminated")


def initial_states(task: ComputationTask, data, rows: dict):
    """The games that replay rows (or draws) start from (jit-able; ``data`` is unused)."""
    return task.init(instances(rows["seed"], rows["lie"]), rows["claimer"])


def record(task: ComputationTask, state) -> dict:
    """What a replay row keeps of a position besides its game's start: the moving part of the state."""
    return dict(zip(MOVING_FIELDS, task.split_static(state)[1]))


def rebuild_states(task: ComputationTask, data, rows: dict):
    """Full positions from replay rows (jit-able)."""
    return task.merge_static(initial_states(task, data, rows), tuple(rows[name] for name in MOVING_FIELDS))


@functools.lru_cache(maxsize=16)
def checker(task: ComputationTask, noisy: bool):
    """One judge function per task and kind, so that runs in one process share compiled steps."""
    return noisy_checker(task) if noisy else exact_checker(task)


class Setup:
    def __init__(self, settings: Settings, seed: int, data=None):
        if data is not None:
            raise ValueError("the computation task draws its own instances; pass no data.")
        self.settings, self.seed = settings, seed
        self.task = settings.task()
        self.network_config = NetworkConfig(modulus=settings.modulus, hidden=settings.hidden, depth=settings.depth)
        self.data = ()

    def draw(self, rng: np.random.Generator, n: int, iteration: int) -> dict:
        """``n`` fresh instances, a random lie each; the honest player is the claimer in every other game."""
        seeds = rng.integers(0, 2**32 - 1, n, dtype=np.uint32)
        lies = np.asarray(random_lies(self.task, seeds, jax.random.key(int(rng.integers(2**31)))), np.int32)
        claimer = ((np.arange(n) + iteration) % 2).astype(np.int32)
        return {"seed": seeds, "lie": lies, "claimer": claimer}

    def eval_instances(self, count: int | None = None, final: bool = False):
        """``count`` (default ``eval_games``) fresh instances with random lies, the same for every evaluation."""
        rng = np.random.default_rng([self.seed, 7])
        seeds = rng.integers(0, 2**32 - 1, count or self.settings.eval_games, dtype=np.uint32)
        return instances(seeds, np.asarray(random_lies(self.task, seeds, jax.random.key(self.seed + 7)), np.int32))

    def default_judge(self):
        """(judge_fn, params, description): the exact checker, or the noisy one at ``checker_error_rate``."""
        rate = self.settings.checker_error_rate
        if rate == 0.0:
            return checker(self.task, False), None, "exact step checker"
        return (checker(self.task, True), checker_params(rate, self.seed),
                f"noisy step checker (error rate {rate}, noise seed {self.seed})")

    def describe(self) -> dict:
        task = self.task
        return {"game": {"name": task.name, "num_steps": task.num_steps, "modulus": task.modulus,
                         "operators": task.operators, "num_actions": task.num_actions}}
