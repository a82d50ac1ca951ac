"""Shared fixtures: tiny data and hand-built judges whose decisions are known in advance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def linear_judge_fn(weights):
    """logits[c] = sum over revealed pixels of weights[c, row, col] * value: a fixed, transparent judge."""

    def judge_fn(params, view):
        return jnp.einsum("bhw,chw->bc", view[..., 1], params)

    return judge_fn, jnp.asarray(weights, jnp.float32)


def bias_judge_fn(bias):
    """A judge that ignores the evidence: logits = bias for every view."""

    def judge_fn(params, view):
        return jnp.broadcast_to(params, (view.shape[0], params.shape[0]))

    return judge_fn, jnp.asarray(bias, jnp.float32)


@pytest.fixture(scope="session")
def digits():
    from debate.tasks.sparse_pixel.data import load_sklearn_digits

    return load_sklearn_digits()


@pytest.fixture(scope="session")
def linear_judge():
    weights = np.random.default_rng(0).normal(size=(10, 8, 8)).astype(np.float32)
    return linear_judge_fn(weights)
