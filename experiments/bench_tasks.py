"""Benchmark: environment steps per second, and exact-solver speed and memory.

Environment rows time ``task.step`` inside one compiled ``lax.scan`` with random legal actions (as
pgx measures its games), games started by ``init`` outside the timing; a step is one move of one
game. Baseline in the same run: the sparse-pixel task (8x8 digits, K = 4) at the same batches.
The computation task's ``init`` (an O(T) parallel scan per instance) is timed separately.

Solver rows: the vectorised bisection solver (states = interval tables ``2 T p^2`` entries) and the
generic memoised solver of ``debate.analysis.exact`` on a small pixel game; each in a fresh process so the
peak resident memory (``ru_maxrss``) is its own.

    python experiments/bench_tasks.py        # prints tables, writes experiments/results/bench_tasks.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench_search import best_time  # the same timing rule as the search benchmark
from debate.tasks.computation.game import ComputationTask, exact_checker
from debate.records.provenance import provenance
from debate.tasks.sparse_pixel.game import HONEST, SparsePixelTask
from debate.tasks.sparse_pixel.game import instances as pixel_instances
from debate.tasks.computation.game import instances as computation_instances

OUT = Path(__file__).parent / "results" / "bench_tasks.json"


def random_legal_actions(key, legal):
    return jax.random.categorical(key, jnp.where(legal, 0.0, -1e9)).astype(jnp.int32)


def steps_per_second(task, state, num_moves: int, fast_actions=None) -> float:
    """Moves per second over ``num_moves`` moves of every game of the batch."""
    choose = fast_actions or random_legal_actions

    @jax.jit
    def run(state, key):
        def body(state, key):
            return task.step(state, choose(key, state) if fast_actions else choose(key, state.legal_action_mask)), None

        final, _ = jax.lax.scan(body, state, jax.random.split(key, num_moves))
        return final.turn

    seconds = best_time(run, state, jax.random.key(0), repeats=5)
    return state.turn.shape[0] * num_moves / seconds


def computation_actions(task):
    """Random legal moves without sampling over all p actions: a value for the claimer, a half
    for the challenger."""

    def choose(key, state):
        high = jnp.where(state.pending < 0, task.modulus, 2)
        return jax.random.randint(key, state.pending.shape, 0, high)

    return choose


def solver_worker(kind: str, size: int, queue) -> None:
    t0 = time.perf_counter()
    if kind == "bisection":
        from debate.tasks.computation.solver import solve_bisection

        task = ComputationTask(num_steps=size, modulus=7)
        solve_bisection(task, exact_checker(task), None, seed=1)
        nodes = 2 * size * 7 * 7
    else:
        from debate.tasks.sparse_pixel.data import load_sklearn_digits
        from debate.analysis.exact import solve_exact

        data = load_sklearn_digits()
        task = SparsePixelTask(num_reveals=size, height=8, width=8, max_candidates=16)
        weights = np.random.default_rng(0).normal(size=(10, 8, 8)).astype(np.float32)

        def judge_fn(params, view):
            return jnp.einsum("bhw,chw->bc", view[..., 1], params)

        state = task.init(pixel_instances(data.images[:1], data.labels[:1], (data.labels[:1] + 1) % 10), HONEST)
        tree = solve_exact(task, judge_fn, jnp.asarray(weights), state, max_nodes=2_000_000)
        nodes = int(len(tree.depth))
    seconds = time.perf_counter() - t0
    queue.put({"solver": kind, "size": size, "nodes": nodes, "seconds": round(seconds, 2),
               "nodes_per_s": round(nodes / seconds), "peak_rss_mb": peak_rss_mb()})


def peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent
    that spawned it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run_solver(kind: str, size: int) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=solver_worker, args=(kind, size, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 1024, 4096])
    parser.add_argument("--num-steps", type=int, default=1024, help="T of the computation instances.")
    parser.add_argument("--no-solvers", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    computation = ComputationTask(num_steps=args.num_steps, modulus=31)
    pixel = SparsePixelTask(num_reveals=4, height=8, width=8)
    from debate.tasks.sparse_pixel.data import load_sklearn_digits

    digits = load_sklearn_digits()
    rows = []
    print(f"{'task':<28} {'batch':>6} {'steps/s':>14} {'init games/s':>14}")
    for batch in args.batches:
        seeds = np.arange(batch)
        init = jax.jit(computation.init)
        games = computation_instances(seeds)
        state = init(games)
        init_rate = batch / best_time(init, games, repeats=5)
        rate = steps_per_second(computation, state, computation.num_turns, computation_actions(computation))
        rows.append({"task": "computation", "batch": batch, "steps_per_s": round(rate), "num_steps_T": args.num_steps,
                     "modulus": 31, "moves_per_game": computation.num_turns, "init_games_per_s": round(init_rate)})
        print(f"{'computation T=' + str(args.num_steps):<28} {batch:>6} {rate:>14,.0f} {init_rate:>14,.0f}")
        index = np.arange(batch) % len(digits.labels)
        pstate = pixel.init(pixel_instances(digits.images[index], digits.labels[index], (digits.labels[index] + 1) % 10), HONEST)
        prate = steps_per_second(pixel, pstate, pixel.num_turns)
        rows.append({"task": "sparse_pixel", "batch": batch, "steps_per_s": round(prate), "image": "8x8", "num_reveals": 4})
        print(f"{'sparse_pixel 8x8 K=4':<28} {batch:>6} {prate:>14,.0f} {'':>14}")
    big = ComputationTask(num_steps=1 << 20, modulus=31)
    init_big = jax.jit(big.init)
    big_rate = 8 / best_time(init_big, computation_instances(np.arange(8)), repeats=2)
    print(f"computation T=2^20 init: {big_rate:,.1f} instances/s (batch 8)")

    solvers = []
    if not args.no_solvers:
        print(f"\n{'solver':<12} {'size':>9} {'nodes':>12} {'seconds':>8} {'nodes/s':>12} {'peak RSS MB':>12}")
        for kind, size in (("bisection", 1 << 12), ("bisection", 1 << 16), ("bisection", 1 << 20), ("generic", 3), ("generic", 4)):
            result = run_solver(kind, size)
            solvers.append(result)
            print(f"{kind:<12} {size:>9} {result['nodes']:>12,} {result['seconds']:>8} {result['nodes_per_s']:>12,} {result['peak_rss_mb']:>12}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "bench_tasks", "rows": rows,
                                    "computation_init_T_2_20_instances_per_s": round(big_rate, 2),
                                    "solvers": solvers,
                                    "notes": "solver sizes: bisection = T (modulus 7, exact checker; nodes = 2 T p^2 table "
                                             "entries); generic = K on one 8x8 digit with 16 candidate pixels (nodes = "
                                             "distinct memoised states). Timings include compilation.",
                                    "provenance": provenance()}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
