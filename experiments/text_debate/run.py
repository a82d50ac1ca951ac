"""Text debates over hidden passages: Khan et al. 2024's table on generated stories (and Austen
cloze where installed). For each source: train the quote judge on random K-quote subsets (words
encoder, from scratch), a blind judge (options only) and an oracle judge (every sentence), then
play blind, random quotes, consultancy, debate and oracle on held-out questions (and the lexical
baseline reading the same quotes), with MCTS
debaters (judge as leaf value) and the source's expert debaters. Writes results.json, results.md
and results.png beside this file (or --out).

    python experiments/text_debate/run.py                       # the README's numbers
    python experiments/text_debate/run.py --questions 200 --steps 500 --sources stories-easy  # a quick look

Resumable: judges keep their checkpoints, each finished condition and each finished batch of
debates is kept in OUT/partial, and after Ctrl-C the same command plays only what was left.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from debate.core.debaters import mcts_debater, random_debater
from training.partial_run import PartialRun
from training.ratings import fit_ratings
from debate.records.provenance import provenance
from debate.tasks.quote import data, protocols
from debate.tasks.quote.api import expert_debater
from debate.tasks.quote.game import QuoteConsultancyTask, QuoteTask
from debate.tasks.quote.passages import PassageError
from judges.model_files import ModelMissing
from judges.quote_judge import QuoteJudgeConfig, quote_judge_function
from training.quote_judge_training import (QuoteTrainConfig, cached_embedder, frozen_arrays, train_quote_judge,
                                           words_arrays, words_embedder, words_judge_config)

HERE = Path(__file__).parent


_MINILM = {}


def minilm_embedder():
    """all-MiniLM-L6-v2 (``debate models fetch minilm``), each distinct text encoded once."""
    if "embed" not in _MINILM:
        from judges.minilm import load_minilm

        _MINILM["embed"] = cached_embedder(load_minilm().encode)
    return _MINILM["embed"]


def train(questions, num_quotes, steps, out_dir, seed, log, encoder="words"):
    """A quote judge trained on ``questions``: (model, its sentence embedder, config, summary)."""
    if encoder == "words":
        config, tokenizer = words_judge_config(questions, num_quotes=num_quotes, max_sentences=64)
        arrays = words_arrays(questions, tokenizer, config)
    else:
        config, tokenizer = QuoteJudgeConfig(dim=384, num_quotes=num_quotes, encoder="minilm"), None
        arrays = frozen_arrays(questions, minilm_embedder(), config)
    train_config = QuoteTrainConfig(judge=config, steps=steps, checkpoint_every=max(steps // 2, 1), seed=seed,
                                    data=f"{len(questions)} training questions")
    model, summary = train_quote_judge(arrays, train_config, out_dir, tokenizer=tokenizer, progress=False, log=log)
    embed = words_embedder(model, tokenizer) if encoder == "words" else minilm_embedder()
    return model, embed, config, summary


def austen_split(args, window: int = 24, stride: int = 8):
    """Austen cloze questions (overlapping windows, every ``stride`` sentences) split inside each
    novel by position: windows ending before the novel's last 30% train the judges, windows starting
    inside it are tested; no sentence is in both (names are shared, text is not)."""
    from debate.tasks.quote import austen

    questions = austen.cloze_questions(None, seed=args.seed, window=window, stride=stride)
    by_novel: dict[str, list] = {}
    for q in questions:
        _, novel, start = q.id.split(":")
        by_novel.setdefault(novel, []).append((int(start), q))
    train_q, test_q = [], []
    for novel, items in by_novel.items():
        cut = np.quantile([start for start, _ in items], 0.7)
        train_q += [q for start, q in items if start + window <= cut]
        test_q += [q for start, q in items if start >= cut]
    rng = np.random.default_rng(args.seed)
    test_q = [test_q[i] for i in rng.permutation(len(test_q))[: args.questions]]
    return train_q[: args.train_questions], test_q


class Conditions:
    """The conditions of one study run, each played once: a finished condition's row (and verdicts)
    is kept in ``OUT/partial`` and each finished batch of its debates too, so a rerun after an
    interrupt skips what was done and plays the rest to the same games."""

    def __init__(self, partial: PartialRun, prefix: str):
        self.partial, self.prefix = partial, prefix

    def play(self, name: str, play, read=None) -> tuple[dict, list[bool], dict | None]:
        """(row, per-question correct, read row) of ``play(chunks)``, a ``QuoteCondition``, or of its
        kept record. ``read(result)``, where given, is a second judge reading the same games (the
        lexical baseline); its row is kept with the condition's."""
        name = f"{self.prefix} {name}"
        done = self.partial.finished(name)
        if done is None or (read is not None and "read" not in done):
            result = play(lambda part: self.partial.chunks(f"{name} {part}"))
            done = {"row": result.row(), "correct": [bool(c) for c in result.correct]}
            if read is not None:
                done["read"] = read(result).row()
            self.partial.record(name, done)
        return dict(done["row"]), done["correct"], done.get("read")


