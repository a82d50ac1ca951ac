"""The Llama forward pass in plain numpy, from hub-named float32 tensors: what the tests hold the
NNX decoder to (no cache, one unpadded prompt)."""

from __future__ import annotations

import numpy as np

from judges.llm.llama import LlamaSizes


def _rms(x, weight, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight


def _rotary(x, theta):  # x [T, heads, D]
    half = x.shape[-1] // 2
    angles = np.arange(x.shape[0])[:, None] * (1.0 / theta ** (np.arange(half) / half))[None]
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], -1)


def reference_logits(sizes: LlamaSizes, w: dict[str, np.ndarray], tokens) -> np.ndarray:
    """Logits ``[T, vocab]`` for one prompt, in float64 for a tight comparison."""
    s = sizes
    w64 = lambda name: w[name].astype(np.float64)  # noqa: E731
    x = w64("model.embed_tokens.weight")[np.asarray(tokens)]
    t = len(tokens)
    causal = np.tril(np.ones((t, t), bool))
    for n in range(s.num_layers):
        p = f"model.layers.{n}."
        h = _rms(x, w64(p + "input_layernorm.weight"), s.rms_norm_eps)
        q = _rotary((h @ w64(p + "self_attn.q_proj.weight").T).reshape(t, s.num_heads, s.head_dim), s.rope_theta)
        k = _rotary((h @ w64(p + "self_attn.k_proj.weight").T).reshape(t, s.num_kv_heads, s.head_dim), s.rope_theta)
        v = (h @ w64(p + "self_attn.v_proj.weight").T).reshape(t, s.num_kv_heads, s.head_dim)
        group = s.num_heads // s.num_kv_heads
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)  # query head i uses kv head i // group
        scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(s.head_dim)
        scores = np.where(causal[None], scores, -np.inf)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        out = np.einsum("hts,shd->thd", scores, v).reshape(t, -1)
        x = x + out @ w64(p + "self_attn.o_proj.weight").T
        h = _rms(x, w64(p + "post_attention_layernorm.weight"), s.rms_norm_eps)
        gate = h @ w64(p + "mlp.gate_proj.weight").T
        x = x + ((gate / (1 + np.exp(-gate))) * (h @ w64(p + "mlp.up_proj.weight").T)) @ w64(p + "mlp.down_proj.weight").T
    x = _rms(x, w64("model.norm.weight"), s.rms_norm_eps)
    return x @ w64("model.embed_tokens.weight").T
