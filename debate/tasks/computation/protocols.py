"""Experiment conditions for the ``computation`` task: bisection debate and its baselines.

- ``debate``: claimer and challenger bisect the computation; the judge checks one step. Played
  with the honest player as claimer and with the liar as claimer (the pixel task's "who moves
  first"); the honest-win rate of each and their mean.
- ``judge_alone``: the judge is shown a claimed final value with its claimed trace and reads
  ``reads`` steps chosen at random; it accepts the claim when every step it reads checks out. Half
  the claims are true (the real trace); half are lies whose trace is right except at one step, the
  lie that random spot checks find least often. Accuracy: accept the truth, reject the lie.
- ``consultancy``: one consultant, honest or lying (half each), shows the judge ``reads`` steps
  of its trace that it chooses; a lying consultant shows only steps it got right. Same decision
  rule as judge alone.

Debaters for the task besides the generic ones (random, MCTS): ``expert_debater`` plays from full
knowledge of the computation, which is optimal against an exact checker: the claimer states the
value consistent with the agreed start (for a liar: its lie stays in one half), the challenger
disputes a half whose end values disagree with the computation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from debate.tasks.computation.game import HONEST, LEFT, LIAR, RIGHT, ComputationTask, Instance, State, instances, midpoint
from debate.core.debaters import Debater, JudgeFn, ValueFn
from debate.analysis.metrics import wilson_interval
from debate.core.consultancy import ConsultancyResult, random_challenger
from debate.core.runner import Games, Runner


# ------------------------------------------------------------------------------ debaters
def expert_debater(task: ComputationTask) -> Debater:
    """Plays from knowledge of the whole computation. As claimer it states the value reached from
    the agreed start (the truth, for an honest claimer); a lying claimer thereby keeps its lie in
    the right half, or (at random, half the time) states the value that runs forward to its own
    end value, keeping the lie in the left half. As challenger it disputes the left half when the
    claimer's midpoint disagrees with the computation from the agreed start, else the right."""

    def select(params, key, state: State):
        mid = midpoint(state.lo, state.hi)
        forward = task.run_from(state, state.lo, state.v_lo, mid)
        backward = task.run_back(state, state.hi, state.v_hi, mid)
        use_backward = jax.random.bernoulli(key, 0.5, state.lo.shape) & (state.current_player == LIAR)
        claim = jnp.where(use_backward, backward, forward)
        dispute = jnp.where(forward != state.pending, LEFT, RIGHT)
        return jnp.where(state.pending < 0, claim, dispute).astype(jnp.int32)

    return Debater("expert", select)


def expert_leaf_value(task: ComputationTask, scale: float = 0.8) -> ValueFn:
    """A debater's own estimate of a position (honest view): the claimer wins when its interval
    is consistent with the computation, as it would against an exact checker. ``scale < 1`` keeps
    real verdicts above estimates in search."""

    def value_fn(params, state):
        claimer_value = jnp.where(task.claimer_consistent(state), scale, -scale)
        return jnp.where(state.claimer == HONEST, claimer_value, -claimer_value)

    return value_fn


# ------------------------------------------------------------------------------ debates
def true_final_values(task: ComputationTask, seeds, batch_size: int = 256) -> np.ndarray:
    """[N] the true ``x_T`` of each instance (computed in chunks: O(T) memory per instance)."""
    seeds = np.asarray(seeds, np.uint32)
    final = jax.jit(lambda s: task.truth(task.init(Instance(seed=s, liar_claim=jnp.full(s.shape, -1, jnp.int32)))))
    return np.concatenate([np.asarray(final(jnp.asarray(seeds[i:i + batch_size])))
                           for i in range(0, len(seeds), batch_size)])


def random_lies(task: ComputationTask, seeds, key) -> np.ndarray:
    """One uniformly random wrong final value per instance."""
    offset = np.asarray(jax.random.randint(key, (len(seeds),), 1, task.modulus))
    return (true_final_values(task, seeds) + offset) % task.modulus


def play_computations(runner: Runner, seeds, liar_claims, claimer: int, key, chunks=None) -> Games:
    """One bisection debate per seed with ``claimer`` (a player id) as the claimer. The record's
    columns include ``seed``, ``liar_claim``, ``truth``, ``num_moves`` and ``checked_view``.
    ``chunks`` (a ``ChunkStore``) keeps each finished batch, so an interrupted set resumes."""
    return runner.play(instances(seeds, liar_claims), claimer, key, chunks=chunks)


def computation_batch_size(task: ComputationTask, games: int, batch_size: int = 256) -> int:
    """Games per compiled batch: the prefix maps take O(T) memory per game."""
    return min(games, batch_size if task.num_steps < (1 << 16) else 32)


@dataclass
class ComputationResult:
    condition: str
    correct: np.ndarray  # [instances] 1.0 where the judge ended up with the truth
    judge_reads: int  # steps the judge read per decision
    games: Games | None = None

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct))

    def row(self) -> dict:
        n = int(self.correct.shape[0])
        return {"condition": self.condition, "accuracy": self.accuracy, "n": n, "judge_reads": self.judge_reads,
                "ci95": [round(v, 4) for v in wilson_interval(self.accuracy, n)]}


def debate(runner: Runner, seeds, liar_claims, claimer: int, key, chunks=None) -> ComputationResult:
    games = play_computations(runner, seeds, liar_claims, claimer, key, chunks)
    name = "debate_honest_claimer" if claimer == HONEST else "debate_liar_claimer"
    return ComputationResult(name, games.honest_won.astype(float), 1, games)


