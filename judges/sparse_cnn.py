"""The sparse-pixel judge of Irving et al. (2018): the TensorFlow MNIST-tutorial CNN on two planes.

Input ``[B, H, W, 2]``: which pixels are revealed, and their values. ``paper`` is the tutorial CNN
(conv 5x5x32, pool, conv 5x5x64, pool, dense 1024, dropout 0.5, dense classes, ~29 MFLOP per 28x28
image); ``small`` is a cheaper judge (16/32 channels, dense 128) for quick runs and tests, named as
such wherever it is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
from flax import nnx

ARCHITECTURES = {
    # name: (conv1 channels, conv2 channels, dense units)
    "paper": (32, 64, 1024),
    "small": (16, 32, 128),
}


@dataclass(frozen=True)
class JudgeConfig:
    architecture: str = "paper"
    height: int = 28
    width: int = 28
    num_classes: int = 10
    num_reveals: int = 6  # K the judge is trained for
    dropout: float = 0.5

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown judge architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}."
            )

    def to_dict(self) -> dict:
        return asdict(self)


class SparseCNN(nnx.Module):
    def __init__(self, config: JudgeConfig, *, rngs: nnx.Rngs):
        self.config = config
        c1, c2, dense = ARCHITECTURES[config.architecture]
        self.conv1 = nnx.Conv(2, c1, kernel_size=(5, 5), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(c1, c2, kernel_size=(5, 5), padding="SAME", rngs=rngs)
        flat = math.ceil(config.height / 4) * math.ceil(config.width / 4) * c2
        self.dense = nnx.Linear(flat, dense, rngs=rngs)
        self.out = nnx.Linear(dense, config.num_classes, rngs=rngs)

    def __call__(self, view: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        """Logits ``[B, classes]``. Dropout only with a key (training); the module holds no RNG
        state, so its split state is just its parameters and every call is a pure function."""
        x = _pool(nnx.relu(self.conv1(view)))
        x = _pool(nnx.relu(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)
        x = nnx.relu(self.dense(x))
        if dropout_key is not None and self.config.dropout > 0:
            keep = jax.random.bernoulli(dropout_key, 1.0 - self.config.dropout, x.shape)
            x = jnp.where(keep, x / (1.0 - self.config.dropout), 0.0)
        return self.out(x)


def _pool(x):
    return nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding="SAME")


def judge_flops(config: JudgeConfig) -> int:
    """Multiply-adds x 2 of one forward pass (convolutions and dense layers; pooling ignored)."""
    c1, c2, dense = ARCHITECTURES[config.architecture]
    h, w = config.height, config.width
    h2, w2 = math.ceil(h / 2), math.ceil(w / 2)
    flat = math.ceil(h / 4) * math.ceil(w / 4) * c2
    macs = h * w * 25 * 2 * c1 + h2 * w2 * 25 * c1 * c2 + flat * dense + dense * config.num_classes
    return 2 * macs


def make_judge(config: JudgeConfig, seed: int = 0) -> SparseCNN:
    return SparseCNN(config, rngs=nnx.Rngs(seed))


def judge_function(model: SparseCNN):
    """Split a model into ``(judge_fn, params)`` for the engine: a pure function of arrays.

    Plain ``jax.jit`` over the split state is much faster than ``nnx.jit`` in hot loops (NOTES.md).
    """
    graphdef, state = nnx.split(model)

    def judge_fn(params, view):
        return nnx.merge(graphdef, params)(view)

    return judge_fn, state


def predict_logits(judge_fn, params, views, batch_size: int = 1024) -> jnp.ndarray:
    """Logits for many views in fixed-size chunks (one compile, bounded memory)."""
    jitted = jax.jit(judge_fn)
    chunks = []
    for start in range(0, views.shape[0], batch_size):
        chunk = views[start : start + batch_size]
        pad = batch_size - chunk.shape[0]
        if pad:
            chunk = jnp.concatenate([chunk, jnp.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
        chunks.append(jitted(params, chunk)[: batch_size - pad])
    return jnp.concatenate(chunks) if chunks else jnp.zeros((0,))