def run_source(source, args, out_dir, log, encoder="words", partial: PartialRun | None = None) -> dict:
    t0 = time.time()
    if source == "austen":
        train_q, test_q = austen_split(args)
    else:
        train_q = data.load_questions(source, args.train_questions, seed=args.seed)
        test_q = data.load_questions(source, args.questions, seed=args.seed + 1)
    log(f"{source}: {len(train_q)} training and {len(test_q)} test questions")
    longest = max(len(q.sentences) for q in train_q + test_q)
    judges = {}
    for name, k in (("quote", args.quotes), ("blind", 0), ("oracle", longest)):
        folder = out_dir / "judges" / source / (name if encoder == "words" else f"{encoder}-{name}")
        judges[name] = train(train_q, k, args.steps, folder, args.seed, log, encoder)
        loss = judges[name][3]["final_loss"]
        log(f"{source} ({encoder}): {name} judge (K={k}) " + (f"trained, loss {loss:.3f}" if loss is not None
                                                              else "loaded (already trained in this folder)"))
    model, embed, config, _ = judges["quote"]
    task = QuoteTask(num_quotes=args.quotes, max_sentences=64, dim=config.dim, encoder=f"{encoder}:{source}")
    instance = data.instances_of(test_q, embed, task)
    judge_fn, params = quote_judge_function(model)
    key = jax.random.key(args.seed)
    rows = []
    conditions = Conditions(partial or PartialRun(out_dir / "scratch", {}), f"{source} ({encoder})")

    def add(name, play, debaters="", lexical=False):
        read = (lambda result: protocols.lexical(test_q, *protocols.played_quotes(result, len(test_q)))) if lexical else None
        row, _, read_row = conditions.play(f"{name} {debaters}", play, read)
        for r in (row,) if read_row is None else (row, dict(read_row, condition=f"lexical ({name})")):
            r["debaters"] = debaters
            rows.append(r)
            log(f"{source} ({encoder}): {r['condition']} {debaters}: {r['accuracy'] * 100:.1f}% [{r['ci95'][0] * 100:.0f}, "
                f"{r['ci95'][1] * 100:.0f}] (n={r['n']})")

    for name in ("blind", "oracle"):
        m, emb, cfg, _ = judges[name]
        inst = data.instances_of(test_q, emb, QuoteTask(num_quotes=1, max_sentences=64, dim=cfg.dim))
        fn, p = quote_judge_function(m)
        add(name, lambda _, fn=fn, p=p, inst=inst, name=name: (protocols.blind if name == "blind" else protocols.oracle)(fn, p, inst))
    add("random_quotes", lambda _: protocols.random_quotes(judge_fn, params, instance, args.quotes, seed=args.seed))
    add("lexical (random_quotes)", lambda _: protocols.lexical(
        test_q, *protocols.random_quote_index(instance, args.quotes, seed=args.seed), "lexical (random_quotes)"))
    debater_sets = {"random": lambda t: random_debater(), "expert": expert_debater}
    for sims in args.simulations:
        debater_sets[f"mcts-{sims}"] = lambda t, s=sims: mcts_debater(t, judge_fn, s)
    for name, make in debater_sets.items():
        add("consultancy", lambda chunks, make=make: protocols.consultancy(
            task, judge_fn, params, make(QuoteConsultancyTask.of(task)), make(QuoteConsultancyTask.of(task)), instance,
            jax.random.fold_in(key, 1), chunks=chunks), name, lexical=True)
        add("debate", lambda chunks, make=make: protocols.debate(
            task, judge_fn, params, make(task), make(task), instance, jax.random.fold_in(key, 2), chunks=chunks), name,
            lexical=True)
    out = {"source": source, "encoder": encoder, "rows": rows, "train_questions": len(train_q), "test_questions": len(test_q),
           "judges": {n: {"num_quotes": j[2].num_quotes, "train": j[3]} for n, j in judges.items()}}
    if source == args.strength_source and encoder == "words" and args.strength_budgets:
        out["strength"] = strength(task, judge_fn, params, instance, args, log, conditions)
    out["seconds"] = round(time.time() - t0, 1)
    return out