# ------------------------------------------------------------------------------ baselines
def _lying_trace_values(task: ComputationTask, state: State, error_at, error_offset, positions):
    """Values of a lying trace at ``positions`` [B, R]: right up to ``error_at``, then off by
    ``error_offset`` at ``error_at + 1`` and computed correctly from there on."""
    bad_start = ((task.true_value(state, error_at + 1) + error_offset) % task.modulus)[:, None]
    restart = jnp.broadcast_to((error_at + 1)[:, None], positions.shape)
    after = task.run_from(state, restart, jnp.broadcast_to(bad_start, positions.shape), jnp.maximum(positions, restart))
    return jnp.where(positions > error_at[:, None], after, task.true_value(state, positions))


def _accepts(task: ComputationTask, judge_fn: JudgeFn, judge_params, state: State, positions, lying, error_at, error_offset):
    """Whether the judge accepts every step ``positions`` [B, R] of the honest or lying trace."""
    batch, reads = positions.shape
    v_lo = jnp.where(lying[:, None], _lying_trace_values(task, state, error_at, error_offset, positions),
                     task.true_value(state, positions))
    v_hi = jnp.where(lying[:, None], _lying_trace_values(task, state, error_at, error_offset, positions + 1),
                     task.true_value(state, positions + 1))
    opcode, operand = task.operations(state.seed[:, None], positions)
    view = jnp.stack([jnp.ones_like(v_lo), positions, v_lo, opcode, operand, v_hi], axis=-1).reshape(-1, 6).astype(jnp.int32)
    logits = judge_fn(judge_params, view)
    return (logits[:, 1] > logits[:, 0]).reshape(batch, reads).all(axis=1)


def _spot_check(task, judge_fn, judge_params, seeds, key, reads: int, consultant: bool, batch_size: int = 256):
    seeds = np.asarray(seeds, np.uint32)
    check = _compiled_spot_check(task, judge_fn, reads, consultant)
    accept_truth, accept_lie = [], []
    for index, start in enumerate(range(0, len(seeds), batch_size)):  # O(T) memory per instance
        chunk = seeds[start:start + batch_size]
        truth, lie = check(judge_params, jnp.asarray(chunk), jax.random.fold_in(key, index))
        accept_truth.append(np.asarray(truth))
        accept_lie.append(np.asarray(lie))
    return np.concatenate(accept_truth), np.concatenate(accept_lie)


@functools.lru_cache(maxsize=64)
def _compiled_spot_check(task, judge_fn, reads: int, consultant: bool):
    @jax.jit
    def check(judge_params, seeds, key):
        batch = seeds.shape[0]
        state = task.init(Instance(seed=seeds, liar_claim=jnp.full((batch,), -1, jnp.int32)))
        k_err, k_off, k_pos = jax.random.split(key, 3)
        error_at = jax.random.randint(k_err, (batch,), 0, task.num_steps)
        error_offset = jax.random.randint(k_off, (batch,), 1, task.modulus)
        positions = jax.random.randint(k_pos, (batch, reads), 0, task.num_steps)
        if consultant:
            # A lying consultant never shows its wrong step: it draws from the other T - 1 steps.
            lie_positions = jax.random.randint(k_pos, (batch, reads), 0, task.num_steps - 1)
            lie_positions = jnp.where(lie_positions >= error_at[:, None], lie_positions + 1, lie_positions)
        else:
            lie_positions = positions
        accept_truth = _accepts(task, judge_fn, judge_params, state, positions, jnp.zeros(batch, bool), error_at, error_offset)
        accept_lie = _accepts(task, judge_fn, judge_params, state, lie_positions, jnp.ones(batch, bool), error_at, error_offset)
        return accept_truth, accept_lie

    return check


def judge_alone(task: ComputationTask, judge_fn: JudgeFn, judge_params, seeds, key, reads: int = 1) -> ComputationResult:
    """Per instance: the judge spot-checks the true trace and a one-error lying trace; correct
    decisions (accept the truth, reject the lie) averaged, so chance is 0.5."""
    if reads < 1:
        raise ValueError(f"the judge must read at least 1 step (got reads={reads}).")
    accept_truth, accept_lie = _spot_check(task, judge_fn, judge_params, seeds, key, reads, consultant=False)
    return ComputationResult(f"judge_alone_{reads}_reads", 0.5 * accept_truth + 0.5 * ~accept_lie, reads)


def consultancy(task: ComputationTask, judge_fn: JudgeFn, judge_params, seeds, key, reads: int = 1) -> ComputationResult:
    """Per instance: an honest consultant and a lying one each show ``reads`` steps they choose."""
    if reads < 1:
        raise ValueError(f"the judge must read at least 1 step (got reads={reads}).")
    accept_truth, accept_lie = _spot_check(task, judge_fn, judge_params, seeds, key, reads, consultant=True)
    return ComputationResult(f"consultancy_{reads}_reads", 0.5 * accept_truth + 0.5 * ~accept_lie, reads)


def computation_consultancy(runner_factory, consultant: Debater, seeds, liar_claims, key) -> ConsultancyResult:
    """Bisection consultancy: ``consultant`` as the claimer against ``random_challenger``, honest on
    every instance and lying on every instance. ``runner_factory(honest, liar)`` builds a
    ``debate.core.runner.Runner`` with those two debaters."""
    challenger = random_challenger()
    honest = play_computations(runner_factory(consultant, challenger), seeds, liar_claims, HONEST,
                               jax.random.fold_in(key, HONEST))
    lying = play_computations(runner_factory(challenger, consultant), seeds, liar_claims, LIAR,
                              jax.random.fold_in(key, LIAR))
    return ConsultancyResult(honest_won=honest.honest_won, liar_won=~lying.honest_won)
