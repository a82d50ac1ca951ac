"""The sparse-pixel task's policy/value network for learned debaters (AlphaZero style).

The network sees the state as the debaters do (they are experts: they see the whole image):

- planes ``[B, H, W, 7]``: the image, the pixels revealed by the player to move, those revealed by
  the opponent, the candidate pixels still legal, the candidate pixels of the game, and the row
  and column coordinates (the judge is not translation invariant);
- global features: the mover's claim and the opponent's claim as one-hots (zeros for an
  uncommitted liar, ``NO_CLAIM``), whether the mover is the honest player, and the share of reveals
  made so far.

Everything is relative to the player to move, so one network plays both roles. A small conv trunk
(stride 2 on 28x28 images) whose channels are shifted by the global features (the claims decide
which pixels help), read at each of the task's candidate pixels together with that pixel's own
input planes and a pooled summary, gives one logit per candidate (``[B, A]``, ``A =
task.num_actions``) and a value in ``[-1, 1]`` for the player to move.

``network_function(task, model)`` splits a model into ``(network_fn, params)``: ``network_fn(params,
state) -> (prior_logits [B, A], value [B])`` is a pure function of arrays, the form
``debate.core.debaters.mcts_debater(network_fn=...)`` and ``learned_debater`` take, and the parameters
are an argument (new weights never recompile). The task's ``api`` module exposes ``NetworkConfig``,
``make_network`` and ``network_function``, the same three names every task's network has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from debate.tasks.sparse_pixel.game import HONEST, NUM_PLAYERS, SparsePixelTask, State

NUM_PLANES = 7


@dataclass(frozen=True)
class NetworkConfig:
    height: int = 8
    width: int = 8
    num_classes: int = 10
    num_reveals: int = 4  # K, to scale the turn feature
    channels: int = 32
    num_layers: int = 3  # 3x3 convolutions in the trunk
    hidden: int = 128  # width of the pooled summary
    stride: int = 1  # the trunk runs at (H / stride, W / stride); 2 for 28x28 images keeps it cheap

    def __post_init__(self):
        if self.channels < 1 or self.num_layers < 1 or self.hidden < 1 or self.stride < 1:
            raise ValueError(f"channels, num_layers and hidden must be at least 1 (got {self.channels}, "
                             f"{self.num_layers}, {self.hidden}).")

    @classmethod
    def for_task(cls, task: SparsePixelTask, **kwargs) -> "NetworkConfig":
        """A config for ``task``'s images; the trunk stride defaults to 1 up to 16x16 images, else 2."""
        kwargs.setdefault("stride", 1 if task.height * task.width <= 256 else 2)
        return cls(height=task.height, width=task.width, num_classes=task.num_classes,
                   num_reveals=task.num_reveals, **kwargs)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def num_globals(self) -> int:
        return 2 * self.num_classes + 2


def encode_state(state: State, num_reveals: int, num_classes: int) -> tuple[jax.Array, jax.Array]:
    """(planes [B, H, W, 7], globals [B, 2 * classes + 2]) from the mover's point of view."""
    batch, height, width = state.image.shape
    mover = state.current_player
    candidates = state.candidates
    valid = candidates >= 0
    flat_index = jnp.maximum(candidates, 0)
    rows = jnp.arange(batch)[:, None]

    def plane(values):  # scatter per-candidate values [B, A] onto the image grid
        flat = jnp.zeros((batch, height * width), jnp.float32)
        flat = flat.at[rows, flat_index].max(jnp.where(valid, values, 0.0).astype(jnp.float32))
        return flat.reshape(batch, height, width)

    by_mover = plane(state.revealed_by == mover[:, None])
    by_opponent = plane((state.revealed_by >= 0) & (state.revealed_by != mover[:, None]))
    legal = plane(state.legal_action_mask)
    candidate = plane(valid)
    row = jnp.broadcast_to(jnp.linspace(-1.0, 1.0, height)[None, :, None], (batch, height, width))
    col = jnp.broadcast_to(jnp.linspace(-1.0, 1.0, width)[None, None, :], (batch, height, width))
    planes = jnp.stack([state.image, by_mover, by_opponent, legal, candidate, row, col], axis=-1)

    mover_claim = jnp.take_along_axis(state.claims, mover[:, None], axis=1)[:, 0]
    opponent = (mover + 1) % NUM_PLAYERS
    opponent_claim = jnp.take_along_axis(state.claims, opponent[:, None], axis=1)[:, 0]
    # one_hot of NO_CLAIM (-1) is all zeros.
    features = jnp.concatenate([
        jax.nn.one_hot(mover_claim, num_classes),
        jax.nn.one_hot(opponent_claim, num_classes),
        (mover == HONEST).astype(jnp.float32)[:, None],
        (state.turn.astype(jnp.float32) / num_reveals)[:, None],
    ], axis=1)
    return planes, features


