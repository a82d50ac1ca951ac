"""The computation (bisection) task's policy/value network for learned debaters.

The debaters are experts: they know the computation. The network sees the position from the mover's
view as one-hots over the ``p`` residues:

- the agreed value at the interval's start ``v_lo`` and the claimer's value at its end ``v_hi``;
- the claimer's pending midpoint value (or "none" when the claimer is to move);
- what the debater can compute: the true midpoint value, the value the computation reaches at the
  midpoint from ``v_lo`` (forward), and the value from which it reaches ``v_hi`` (backward);

plus whether the claimer is to move, whether the mover is the claimer, whether the mover is
honest, and how much of the bisection is left. An MLP gives one logit per action (``p``: the
claimer's midpoint value, or ``0``/``1`` for the challenger's left/right half; illegal actions are
masked by search and the loss) and a value in ``[-1, 1]`` for the player to move.

It has to learn from self-play *which* of these numbers to state or compare: nothing tells it
that an honest claimer should repeat the forward value, or that a challenger should dispute the
left half exactly when the pending value differs from the forward one.

``network_function(task, model)`` gives ``(network_fn, params)``: ``network_fn(params, state) ->
(logits [B, p], value [B])``, the form ``debate.core.debaters.mcts_debater(network_fn=...)`` and
``learned_debater`` take. The task's ``api`` module exposes ``NetworkConfig``, ``make_network`` and
``network_function``, the same three names every task's network has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from debate.tasks.computation.game import HONEST, ComputationTask, State, midpoint

NUM_ONE_HOTS = 6
NUM_FLAGS = 5


@dataclass(frozen=True)
class NetworkConfig:
    modulus: int = 31
    hidden: int = 256
    depth: int = 2

    def __post_init__(self):
        if self.modulus < 2 or self.hidden < 1 or self.depth < 1:
            raise ValueError(f"modulus must be at least 2 and hidden, depth at least 1 (got {self.modulus}, "
                             f"{self.hidden}, {self.depth}).")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def num_inputs(self) -> int:
        return NUM_ONE_HOTS * (self.modulus + 1) + NUM_FLAGS


def encode_state(task: ComputationTask, state: State) -> jax.Array:
    """[B, 6 (p + 1) + 5] features of a position from the mover's view (see the module docstring)."""
    p = task.modulus
    mid = midpoint(state.lo, state.hi)
    forward = task.run_from(state, state.lo, state.v_lo, mid)
    backward = task.run_back(state, state.hi, state.v_hi, mid)
    true_mid = task.true_value(state, mid)
    # index p stands for "none" (no pending value)
    values = [state.v_lo, state.v_hi, jnp.where(state.pending < 0, p, state.pending), forward, backward, true_mid]
    one_hots = [jax.nn.one_hot(v, p + 1) for v in values]
    claimer_to_move = state.pending < 0
    mover_is_claimer = state.current_player == state.claimer
    length = jnp.maximum(state.hi - state.lo, 1).astype(jnp.float32)
    flags = jnp.stack([claimer_to_move, mover_is_claimer, state.current_player == HONEST,
                       jnp.log2(length) / max(task.num_rounds, 1),
                       state.turn.astype(jnp.float32) / max(task.num_turns, 1)], axis=1).astype(jnp.float32)
    return jnp.concatenate(one_hots + [flags], axis=1)


class ComputationDebaterNet(nnx.Module):
    def __init__(self, config: NetworkConfig, *, rngs: nnx.Rngs):
        self.config = config
        sizes = [config.num_inputs] + [config.hidden] * config.depth
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])
        self.policy = nnx.Linear(config.hidden, config.modulus, rngs=rngs)
        self.value = nnx.Linear(config.hidden, 1, kernel_init=nnx.initializers.zeros, rngs=rngs)

    def __call__(self, features: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = features
        for layer in self.layers:
            h = nnx.relu(layer(h))
        return self.policy(h), jnp.tanh(self.value(h)[:, 0])


def make_network(config: NetworkConfig, seed: int = 0) -> ComputationDebaterNet:
    return ComputationDebaterNet(config, rngs=nnx.Rngs(seed))


def network_function(task: ComputationTask, model: ComputationDebaterNet):
    """``(network_fn, params)`` with ``network_fn(params, state) -> (logits [B, p], value [B])``."""
    if model.config.modulus != task.modulus:
        raise ValueError(f"the network was built for p = {model.config.modulus} but the task has p = {task.modulus}; "
                         "use a network trained on this modulus.")
    graphdef, params = nnx.split(model)

    def network_fn(params, state):
        return nnx.merge(graphdef, params)(encode_state(task, state))

    return network_fn, params
