"""Greedy and sampled generation, and next-token scores, under ``jax.jit`` with a fixed-shape cache.

Prompts are right-padded to one length and the cache has one length, so a batch compiles once per
(batch, prompt length, cache length). Prefill writes the whole prompt into the cache; each decoding
step then feeds every row its own next position (rows of different lengths decode side by side).
Finished rows (a stop token) keep emitting their stop token.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from judges.llm.llama import Llama


class PromptTooLong(ValueError):
    """A prompt and its new tokens do not fit the context: the message says by how much."""


def pad_prompts(prompts: list[list[int]], pad_id: int, multiple: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded ``[B, T]`` tokens (T rounded up to ``multiple``: fewer compiled shapes) and lengths."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token; pass non-empty token lists.")
    lengths = np.array([len(p) for p in prompts], np.int32)
    width = -(-int(lengths.max()) // multiple) * multiple
    tokens = np.full((len(prompts), width), pad_id, np.int32)
    for row, prompt in enumerate(prompts):
        tokens[row, : len(prompt)] = prompt
    return tokens, lengths


@partial(jax.jit, static_argnums=(0, 4))
def _prefill(graphdef, state, tokens, lengths, cache_length):
    model = nnx.merge(graphdef, state)
    b, t = tokens.shape
    cache = model.empty_cache(b, cache_length)
    logits, cache = model(tokens, jnp.broadcast_to(jnp.arange(t), (b, t)), cache)
    return logits[jnp.arange(b), lengths - 1], cache


# The cache is donated: each step writes one position of it in place instead of copying it whole
# (at batch 16 and a 320-token cache the copy was most of a step's time).
@partial(jax.jit, static_argnums=(0,), donate_argnums=(4,))
def _step(graphdef, state, token, position, cache):
    model = nnx.merge(graphdef, state)
    logits, cache = model(token[:, None], position[:, None], cache)
    return logits[:, 0], cache


def _check_length(model: Llama, lengths, new_tokens: int, cache_length: int | None) -> int:
    need = int(np.max(lengths)) + new_tokens
    limit = model.sizes.max_positions if cache_length is None else min(cache_length, model.sizes.max_positions)
    if need > limit:
        raise PromptTooLong(f"the longest prompt ({int(np.max(lengths))} tokens) plus {new_tokens} new tokens is "
                            f"{need} tokens, more than the context of {limit}; shorten the prompt or ask for fewer "
                            "new tokens.")
    return -(-need // 64) * 64 if cache_length is None else cache_length


def next_token_logprobs(model: Llama, prompts: list[list[int]], pad_id: int = 0) -> np.ndarray:
    """``[B, vocab]`` log-probabilities of the token after each prompt (what a judge scores labels by)."""
    tokens, lengths = pad_prompts(prompts, pad_id)
    _check_length(model, lengths, 0, None)
    graphdef, state = nnx.split(model)
    logits, _ = _prefill(graphdef, state, jnp.asarray(tokens), jnp.asarray(lengths), tokens.shape[1])
    return np.asarray(jax.nn.log_softmax(logits, axis=-1))


def _choose(logits, key, temperature: float, top_p: float):
    if temperature <= 0:
        return jnp.argmax(logits, axis=-1)
    logits = logits / temperature
    order = jnp.argsort(-logits, axis=-1)
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    before = jnp.cumsum(jax.nn.softmax(sorted_logits, axis=-1), axis=-1) - jax.nn.softmax(sorted_logits, axis=-1)
    sorted_logits = jnp.where(before < top_p, sorted_logits, jnp.finfo(logits.dtype).min)  # the nucleus
    choice = jax.random.categorical(key, sorted_logits, axis=-1)
    return jnp.take_along_axis(order, choice[:, None], axis=-1)[:, 0]


def generate(model: Llama, prompts: list[list[int]], max_new_tokens: int, stop_ids=(), pad_id: int = 0,
             temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
             cache_length: int | None = None) -> list[list[int]]:
    """New tokens for each prompt (greedy at ``temperature`` 0, else nucleus sampling), each list
    ending at its first stop token (included) or after ``max_new_tokens``."""
    tokens, lengths = pad_prompts(prompts, pad_id)
    cache_length = max(_check_length(model, lengths, max_new_tokens, cache_length), tokens.shape[1])
    graphdef, state = nnx.split(model)
    logits, cache = _prefill(graphdef, state, jnp.asarray(tokens), jnp.asarray(lengths), cache_length)
    key = jax.random.key(seed)
    stops = np.asarray(list(stop_ids), np.int64)
    out = np.zeros((len(prompts), max_new_tokens), np.int64)
    done = np.zeros(len(prompts), bool)
    position = jnp.asarray(lengths)
    for step in range(max_new_tokens):
        token = np.asarray(_choose(logits, jax.random.fold_in(key, step), temperature, top_p))
        token = np.where(done, out[:, max(step - 1, 0)], token)
        out[:, step] = token
        done |= np.isin(token, stops)
        if done.all() or step == max_new_tokens - 1:
            break
        logits, cache = _step(graphdef, state, jnp.asarray(token, jnp.int32), position, cache)
        position = position + 1
    results = []
    for row in range(len(prompts)):
        new = out[row, : step + 1].tolist()
        ends = [i for i, t in enumerate(new) if t in set(stops.tolist())]
        results.append(new[: ends[0] + 1] if ends else new)
    return results
