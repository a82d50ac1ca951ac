"""Exact solution of the bisection game of the ``computation`` task, by vectorised backward induction.

The future of a bisection position depends only on the disputed interval and its two end values
(who got there, and in what order, does not matter), so the whole game of one instance is a table
per interval: ``wins[interval][v_lo, v_hi]`` = 1 if the claimer wins with best play from there.

- A single step ``[t, t+1]`` is decided by the judge: ``wins = judge says the step is right``.
- An interval splits at its midpoint ``m``; the claimer picks the midpoint value ``x``, then the
  challenger picks the half that is worse for the claimer:
  ``wins[I][a, b] = max_x min(wins[left][a, x], wins[right][x, b])``,
  a boolean matrix product, computed for all intervals of one length at once.

For ``T = 2^n`` that is ``n`` batched matrix products over ``T p^2`` judge verdicts: exact
solutions for millions of steps with small ``p`` (``T = 2^20, p = 7``: 51 M judge calls). The
generic solver in ``debate.analysis.exact`` covers any task and any ``T`` but enumerates states one by one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from debate.tasks.computation.game import HONEST, LEFT, RIGHT, ComputationTask, Instance, midpoint

DEFAULT_MAX_ENTRIES = 1 << 28


class BisectionTooLargeError(ValueError):
    pass


@dataclass
class BisectionSolution:
    task: ComputationTask
    seed: int
    start: int  # x_0
    truth: int  # x_T
    levels: list[np.ndarray]  # levels[k]: [T / 2^k, p, p] bool, claimer wins on intervals of length 2^k

    def claimer_wins(self, lo: int, hi: int, v_lo: int, v_hi: int) -> bool:
        length = hi - lo
        level = length.bit_length() - 1
        return bool(self.levels[level][lo // length, v_lo, v_hi])

    def claim_wins(self, claim: int) -> bool:
        """Whether a claimer with final value ``claim`` wins the whole game with best play."""
        return self.claimer_wins(0, self.task.num_steps, self.start, claim)

    @property
    def winning_claims(self) -> np.ndarray:
        """Every final value a claimer can defend successfully (the truth among them when the
        judge is sound; wrong values too when the judge can be fooled)."""
        return np.flatnonzero(self.levels[-1][0, self.start])

    def claimer_move(self, lo: int, hi: int, v_lo: int, v_hi: int) -> int:
        """An optimal midpoint value (the lowest among equals)."""
        length, mid = hi - lo, midpoint(lo, hi)
        level = (length // 2).bit_length() - 1
        left = self.levels[level][lo // (length // 2), v_lo]
        right = self.levels[level][mid // (length // 2), :, v_hi]
        good = left & right
        return int(np.argmax(good)) if good.any() else 0

    def challenger_move(self, lo: int, hi: int, v_lo: int, v_hi: int, pending: int) -> int:
        """An optimal half to dispute: one the claimer loses (LEFT among equals)."""
        half, mid = (hi - lo) // 2, midpoint(lo, hi)
        level = half.bit_length() - 1
        if not self.levels[level][lo // half, v_lo, pending]:
            return LEFT
        if not self.levels[level][mid // half, pending, v_hi]:
            return RIGHT
        return LEFT

    def principal_variation(self, claim: int) -> list[int]:
        """The actions of optimal play from the start, claimer first, for a claimer of ``claim``."""
        lo, hi, v_lo, v_hi, actions = 0, self.task.num_steps, self.start, claim, []
        while hi - lo > 1:
            x = self.claimer_move(lo, hi, v_lo, v_hi)
            side = self.challenger_move(lo, hi, v_lo, v_hi, x)
            actions += [x, side]
            mid = midpoint(lo, hi)
            lo, v_lo, hi, v_hi = (lo, v_lo, mid, x) if side == LEFT else (mid, x, hi, v_hi)
        return actions

    def honest_wins(self, liar_claim: int, claimer: int) -> bool:
        """The honest player's result with best play on both sides."""
        if claimer == HONEST:
            return self.claim_wins(self.truth)
        return not self.claim_wins(liar_claim)