class DebaterNet(nnx.Module):
    """Conv trunk conditioned on the claims; a logit per candidate pixel from the trunk features at
    that pixel, its own input planes, a learned embedding of its position and the pooled summary
    (a linear read-out plus a bilinear one against a query from the summary); a scalar value."""

    def __init__(self, config: NetworkConfig, *, rngs: nnx.Rngs):
        self.config = config
        c, g = config.channels, config.num_globals
        s = config.stride
        self.convs = nnx.List([
            nnx.Conv(NUM_PLANES if i == 0 else c, c, kernel_size=(3, 3) if i or s == 1 else (s + 1, s + 1),
                     strides=s if i == 0 else 1, padding="SAME", rngs=rngs)
            for i in range(config.num_layers)])
        self.films = nnx.List([nnx.Linear(g, c, rngs=rngs) for _ in range(config.num_layers)])
        self.summary = nnx.Linear(2 * c + g, config.hidden, rngs=rngs)
        self.broadcast = nnx.Linear(config.hidden, c, rngs=rngs)
        self.pixel_input = nnx.Linear(NUM_PLANES, c, rngs=rngs)
        self.position = nnx.Param(0.1 * jax.random.normal(rngs.params(), (config.height * config.width, c)))
        self.query = nnx.Linear(config.hidden, c, rngs=rngs)
        self.policy = nnx.Linear(c, 1, rngs=rngs)
        self.value_hidden = nnx.Linear(config.hidden, config.hidden, rngs=rngs)
        self.value = nnx.Linear(config.hidden, 1, kernel_init=nnx.initializers.zeros, rngs=rngs)

    def __call__(self, planes: jax.Array, features: jax.Array, pixels: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(logits [B, P] at the flat pixel indices ``pixels`` [B, P], value [B] in [-1, 1])."""
        config = self.config
        x = planes
        for i, (conv, film) in enumerate(zip(self.convs, self.films)):
            y = conv(x) + film(features)[:, None, None, :]
            x = nnx.relu(y) if i == 0 else x + nnx.relu(y)  # residual after the first layer
        batch, trunk_h, trunk_w, c = x.shape
        pooled = jnp.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2)), features], axis=1)
        h = nnx.relu(self.summary(pooled))
        rows, cols = pixels // config.width, pixels % config.width
        trunk_index = (rows // config.stride) * trunk_w + cols // config.stride
        at_trunk = jnp.take_along_axis(x.reshape(batch, -1, c), trunk_index[..., None], axis=1)
        at_input = jnp.take_along_axis(planes.reshape(batch, -1, planes.shape[-1]), pixels[..., None], axis=1)
        pixel = nnx.relu(at_trunk + self.pixel_input(at_input) + self.position[...][pixels]
                         + self.broadcast(h)[:, None, :])
        # a linear read-out plus one that depends on the claims and the whole board (bilinear)
        logits = self.policy(pixel)[..., 0] + jnp.einsum("bpc,bc->bp", pixel, self.query(h)) / jnp.sqrt(c)
        value = jnp.tanh(self.value(nnx.relu(self.value_hidden(h)))[:, 0])
        return logits, value


def make_network(config: NetworkConfig, seed: int = 0) -> DebaterNet:
    return DebaterNet(config, rngs=nnx.Rngs(seed))


def apply_network(model: DebaterNet, state: State) -> tuple[jax.Array, jax.Array]:
    """(prior logits over the task's actions [B, A], value [B] for the player to move).

    Logits of unused candidates (``-1``) are returned as they come; search and
    ``debate.core.debaters`` mask them through ``legal_action_mask``."""
    config = model.config
    planes, features = encode_state(state, config.num_reveals, config.num_classes)
    return model(planes, features, jnp.maximum(state.candidates, 0))


def network_function(task: SparsePixelTask, model: DebaterNet):
    """Split a model into ``(network_fn, params)``: ``network_fn(params, state) -> (logits [B, A],
    value [B])``, a pure function (plain ``jax.jit`` on split state is much faster than ``nnx.jit``
    in hot loops, NOTES.md). ``ValueError`` when the network was built for other images or classes."""
    config = model.config
    if (config.height, config.width, config.num_classes) != (task.height, task.width, task.num_classes):
        raise ValueError(f"the network was built for {config.height}x{config.width} images and {config.num_classes} "
                         f"classes but the task has {task.height}x{task.width} and {task.num_classes}; use a network "
                         "trained on this task.")
    graphdef, params = nnx.split(model)

    def network_fn(params, state):
        return apply_network(nnx.merge(graphdef, params), state)

    return network_fn, params
