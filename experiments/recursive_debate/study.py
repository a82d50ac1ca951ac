"""Study: judge cost against truth as the computation grows (doubly-efficient debate).

For T = 2 ... 2^20 steps of a modular computation (``debate.tasks.computation.game``), the honest-win rate of
bisection debate, where the judge reads ONE step, beside a judge alone and a consultancy that also
read one step. Judges: the exact step checker, checkers with systematic errors (rate 1%, 5%, 10%),
and a small learned checker. Play:

- ``optimal``: exact best play on both sides (``debate.tasks.computation.solver``; T <= ``--optimal-max-T``).
  The liar's final value is a uniformly random wrong value (``random lie``) or, where it exists, a
  wrong value the liar can defend with best play (``best lie``: the liar commits to the claim it
  can win).
- ``expert``: both debaters play from full knowledge of the computation as if the checker were
  exact (``expert_debater``): optimal against the exact checker, blind to a flawed one.
- ``mcts``: Gumbel MCTS (``--simulations``) whose only evaluator is the judge at the last step.
- ``mcts-expert``: the same search with the debater's knowledge as leaf value: it can look for a
  flawed check near the end of the game.

Every debate is played twice per instance, with the honest player as claimer and with the liar as
claimer; the rate reported is the mean, with a Wilson 95% interval over instance-games.

    python experiments/recursive_debate/study.py            # full study (results/ beside this file)
    python experiments/recursive_debate/study.py --quick    # a small version for tests
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import numpy as np

from debate.tasks.computation.solver import solve_bisection
from debate.tasks.computation.game import HONEST, LIAR, ComputationTask, checker_params, exact_checker, noisy_checker
from debate.core.names import build_debater
from debate.core.runner import Runner
from debate.tasks.computation.protocols import consultancy, judge_alone, play_computations, random_lies
from debate.analysis.metrics import wilson_interval
from debate.records.provenance import provenance

HERE = Path(__file__).parent


@dataclass
class StudyConfig:
    steps: list[int] = field(default_factory=lambda: [2, 4, 16, 256, 4096, 1 << 16, 1 << 20])
    modulus: int = 31
    instances: int = 200
    optimal_instances: int = 100
    optimal_max_T: int = 1 << 16
    learned_optimal_max_T: int = 1 << 10
    error_rates: list[float] = field(default_factory=lambda: [0.01, 0.05, 0.1])
    mcts_error_rate: float = 0.05
    simulations: int = 64
    mcts_max_T: int = 1 << 20
    learned_judge_dir: str | None = None  # trained here when missing
    learned_judge_steps: int = 20_000
    batch_size: int = 200
    seed: int = 0

    @classmethod
    def quick(cls) -> "StudyConfig":
        return cls(steps=[2, 16, 1 << 10], instances=24, optimal_instances=8, optimal_max_T=1 << 10,
                   learned_optimal_max_T=16, error_rates=[0.05], simulations=16, learned_judge_steps=1500,
                   batch_size=24)


def _rate_row(T, judge, play, condition, correct, reads=1) -> dict:
    correct = np.asarray(correct, float)
    acc, n = float(correct.mean()), int(correct.size)
    return {"T": int(T), "judge": judge, "play": play, "condition": condition, "accuracy": round(acc, 4), "n": n,
            "judge_reads": reads, "ci95": [round(v, 4) for v in wilson_interval(acc, n)]}


def _learned_judge(config: StudyConfig, task: ComputationTask, out_dir: Path, log):
    from judges.step_checker import judge_function
    from training.step_checker_training import (StepCheckerTrainConfig, load_step_checker, step_checker_accuracy,
                                                train_step_checker)
    from judges.step_checker import StepCheckerConfig

    judge_dir = Path(config.learned_judge_dir) if config.learned_judge_dir else out_dir / "learned_checker"
    train_config = StepCheckerTrainConfig(steps=config.learned_judge_steps, seed=config.seed)
    model, _ = train_step_checker(task, StepCheckerConfig(modulus=task.modulus), train_config, judge_dir, progress=False)
    judge_fn, params = judge_function(model)
    accuracy = step_checker_accuracy(task, judge_fn, params, jax.random.key(config.seed + 99), 20_000)
    log(f"learned checker: {accuracy}")
    return judge_fn, params, {"dir": str(judge_dir), "steps": config.learned_judge_steps, "accuracy": accuracy}


def run_study(config: StudyConfig, out_dir: Path, log=print) -> dict:
    started = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(config.seed)
    rows = []
    learned = None
    for T in config.steps:
        task = ComputationTask(num_steps=T, modulus=config.modulus)
        if learned is None:
            learned = _learned_judge(config, task, out_dir, log)  # the checker does not depend on T
        seeds = np.arange(config.instances) + 1000 * config.seed
        lies = random_lies(task, seeds, jax.random.fold_in(key, T))
        judges = {"exact": (exact_checker(task), None)}
        for rate in config.error_rates:
            judges[f"noisy {rate:g}"] = (noisy_checker(task), checker_params(rate, config.seed))
        judges["learned"] = (learned[0], learned[1])
        for judge_name, (judge_fn, params) in judges.items():
            t0 = time.time()
            game_key = jax.random.fold_in(key, hash((T, judge_name)) % (1 << 30))
            plays = ["expert"]
            if T <= config.mcts_max_T and (judge_name in ("exact", "learned") or judge_name == f"noisy {config.mcts_error_rate:g}"):
                plays += ["mcts", "mcts-expert"]
            for play in plays:
                honest = build_debater(play if play == "expert" else f"{play}-{config.simulations}", task, judge_fn)
                runner = Runner(task, judge_fn, params, [honest, honest],
                                batch_size=min(config.batch_size, 32 if T >= (1 << 16) else config.batch_size))
                as_claimer = play_computations(runner, seeds, lies, HONEST, game_key).honest_won
                as_challenger = play_computations(runner, seeds, lies, LIAR, game_key).honest_won
                rows.append(_rate_row(T, judge_name, play, "debate", np.concatenate([as_claimer, as_challenger])))
                rows.append(_rate_row(T, judge_name, play, "debate_honest_claimer", as_claimer))
                rows.append(_rate_row(T, judge_name, play, "debate_liar_claimer", as_challenger))
            limit = config.learned_optimal_max_T if judge_name == "learned" else config.optimal_max_T
            if T <= limit and T & (T - 1) == 0:
                honest_claimer, random_lie, best_lie = [], [], []
                for seed, lie in zip(seeds[: config.optimal_instances], lies[: config.optimal_instances]):
                    solution = solve_bisection(task, judge_fn, params, int(seed))
                    honest_claimer.append(solution.honest_wins(int(lie), HONEST))
                    random_lie.append(solution.honest_wins(int(lie), LIAR))
                    best_lie.append(not any(c != solution.truth for c in solution.winning_claims))
                rows.append(_rate_row(T, judge_name, "optimal", "debate", np.concatenate([honest_claimer, random_lie])))
                rows.append(_rate_row(T, judge_name, "optimal", "debate_honest_claimer", honest_claimer))
                rows.append(_rate_row(T, judge_name, "optimal", "debate_liar_claimer", random_lie))
                rows.append(_rate_row(T, judge_name, "optimal", "debate_liar_claimer_best_lie", best_lie))
            alone = judge_alone(task, judge_fn, params, seeds, jax.random.fold_in(game_key, 1), reads=1)
            rows.append(_rate_row(T, judge_name, "-", "judge_alone", alone.correct))
            consult = consultancy(task, judge_fn, params, seeds, jax.random.fold_in(game_key, 2), reads=1)
            rows.append(_rate_row(T, judge_name, "-", "consultancy", consult.correct))
            log(f"T={T:>8} {judge_name:<11} {time.time() - t0:6.1f} s  " + "  ".join(
                f"{r['play']}/{r['condition']}={r['accuracy']:.2f}" for r in rows
                if r["T"] == T and r["judge"] == judge_name and r["condition"] in ("debate", "judge_alone")))
    results = {"study": "recursive_debate", "config": asdict(config), "learned_checker": learned[2] if learned else None,
               "rows": rows, "wall_seconds": round(time.time() - started, 1), "provenance": provenance()}
    write_results(results, out_dir)
    return results


def results_table(results: dict) -> str:
    """Markdown: one row per (T), columns per (judge, play) of the mean honest-win rate."""
    rows = results["rows"]
    lines = ["| T | judge | optimal | expert | mcts | mcts-expert | optimal, best lie | judge alone (1 read) | consultancy (1 read) |",
             "|---|---|---|---|---|---|---|---|---|"]
    judges = list(dict.fromkeys(r["judge"] for r in rows))
    for T in sorted({r["T"] for r in rows}):
        for judge in judges:
            def cell(play, condition):
                match = [r for r in rows if r["T"] == T and r["judge"] == judge and r["play"] == play and r["condition"] == condition]
                if not match:
                    return "-"
                r = match[0]
                return f"{100 * r['accuracy']:.1f} [{100 * r['ci95'][0]:.0f}, {100 * r['ci95'][1]:.0f}]"
            lines.append(f"| {_t_label(T)} | {judge} | {cell('optimal', 'debate')} | {cell('expert', 'debate')} | "
                         f"{cell('mcts', 'debate')} | {cell('mcts-expert', 'debate')} | "
                         f"{cell('optimal', 'debate_liar_claimer_best_lie')} | {cell('-', 'judge_alone')} | {cell('-', 'consultancy')} |")
    return "\n".join(lines)


def _t_label(T: int) -> str:
    return f"2^{T.bit_length() - 1}" if T & (T - 1) == 0 else str(T)


def write_results(results: dict, out_dir: Path) -> None:
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    config = results["config"]
    header = (f"# Recursive (bisection) debate: honest-win rate against T\n\n"
              f"Modulus {config['modulus']}, {config['instances']} instances per T ({config['optimal_instances']} for "
              f"optimal play), each debated with the honest player as claimer and as challenger; MCTS with "
              f"{config['simulations']} simulations. Cells: % honest wins (judge correct) [95% Wilson interval]. "
              f"The judge reads one step in every condition. 'optimal, best lie': the liar claims a wrong value it can "
              f"defend with best play whenever one exists (liar as claimer only).\n\n")
    (out_dir / "results.md").write_text(header + results_table(results) + "\n")
    _plot(results, out_dir / "results.png")


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    judges = list(dict.fromkeys(r["judge"] for r in rows))
    fig, axes = plt.subplots(1, len(judges), figsize=(3.2 * len(judges), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    styles = {("optimal", "debate"): "o-", ("expert", "debate"): "s-", ("mcts", "debate"): "^-",
              ("mcts-expert", "debate"): "v-", ("-", "judge_alone"): "x--", ("-", "consultancy"): "d:"}
    for ax, judge in zip(axes, judges):
        for (play, condition), style in styles.items():
            pts = sorted((r["T"], r["accuracy"]) for r in rows if r["judge"] == judge and r["play"] == play and r["condition"] == condition)
            if pts:
                ax.plot([np.log2(t) for t, _ in pts], [a for _, a in pts], style, label=f"{play} {condition}".replace("- ", ""), ms=4)
        ax.set_title(f"checker: {judge}", fontsize=9)
        ax.set_xlabel("log2 T")
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.set_ylim(0, 1.02)
    axes[0].set_ylabel("honest wins / judge correct")
    axes[-1].legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A small, fast version (for tests).")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--instances", type=int)
    parser.add_argument("--learned-judge-dir", type=str)
    args = parser.parse_args()
    config = StudyConfig.quick() if args.quick else StudyConfig()
    if args.instances:
        config.instances = args.instances
    if args.learned_judge_dir:
        config.learned_judge_dir = args.learned_judge_dir
    results = run_study(config, args.out)
    print(results_table(results))
    print(f"wrote {args.out}/results.json, results.md, results.png ({results['wall_seconds']} s)")


if __name__ == "__main__":
    main()
