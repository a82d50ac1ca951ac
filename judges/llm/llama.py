"""A Llama-architecture decoder (SmolLM2) in Flax NNX.

RMSNorm, grouped-query attention with rotary embeddings in the Hugging Face layout ("rotate half":
the first and second halves of each head are the pairs), a SwiGLU feed-forward block, and an output
head tied to the input embeddings. Sizes come from a ``transformers.LlamaConfig``.

One call serves a whole prompt and each decoding step: ``tokens [B, T]`` at ``positions [B, T]``,
with an optional key/value cache of fixed shape ``[B, S, kv_heads, head_dim]`` per layer. New keys
are written at their positions and every query attends to the cache slots at or before its own
position. Prompts are right-padded: a row's padding lies after its last real token, so causality
already hides it from that row's real tokens, and decoding overwrites it slot by slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx


@dataclass(frozen=True)
class LlamaSizes:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    rope_theta: float
    rms_norm_eps: float
    max_positions: int
    tie_embeddings: bool = True

    @classmethod
    def from_config(cls, config) -> "LlamaSizes":
        """From a ``transformers.LlamaConfig``."""
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        theta = getattr(config, "rope_theta", None)
        if theta is None:  # transformers v5 keeps it in rope_parameters
            theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta", 10000.0)
        return cls(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                   num_layers=config.num_hidden_layers, num_heads=config.num_attention_heads,
                   num_kv_heads=config.num_key_value_heads, head_dim=head_dim,
                   intermediate_size=config.intermediate_size, rope_theta=float(theta),
                   rms_norm_eps=float(config.rms_norm_eps), max_positions=config.max_position_embeddings,
                   tie_embeddings=bool(config.tie_word_embeddings))

    def to_config(self):
        from transformers import LlamaConfig

        return LlamaConfig(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                           num_hidden_layers=self.num_layers, num_attention_heads=self.num_heads,
                           num_key_value_heads=self.num_kv_heads, head_dim=self.head_dim,
                           intermediate_size=self.intermediate_size, rope_theta=self.rope_theta,
                           rms_norm_eps=self.rms_norm_eps, max_position_embeddings=self.max_positions,
                           tie_word_embeddings=self.tie_embeddings)


class RMSNorm(nnx.Module):
    def __init__(self, size: int, eps: float):
        self.weight = nnx.Param(jnp.ones((size,), jnp.float32))
        self.eps = eps

    def __call__(self, x):
        return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps) * self.weight[...]


def rotary(x, positions, theta: float):
    """Rotate ``x [B, T, heads, D]`` by ``positions [B, T]`` (HF layout: halves are the pairs)."""
    half = x.shape[-1] // 2
    inverse = 1.0 / (theta ** (jnp.arange(0, half, dtype=jnp.float32) / half))
    angles = positions[..., None].astype(jnp.float32) * inverse  # [B, T, D/2]
    cos, sin = jnp.cos(angles)[:, :, None, :], jnp.sin(angles)[:, :, None, :]
    first, second = x[..., :half], x[..., half:]
    return jnp.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def _linear(n_in: int, n_out: int, rngs) -> nnx.Linear:
    return nnx.Linear(n_in, n_out, use_bias=False, rngs=rngs)


class Attention(nnx.Module):
    def __init__(self, s: LlamaSizes, rngs: nnx.Rngs):
        self.s = s
        self.q_proj = _linear(s.hidden_size, s.num_heads * s.head_dim, rngs)
        self.k_proj = _linear(s.hidden_size, s.num_kv_heads * s.head_dim, rngs)
        self.v_proj = _linear(s.hidden_size, s.num_kv_heads * s.head_dim, rngs)
        self.o_proj = _linear(s.num_heads * s.head_dim, s.hidden_size, rngs)

    def __call__(self, x, positions, cache):
        s = self.s
        b, t, _ = x.shape
        q = rotary(self.q_proj(x).reshape(b, t, s.num_heads, s.head_dim), positions, s.rope_theta)
        k = rotary(self.k_proj(x).reshape(b, t, s.num_kv_heads, s.head_dim), positions, s.rope_theta)
        v = self.v_proj(x).reshape(b, t, s.num_kv_heads, s.head_dim)
        if cache is None:
            keys, values, key_positions = k, v, positions
        else:
            rows = jnp.arange(b)[:, None]
            keys = cache[0].at[rows, positions].set(k, mode="drop")
            values = cache[1].at[rows, positions].set(v, mode="drop")
            key_positions = jnp.broadcast_to(jnp.arange(keys.shape[1]), (b, keys.shape[1]))
            cache = (keys, values)
        group = s.num_heads // s.num_kv_heads
        q = q.reshape(b, t, s.num_kv_heads, group, s.head_dim)
        scores = jnp.einsum("btkgd,bskd->bkgts", q, keys) / jnp.sqrt(jnp.float32(s.head_dim))
        visible = key_positions[:, None, :] <= positions[:, :, None]  # [B, T, S]
        scores = jnp.where(visible[:, None, None], scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores, axis=-1)
        out = jnp.einsum("bkgts,bskd->btkgd", weights, values).reshape(b, t, s.num_heads * s.head_dim)
        return self.o_proj(out), cache


class MLP(nnx.Module):
    def __init__(self, s: LlamaSizes, rngs: nnx.Rngs):
        self.gate_proj = _linear(s.hidden_size, s.intermediate_size, rngs)
        self.up_proj = _linear(s.hidden_size, s.intermediate_size, rngs)
        self.down_proj = _linear(s.intermediate_size, s.hidden_size, rngs)

    def __call__(self, x):
        return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nnx.Module):
    def __init__(self, s: LlamaSizes, rngs: nnx.Rngs):
        self.input_layernorm = RMSNorm(s.hidden_size, s.rms_norm_eps)
        self.self_attn = Attention(s, rngs)
        self.post_attention_layernorm = RMSNorm(s.hidden_size, s.rms_norm_eps)
        self.mlp = MLP(s, rngs)

    def __call__(self, x, positions, cache):
        attended, cache = self.self_attn(self.input_layernorm(x), positions, cache)
        x = x + attended
        return x + self.mlp(self.post_attention_layernorm(x)), cache


class Llama(nnx.Module):
    def __init__(self, sizes: LlamaSizes, rngs: nnx.Rngs):
        if not sizes.tie_embeddings:
            raise ValueError("this decoder ties its output head to the input embeddings; the configuration "
                             "has tie_word_embeddings=False, which SmolLM2 never has.")
        self.sizes = sizes
        self.embed_tokens = nnx.Embed(sizes.vocab_size, sizes.hidden_size, rngs=rngs)
        self.layers = nnx.List([Block(sizes, rngs) for _ in range(sizes.num_layers)])
        self.norm = RMSNorm(sizes.hidden_size, sizes.rms_norm_eps)

    def empty_cache(self, batch: int, length: int) -> list[tuple[jax.Array, jax.Array]]:
        s = self.sizes
        shape = (batch, length, s.num_kv_heads, s.head_dim)
        return [(jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32)) for _ in range(s.num_layers)]

    def __call__(self, tokens, positions, cache=None):
        """Logits ``[B, T, vocab]`` and the updated cache (None without one)."""
        x = self.embed_tokens(tokens)
        new_cache = []
        for index, layer in enumerate(self.layers):
            x, layer_cache = layer(x, positions, None if cache is None else cache[index])
            new_cache.append(layer_cache)
        x = self.norm(x)
        return x @ self.embed_tokens.embedding[...].T, (None if cache is None else new_cache)
