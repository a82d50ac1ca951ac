"""Does a computation debater trained by self-play on short computations play longer ones?

Loads a computation run of ``training.self_play`` and evaluates its network (bare policy, and inside
a 32-simulation search) against the expert and against plain MCTS on T-step computations for every
T given, with the exact checker: win rates as honest and as liar, every instance with each side as
claimer. The network's inputs do not depend on T (one-hots of values, the share of the bisection
left), so one network can play any T.

    python experiments/self_play/computation_generalization.py runs/computation_sp --steps 8 16 64 1024
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from debate.records.provenance import provenance  # noqa: E402
from training.self_play import evaluate, load_network, read_run, task_interface  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 64, 1024])
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--simulations", type=int, default=32)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "computation" / "generalization.json")
    args = parser.parse_args()
    config, stored = read_run(args.run, "computation")
    rows, started = [], time.time()
    print("| T | policy as honest vs expert | search as honest vs expert | expert vs expert (honest) | "
          "policy as liar vs mcts | mcts vs mcts (liar) |")
    print("|---|---|---|---|---|---|")
    for T in args.steps:
        # T steps, the exact checker; instances drawn with seed 0 (as every row of this table)
        setup = task_interface("computation").Setup(
            dataclasses.replace(config.settings, num_steps=T, checker_error_rate=0.0), seed=0)
        judge_fn, judge_params, _ = setup.default_judge()
        network_fn, params, _, _ = load_network(args.run, setup.task)
        result = evaluate(setup.task, judge_fn, judge_params, network_fn, params, setup.eval_instances(args.games),
                          num_simulations=args.simulations, opponents=("expert", "mcts"),
                          network_value=config.network_value)
        row = {"T": T, **{name: {role: {k: match[role][k] for k in ("learned_win_rate", "learned_ci95",
                                                                       "baseline_win_rate")}
                                 for role in ("as_honest", "as_liar")}
                          for name, match in result.items() if isinstance(match, dict)}}
        rows.append(row)
        pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
        print(f"| {T} | {pct(row['policy_vs_expert']['as_honest']['learned_win_rate'])} | "
              f"{pct(row['search_vs_expert']['as_honest']['learned_win_rate'])} | "
              f"{pct(row['policy_vs_expert']['as_honest']['baseline_win_rate'])} | "
              f"{pct(row['policy_vs_mcts']['as_liar']['learned_win_rate'])} | "
              f"{pct(row['policy_vs_mcts']['as_liar']['baseline_win_rate'])} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"run": str(args.run), "trained_config": stored["config"],
                                    "games_per_matchup": 2 * args.games, "simulations": args.simulations,
                                    "rows": rows, "wall_seconds": round(time.time() - started, 1),
                                    "provenance": provenance()}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