def strength(task, judge_fn, params, instance, args, log, conditions: Conditions) -> dict:
    """Judge accuracy against debater strength: search budgets rated by Bradley-Terry Elo from a
    round robin of debates (every budget against every other, as honest and as liar), then debate
    (both sides at one budget) and consultancy (a consultant at that budget) accuracy per budget."""
    budgets = args.strength_budgets
    names = [f"mcts-{b}" for b in budgets]
    debaters = {n: mcts_debater(task, judge_fn, b) for n, b in zip(names, budgets)}
    consultants = {n: mcts_debater(QuoteConsultancyTask.of(task), judge_fn, b) for n, b in zip(names, budgets)}
    n_games = min(args.strength_games, len(instance.label))
    sub = jax.tree.map(lambda x: None if x is None else np.asarray(x)[:n_games], instance)
    games, per_budget = [], []
    key = jax.random.key(args.seed + 7)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            row, correct, _ = conditions.play(f"strength debate {a} {b}", lambda chunks, a=a, b=b, i=i, j=j: protocols.debate(
                task, judge_fn, params, debaters[a], debaters[b], sub, jax.random.fold_in(key, 100 * i + j),
                seed=args.seed, chunks=chunks))
            games += [(a, b, "honest" if won else "liar") for won in correct]
            if i == j:
                consult, _, _ = conditions.play(f"strength consultancy {a}", lambda chunks, a=a, i=i, j=j: protocols.consultancy(
                    task, judge_fn, params, consultants[a], consultants[a], sub, jax.random.fold_in(key, 100 * i + j),
                    chunks=chunks))
                per_budget.append({"debater": a, "budget": budgets[i], "debate": row, "consultancy": consult})
                log(f"strength {a}: debate {row['accuracy'] * 100:.1f}%, consultancy {consult['accuracy'] * 100:.1f}%")
    ratings = fit_ratings(games, reference=names[0])
    for row in per_budget:
        row["elo"] = ratings["overall"][row["debater"]]
    elo = np.array([r["elo"] for r in per_budget])
    slopes = {}
    for condition in ("debate", "consultancy"):
        acc = np.array([r[condition]["accuracy"] for r in per_budget])
        slopes[condition] = round(float(np.polyfit(elo, acc, 1)[0] * 100 * 100), 2) if elo.std() > 0 else None
    return {"games_per_pairing": n_games, "rows": per_budget, "ratings": ratings,
            "points_per_100_elo": slopes}


def _cell(r) -> str:
    return f"{r['accuracy'] * 100:.1f}% [{r['ci95'][0] * 100:.0f}, {r['ci95'][1] * 100:.0f}]"


def table(results) -> str:
    lines = ["| source | condition | debaters | accuracy [95% CI] | n |", "|---|---|---|---|---|"]
    for s in results["sources"]:
        for r in s["rows"]:
            lines.append(f"| {s['source']} ({s.get('encoder', 'words')}) | {r['condition']} | {r['debaters'] or '-'} | {_cell(r)} | {r['n']} |")
    for s in results["sources"]:
        if "strength" in s:
            st = s["strength"]
            lines += ["", f"Debater strength on {s['source']} ({st['games_per_pairing']} questions per pairing; "
                          f"Elo anchored at {st['ratings']['anchor']} = 1000):", "",
                      "| debaters | Elo | debate | consultancy |", "|---|---|---|---|"]
            lines += [f"| {r['debater']} | {r['elo']} | {_cell(r['debate'])} | {_cell(r['consultancy'])} |"
                      for r in st["rows"]]
            slopes = st["points_per_100_elo"]
            signed = lambda v: "n/a (the budgets' Elo ratings do not differ)" if v is None else f"{v:+} points"  # noqa: E731
            lines.append(f"\nAccuracy per 100 Elo: debate {signed(slopes['debate'])}, consultancy "
                         f"{signed(slopes['consultancy'])}.")
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
        ax.set_title(f"{s['source']} ({s.get('encoder', 'words')})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=["stories-easy", "stories-medium", "austen"])
    parser.add_argument("--questions", type=int, default=500, help="held-out questions per source")
    parser.add_argument("--minilm-sources", nargs="*", default=["stories-easy", "stories-medium"],
                        help="sources also run with the frozen MiniLM encoder (needs `debate models fetch minilm`)")
    parser.add_argument("--train-questions", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=3000, help="training steps of each judge")
    parser.add_argument("--quotes", type=int, default=4, help="K, quotes per debate (both sides together)")
    parser.add_argument("--simulations", type=int, nargs="+", default=[64])
    parser.add_argument("--strength-source", default="stories-easy", help="source of the debater-strength study")
    parser.add_argument("--strength-budgets", type=int, nargs="*", default=[1, 4, 16, 64, 256])
    parser.add_argument("--strength-games", type=int, default=200, help="questions per pairing of the strength study")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = {"config": vars(args) | {"out": str(args.out)}, "provenance": provenance(), "sources": [], "skipped": {}}
    runs = [(s, "words") for s in args.sources] + [(s, "minilm") for s in args.minilm_sources]
    partial = PartialRun(args.out, {"config": results["config"]})
    for source, encoder in runs:
        try:
            results["sources"].append(run_source(source, args, args.out, print, encoder, partial))
        except KeyboardInterrupt:
            raise SystemExit(f"interrupted: the trained judges, {len(partial.parts)} finished condition(s) and the "
                             f"finished batches of the one in progress are kept in {args.out}; run the same "
                             "command again to resume") from None
        except (PassageError, ModelMissing) as e:  # a source or a model that is not installed here: say so, go on
            results["skipped"][f"{source} ({encoder})"] = str(e)
            print(f"{source} ({encoder}): skipped ({e})")
    results["wall_seconds"] = round(time.time() - t0, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, allow_nan=False))
    md = ["# Text debates over hidden passages", "", table(results), ""]
    md += [f"{s}: not run ({why})" for s, why in results["skipped"].items()]
    md.append(f"\nWall time {results['wall_seconds']} s; code {results['provenance']['code_version']}.")
    (args.out / "results.md").write_text("\n".join(md) + "\n")
    plot(results, args.out / "results.png")
    partial.clear()
    print(table(results))


if __name__ == "__main__":
    main()
