"""A small learned judge for the ``computation`` task: it checks one step ``v_hi == op(v_lo)`` mod p.

Input: the task's judge view ``[B, 6]`` int32 ``(at_check, position, v_lo, opcode, operand, v_hi)``.
Output: logits ``[B, 2]`` over ``(step wrong, step right)``. The model never reads ``position``
(a checker reads the step, not where it is) nor ``at_check`` (views before the check are never
judged, so any output is fine there).

Architecture: learned embeddings of ``v_lo``, ``opcode``, ``operand`` and ``v_hi`` (one table for
the values ``v_lo``/``v_hi``, one per opcode for the operand, since "add 3" and "multiply by 3"
mean different things), concatenated, then an MLP of ``depth`` hidden layers of ``hidden`` units
(GELU) and a linear layer to the two logits. Inputs outside their ranges are clipped, so a
malformed view gives some output rather than an out-of-bounds gather.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from debate.tasks.computation.game import MAX_MODULUS, OPERATOR_NAMES

# columns of the judge view
AT_CHECK, POSITION, V_LO, OPCODE, OPERAND, V_HI = range(6)


@dataclass(frozen=True)
class StepCheckerConfig:
    modulus: int = 31  # p of the task it checks
    num_opcodes: int = len(OPERATOR_NAMES)  # add, subtract, multiply by
    embed_dim: int = 32
    hidden: int = 256
    depth: int = 2  # hidden layers

    def __post_init__(self):
        for name in ("modulus", "num_opcodes", "embed_dim", "hidden", "depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"StepCheckerConfig.{name} must be an integer (got {value!r}).")
        if not 2 <= self.modulus <= MAX_MODULUS:
            raise ValueError(f"StepCheckerConfig.modulus must be between 2 and {MAX_MODULUS} (got {self.modulus}).")
        if self.num_opcodes < 1 or self.embed_dim < 1 or self.hidden < 1 or self.depth < 1:
            raise ValueError(f"num_opcodes, embed_dim, hidden and depth must be at least 1 (got {self.num_opcodes}, "
                             f"{self.embed_dim}, {self.hidden}, {self.depth}).")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StepCheckerConfig":
        return cls(**d)


class StepChecker(nnx.Module):
    def __init__(self, config: StepCheckerConfig, *, rngs: nnx.Rngs):
        self.config = config
        p, e = config.modulus, config.embed_dim
        self.values = nnx.Embed(p, e, rngs=rngs)  # v_lo and v_hi
        self.opcodes = nnx.Embed(config.num_opcodes, e, rngs=rngs)
        self.operands = nnx.Embed(config.num_opcodes * p, e, rngs=rngs)  # (opcode, operand) pairs
        widths = [4 * e] + [config.hidden] * config.depth
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
        self.out = nnx.Linear(widths[-1], 2, rngs=rngs)

    def __call__(self, view: jax.Array) -> jax.Array:
        """Logits ``[B, 2]`` (step wrong, step right); ``view[:, 1]`` (position) is never read."""
        p, k = self.config.modulus, self.config.num_opcodes
        view = jnp.asarray(view, jnp.int32)
        v_lo = jnp.clip(view[:, V_LO], 0, p - 1)
        opcode = jnp.clip(view[:, OPCODE], 0, k - 1)
        operand = jnp.clip(view[:, OPERAND], 0, p - 1)
        v_hi = jnp.clip(view[:, V_HI], 0, p - 1)
        x = jnp.concatenate([self.values(v_lo), self.opcodes(opcode), self.operands(opcode * p + operand),
                             self.values(v_hi)], axis=-1)
        for layer in self.layers:
            x = nnx.gelu(layer(x))
        return self.out(x)


def make_step_checker(config: StepCheckerConfig, seed: int = 0) -> StepChecker:
    return StepChecker(config, rngs=nnx.Rngs(seed))


def judge_function(model: StepChecker):
    """Split a model into ``(judge_fn, params)`` for the engine: ``judge_fn(params, view) -> logits``,
    a pure function of arrays (plain ``jax.jit`` / mctx friendly; faster than ``nnx.jit``, NOTES.md)."""
    graphdef, state = nnx.split(model)

    def judge_fn(params, view):
        return nnx.merge(graphdef, params)(view)

    return judge_fn, state
