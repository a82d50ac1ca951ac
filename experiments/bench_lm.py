"""Benchmark: SmolLM2-135M-Instruct (``judges.llm``) prefill and decode, each as a ratio to the
machine's limit measured in the same run.

- prefill tokens/s (batch 1 and 8, 256-token prompts) against a large dense f32 matrix product's
  FLOP rate: efficiency = tokens/s x FLOPs per token / matmul FLOP/s (FLOPs per token = 2 x the
  parameters a token passes through, plus attention);
- decode tokens/s (batch 1 and 16, one token per row per step with the key/value cache) against the
  memory-bandwidth bound: every step reads every weight once, so the bound is batch x read rate /
  weight bytes, the read rate measured by summing a 1 GiB array;
- both against the numpy reference (``judges.llm.reference``, float64, no cache), on the same prompt.

    python experiments/bench_lm.py     # needs `debate models fetch smollm2`; writes experiments/results/bench_lm.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from debate.records.provenance import provenance
from judges.llm.generate import _prefill, _step
from judges.llm.reference import reference_logits
from judges.llm.weights import load_llama
from judges.model_files import find_model


def best_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_flops_per_second(n: int = 2048, repeats: int = 5) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    return 2 * n**3 / best_time(lambda: f(a), repeats)


def read_bytes_per_second(size_bytes: int = 1 << 30, repeats: int = 5) -> float:
    x = jnp.ones(size_bytes // 4, jnp.float32)
    f = jax.jit(jnp.sum)
    return size_bytes / best_time(lambda: f(x), repeats)


def flops_per_token(sizes, context: int) -> float:
    """2 x the multiply-adds one token passes through (projections, MLP, the output head) plus the
    attention over ``context`` earlier tokens (scores and values)."""
    s = sizes
    per_layer = (s.hidden_size * s.num_heads * s.head_dim * 2  # q and o projections
                 + s.hidden_size * s.num_kv_heads * s.head_dim * 2  # k and v
                 + 3 * s.hidden_size * s.intermediate_size)  # gate, up, down
    attention = 2 * s.num_heads * s.head_dim * context
    return 2.0 * (s.num_layers * (per_layer + attention) + s.hidden_size * s.vocab_size)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--prefill-batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--decode-batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_lm.json")
    args = parser.parse_args(argv)

    folder = find_model("smollm2")
    model, sizes, tensors = load_llama(folder)
    graphdef, state = nnx.split(model)
    weight_bytes = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state))
    matmul, read = matmul_flops_per_second(), read_bytes_per_second()
    t = args.prompt_tokens
    tokens = np.random.default_rng(0).integers(10, sizes.vocab_size, size=(max(args.prefill_batches + args.decode_batches), t))
    print(f"matmul {matmul / 1e9:.1f} GFLOP/s; read {read / 1e9:.1f} GB/s; weights {weight_bytes / 1e6:.0f} MB "
          f"(float32); devices {jax.devices()}")

    ref_seconds = best_time(lambda: reference_logits(sizes, tensors, tokens[0]), repeats=1)
    rows = []
    print(f"{'phase':>8} {'batch':>6} {'tokens/s':>10} {'vs bound':>9} {'vs numpy':>9}")
    for batch in args.prefill_batches:
        x, lengths = jnp.asarray(tokens[:batch], jnp.int32), jnp.full((batch,), t, jnp.int32)
        seconds = best_time(lambda: _prefill(graphdef, state, x, lengths, t), args.repeats)
        rate = batch * t / seconds
        efficiency = rate * np.mean([flops_per_token(sizes, c) for c in range(t)]) / matmul
        rows.append({"phase": "prefill", "batch": batch, "tokens_per_s": round(rate, 1),
                     "vs_bound": round(float(efficiency), 3), "vs_numpy": round(rate / (t / ref_seconds), 2)})
        print(f"{'prefill':>8} {batch:>6} {rate:>10.0f} {efficiency:>9.2f} {rows[-1]['vs_numpy']:>9.1f}")
    for batch in args.decode_batches:
        x, lengths = jnp.asarray(tokens[:batch], jnp.int32), jnp.full((batch,), t, jnp.int32)
        _, cache = _prefill(graphdef, state, x, lengths, t + 64)
        token = jnp.zeros((batch,), jnp.int32) + 11
        carry = {"cache": cache, "position": lengths}

        def step():  # one decoding step, the cache carried (and donated) from step to step
            logits, carry["cache"] = _step(graphdef, state, token, carry["position"], carry["cache"])
            carry["position"] = carry["position"] + 1
            return logits

        seconds = best_time(step, args.repeats * 5)
        rate = batch / seconds
        bound = batch * read / weight_bytes
        # the reference has no cache: a new token costs a forward pass over the prompt and that token
        compute = rate * flops_per_token(sizes, t) / matmul  # the other limit, which binds at larger batches
        rows.append({"phase": "decode", "batch": batch, "tokens_per_s": round(rate, 1),
                     "vs_bound": round(rate / bound, 3), "vs_compute_bound": round(float(compute), 3),
                     "vs_numpy": round(rate * ref_seconds, 2)})
        print(f"{'decode':>8} {batch:>6} {rate:>10.1f} {rate / bound:>9.2f} {rows[-1]['vs_numpy']:>9.1f}"
              f"  (vs compute bound {compute:.2f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "bench_lm", "rows": rows, "model": str(folder), "prompt_tokens": t,
        "matmul_flops_per_second": matmul, "read_bytes_per_second": read, "weight_bytes": weight_bytes,
        "numpy_reference_seconds_per_prompt": ref_seconds, "repeats": args.repeats, "provenance": provenance(),
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
