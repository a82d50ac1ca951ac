"""The engine-facing surface of the computation task (the contract is in ``debate.core.task``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from debate.core.debaters import mcts_debater
from debate.core.runner import Games
from debate.tasks.computation.game import LEFT, ComputationTask, Instance, instances, midpoint
from debate.tasks.computation.protocols import expert_debater, expert_leaf_value
from debate.tasks.computation.records import computation_games_to_transcripts
from debate.tasks.computation import self_play as SELF_PLAY  # noqa: F401, N812 (what training.self_play needs)
from debate.tasks.computation.network import NetworkConfig, make_network, network_function  # noqa: F401

NAME = ComputationTask.name
Task = ComputationTask

# Debater kinds of this task besides the generic ones; ``mcts`` replaces the generic search because
# the claimer's actions are values whose order means nothing (ties broken at random).
DEBATER_KINDS = {
    "expert": lambda task, judge_fn, simulations: expert_debater(task),
    "mcts": lambda task, judge_fn, simulations: mcts_debater(task, judge_fn, simulations, root_tie_break=True),
    "mcts-expert": lambda task, judge_fn, simulations: mcts_debater(
        task, judge_fn, simulations, leaf_value_fn=expert_leaf_value(task), name=f"mcts-expert-{simulations}",
        root_tie_break=True),
}


def make_task(**config) -> ComputationTask:
    return ComputationTask(**config)


def example(key: jax.Array, num_games: int, task: ComputationTask | None = None) -> tuple[ComputationTask, Instance]:
    """A short computation (T = 6, not a power of two: branches of different depth) and random seeds."""
    task = task or ComputationTask(num_steps=6, modulus=7)
    seeds = np.asarray(jax.random.bits(key, (num_games,), jnp.uint32))
    return task, instances(seeds)


def task_of(transcript) -> ComputationTask:
    inst = transcript.instance
    return ComputationTask(num_steps=int(inst["num_steps"]), modulus=int(inst["modulus"]), operators=inst["operators"])


def instance_of(transcript) -> Instance:
    return instances(jnp.asarray([int(transcript.instance["seed"])], jnp.uint32),
                     jnp.asarray([int(transcript.claims[1])], jnp.int32))


def check_turn(task: ComputationTask, state, turn, transcript) -> None:
    """A claimer's turn states the midpoint value it played; a challenger's names the half it kept."""
    lo, hi, action = int(state.lo[0]), int(state.hi[0]), int(turn.action)
    mid = int(midpoint(lo, hi))
    if int(state.pending[0]) < 0:
        expected = {"kind": "midpoint", "position": mid, "value": action}
    else:
        left = action == LEFT
        expected = {"kind": "dispute", "half": "left" if left else "right", "lo": lo if left else mid,
                    "hi": mid if left else hi}
    if dict(turn.revealed) != expected:
        raise ValueError(f"turn {turn.index + 1} of transcript {str(transcript.id)[:8]} records {turn.revealed} but "
                         f"replaying its action gives {expected}.")


def to_transcripts(task: ComputationTask, games: Games, *, protocol: str, debaters, judge: str, seed: int,
                   instance_ids=None, experiment: str | None = None) -> list:
    """One validated transcript per game (the instance id is the task's configuration and seed)."""
    return computation_games_to_transcripts(games, task, protocol, tuple(debaters), judge, seed, experiment)
