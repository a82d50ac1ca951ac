"""Text debates over hidden passages: Khan et al. 2024's table on generated stories (and Austen
cloze where installed). For each source: train the quote judge on random K-quote subsets (words
encoder, from scratch), a blind judge (options only) and an oracle judge (every sentence), then
play blind, random quotes, consultancy, debate and oracle on held-out questions, with MCTS
debaters (judge as leaf value) and the source's expert debaters. Writes results.json, results.md
and results.png beside this file (or --out).

    python experiments/text_debate/run.py                       # the README's numbers
    python experiments/text_debate/run.py --questions 200 --steps 500 --sources stories-easy  # a quick look
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from debate.core.debaters import mcts_debater, random_debater
from debate.records.provenance import provenance
from debate.tasks.quote import data, protocols
from debate.tasks.quote.api import expert_debater
from debate.tasks.quote.game import QuoteConsultancyTask, QuoteTask
from debate.tasks.quote.passages import PassageError
from judges.quote_judge import quote_judge_function
from training.quote_judge_training import (QuoteTrainConfig, judge_accuracy, train_quote_judge, words_arrays,
                                           words_embedder, words_judge_config)

HERE = Path(__file__).parent


def train(questions, num_quotes, steps, out_dir, seed, log):
    config, tokenizer = words_judge_config(questions, num_quotes=num_quotes, max_sentences=64)
    train_config = QuoteTrainConfig(judge=config, steps=steps, checkpoint_every=max(steps // 2, 1), seed=seed,
                                    data=f"{len(questions)} training questions")
    model, summary = train_quote_judge(words_arrays(questions, tokenizer, config), train_config, out_dir,
                                       tokenizer=tokenizer, progress=False, log=log)
    return model, tokenizer, config, summary


def run_source(source, args, out_dir, log) -> dict:
    t0 = time.time()
    train_q = data.load_questions(source, args.train_questions, seed=args.seed)
    test_q = data.load_questions(source, args.questions, seed=args.seed + 1)
    longest = max(len(q.sentences) for q in train_q + test_q)
    judges = {}
    for name, k in (("quote", args.quotes), ("blind", 0), ("oracle", longest)):
        model, tokenizer, config, summary = train(train_q, k, args.steps, out_dir / "judges" / source / name,
                                                  args.seed, log)
        judges[name] = (model, tokenizer, config, summary)
        log(f"{source}: {name} judge (K={k}) trained, loss {summary['final_loss']:.3f}")
    model, tokenizer, config, _ = judges["quote"]
    task = QuoteTask(num_quotes=args.quotes, max_sentences=64, dim=config.dim, encoder=f"words:{source}")
    instance = data.instances_of(test_q, words_embedder(model, tokenizer), task)
    judge_fn, params = quote_judge_function(model)
    key = jax.random.key(args.seed)
    rows = []

    def add(result, debaters=""):
        row = result.row()
        row["debaters"] = debaters
        rows.append(row)
        log(f"{source}: {row['condition']} {debaters}: {row['accuracy'] * 100:.1f}% [{row['ci95'][0] * 100:.0f}, "
            f"{row['ci95'][1] * 100:.0f}] (n={row['n']})")

    for name in ("blind", "oracle"):
        m, tok, cfg, _ = judges[name]
        inst = data.instances_of(test_q, words_embedder(m, tok), QuoteTask(num_quotes=1, max_sentences=64, dim=cfg.dim))
        fn, p = quote_judge_function(m)
        add(protocols.blind(fn, p, inst) if name == "blind" else protocols.oracle(fn, p, inst))
    add(protocols.random_quotes(judge_fn, params, instance, args.quotes, seed=args.seed))
    debater_sets = {"random": lambda t: random_debater(), "expert": expert_debater}
    for sims in args.simulations:
        debater_sets[f"mcts-{sims}"] = lambda t, s=sims: mcts_debater(t, judge_fn, s)
    for name, make in debater_sets.items():
        add(protocols.consultancy(task, judge_fn, params, make(QuoteConsultancyTask.of(task)),
                                  make(QuoteConsultancyTask.of(task)), instance, jax.random.fold_in(key, 1)), name)
        add(protocols.debate(task, judge_fn, params, make(task), make(task), instance, jax.random.fold_in(key, 2)), name)
    return {"source": source, "rows": rows, "train_questions": len(train_q), "test_questions": len(test_q),
            "judges": {n: {"num_quotes": j[2].num_quotes, "train": j[3]} for n, j in judges.items()},
            "seconds": round(time.time() - t0, 1)}


def table(results) -> str:
    lines = ["| source | condition | debaters | accuracy [95% CI] | n |", "|---|---|---|---|---|"]
    for s in results["sources"]:
        for r in s["rows"]:
            lines.append(f"| {s['source']} | {r['condition']} | {r['debaters'] or '-'} | {r['accuracy'] * 100:.1f}% "
                         f"[{r['ci95'][0] * 100:.0f}, {r['ci95'][1] * 100:.0f}] | {r['n']} |")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = results["sources"]
    fig, axes = plt.subplots(1, len(sources), figsize=(7 * len(sources), 4.5), squeeze=False)
    for ax, s in zip(axes[0], sources):
        names = [f"{r['condition']}\n{r['debaters']}" for r in s["rows"]]
        acc = np.array([r["accuracy"] * 100 for r in s["rows"]])
        err = np.abs(np.array([[r["ci95"][0] * 100, r["ci95"][1] * 100] for r in s["rows"]]).T - acc)
        ax.bar(np.arange(len(acc)), acc, yerr=err, capsize=2)
        ax.axhline(50, color="gray", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(acc)), names, rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0, 100)
        ax.set_ylabel("judge accuracy (%)")
        ax.set_title(s["source"])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=["stories-easy", "stories-medium", "austen"])
    parser.add_argument("--questions", type=int, default=500, help="held-out questions per source")
    parser.add_argument("--train-questions", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=3000, help="training steps of each judge")
    parser.add_argument("--quotes", type=int, default=4, help="K, quotes per debate (both sides together)")
    parser.add_argument("--simulations", type=int, nargs="+", default=[64])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = {"config": vars(args) | {"out": str(args.out)}, "provenance": provenance(), "sources": [], "skipped": {}}
    for source in args.sources:
        try:
            results["sources"].append(run_source(source, args, args.out, print))
        except PassageError as e:  # a source that is not installed here: say so, go on
            results["skipped"][source] = str(e)
            print(f"{source}: skipped ({e})")
    results["wall_seconds"] = round(time.time() - t0, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    md = ["# Text debates over hidden passages", "", table(results), ""]
    md += [f"{s}: not run ({why})" for s, why in results["skipped"].items()]
    md.append(f"\nWall time {results['wall_seconds']} s; code {results['provenance']['code_version']}.")
    (args.out / "results.md").write_text("\n".join(md) + "\n")
    plot(results, args.out / "results.png")
    print(table(results))


if __name__ == "__main__":
    main()