@functools.lru_cache(maxsize=32)
def _compiled(task: ComputationTask, judge_fn, per_call: int):
    """The judge over every (v_lo, v_hi) of ``per_call`` steps, and one level of the induction;
    compiled once per task and judge function (the seed and judge parameters are arguments)."""
    p = task.modulus

    @jax.jit
    def verdicts(judge_params, seed_array, positions):
        flat = positions.shape[0]
        opcode, operand = task.operations(jnp.broadcast_to(seed_array, (flat,)), positions)
        grid = jnp.arange(p * p)
        views = jnp.stack([
            jnp.ones((flat, p * p), jnp.int32),
            jnp.broadcast_to(positions[:, None], (flat, p * p)),
            jnp.broadcast_to(grid // p, (flat, p * p)),
            jnp.broadcast_to(opcode[:, None], (flat, p * p)),
            jnp.broadcast_to(operand[:, None], (flat, p * p)),
            jnp.broadcast_to(grid % p, (flat, p * p)),
        ], axis=-1).reshape(-1, 6).astype(jnp.int32)
        logits = judge_fn(judge_params, views)
        return (logits[:, 1] > logits[:, 0]).reshape(flat, p, p)

    @jax.jit
    def combine(left, right):
        # wins[a, b] = any_x left[a, x] and right[x, b]: a boolean matrix product.
        return jnp.einsum("nam,nmb->nab", left.astype(jnp.float32), right.astype(jnp.float32)) > 0

    return verdicts, combine


def solve_bisection(task: ComputationTask, judge_fn, judge_params, seed: int,
                    max_entries: int = DEFAULT_MAX_ENTRIES, chunk: int = 1 << 20) -> BisectionSolution:
    """Solve one instance exactly. ``T`` must be a power of two and ``2 T p^2`` at most
    ``max_entries`` (one clear error otherwise)."""
    steps, p = task.num_steps, task.modulus
    if steps & (steps - 1):
        raise ValueError(f"the vectorised bisection solver needs T to be a power of two (got {steps}); "
                         "use debate.analysis.exact.solve_exact for other lengths.")
    entries = 2 * steps * p * p
    if entries > max_entries:
        raise BisectionTooLargeError(
            f"solving T={steps} with modulus {p} needs {entries:,} table entries, over the limit of "
            f"{max_entries:,}; use a smaller T or modulus, or raise max_entries.")
    seed_array = jnp.asarray([seed], jnp.uint32)
    start = int(task.start_value(seed_array)[0])
    truth = int(task.true_value(task.init(Instance(seed=seed_array, liar_claim=jnp.asarray([-1], jnp.int32))), jnp.asarray([steps]))[0])
    per_call = min(steps, max(1, chunk // (p * p)))
    verdicts, combine = _compiled(task, judge_fn, per_call)
    leaves = []
    for start_pos in range(0, steps, per_call):
        positions = jnp.arange(start_pos, start_pos + per_call, dtype=jnp.int32)
        leaves.append(np.asarray(verdicts(judge_params, seed_array, positions))[: max(0, min(per_call, steps - start_pos))])
    levels = [np.concatenate(leaves)]
    rows = max(1, (1 << 24) // (p ** 3))
    while levels[-1].shape[0] > 1:
        current = levels[-1]
        pairs = current.shape[0] // 2
        parts = []
        for begin in range(0, pairs, rows):
            end = min(pairs, begin + rows)
            left, right = current[2 * begin:2 * end:2], current[2 * begin + 1:2 * end:2]
            # Pad to a power of two so the compiled product sees few shapes.
            size = 1 << (end - begin - 1).bit_length()
            pad = size - (end - begin)
            if pad:
                left = np.concatenate([left, np.zeros((pad, p, p), bool)])
                right = np.concatenate([right, np.zeros((pad, p, p), bool)])
            parts.append(np.asarray(combine(left, right))[: end - begin])
        levels.append(np.concatenate(parts))
    return BisectionSolution(task, int(seed), start, truth, levels)
