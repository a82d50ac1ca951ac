"""Benchmark: the text debates' building blocks, one section per part.

Section ``minilm``: the all-MiniLM-L6-v2 sentence encoder (``judges.minilm``) at batch 1 and 64, 32
tokens per sentence. For each batch size: sentences/s end to end (``encode``: tokenizer, padding,
compiled forward, read-back) and of the compiled forward alone; FLOPs per sentence from the
architecture; efficiency = achieved FLOP/s of the forward / FLOP/s of a large dense float32 matmul
measured in the same run; and the plain-numpy reference (``reference_encode``) end to end.

    python experiments/bench_text.py                 # prints Markdown tables, writes experiments/results/bench_text.json
    python experiments/bench_text.py --sections minilm --repeats 5

A new section is a function ``(args, matmul_flops_per_second) -> {"rows": [...], "config": {...}}`` in
``SECTIONS``, a function rows -> Markdown table in ``SECTION_TABLES``, and its options in
``add_arguments``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from judges.minilm import encoder_flops, load_minilm, reference_encode, tokenize  # noqa: E402


# ------------------------------------------------------------------------------ shared
def best_seconds(fn, repeats: int) -> float:
    """Best wall time of ``fn()`` over ``repeats`` calls, after one warm-up (compilation) call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_flops_per_second(n: int = 2048, repeats: int = 5) -> float:
    """The machine's dense float32 limit: an n^3 product under jax.jit."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    square = jax.jit(lambda x: x @ x)
    return 2 * n**3 / best_seconds(lambda: square(a), repeats)


def markdown(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def git_commit() -> str | None:
    """``git rev-parse HEAD`` (read-only), None outside a checkout."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def versions() -> dict[str, str]:
    found = {}
    for name in ("jax", "jaxlib", "flax", "numpy", "transformers", "tokenizers", "safetensors"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


# ------------------------------------------------------------------------------ section: minilm
WORDS = ("the honest debater reveals a pixel while the liar claims another digit and the judge weighs "
         "both arguments before deciding which answer the evidence supports").split()


def long_sentences(count: int, seed: int = 0) -> list[str]:
    """Distinct sentences of 40 words: every one fills 32 tokens after truncation."""
    rng = np.random.default_rng(seed)
    return [f"Sentence {i}: " + " ".join(rng.choice(WORDS, size=40)) + "." for i in range(count)]


def bench_minilm(args, matmul: float) -> dict:
    encoder = load_minilm(args.model_dir)
    tokens_per_sentence = args.max_length
    flops = encoder_flops(encoder.config, tokens_per_sentence)
    from safetensors.numpy import load_file

    tensors = load_file(str(encoder.folder / "model.safetensors"))  # loaded once: the numpy timing is the forward
    rows = []
    for batch in args.batches:
        texts = long_sentences(max(batch * args.batches_per_timing, 32))  # >= 32: batch 1 is not timed on 4 calls
        tokens = tokenize(encoder.tokenizer, texts[:batch], args.max_length, fixed=True)
        assert tokens["attention_mask"].all(), "benchmark sentences must fill max_length tokens"
        encode_s = best_seconds(lambda: encoder.encode(texts, batch_size=batch, max_length=args.max_length),
                                args.repeats)
        forward_s = best_seconds(lambda: encoder.embed_tokens(tokens), args.repeats)
        numpy_texts = texts[:max(batch * args.numpy_batches, 8)]  # >= 8 sentences per timing
        numpy_s = best_seconds(lambda: [reference_encode(encoder.folder, numpy_texts[i:i + batch], args.max_length,
                                                         tensors=tensors, tokenizer=encoder.tokenizer)
                                        for i in range(0, len(numpy_texts), batch)], max(1, args.repeats - 1))
        row = {
            "batch": batch, "tokens": tokens_per_sentence,
            "encode_sentences_per_s": round(len(texts) / encode_s, 1),
            "forward_sentences_per_s": round(batch / forward_s, 1),
            "numpy_sentences_per_s": round(len(numpy_texts) / numpy_s, 1),
            "forward_gflop_per_s": round(batch / forward_s * flops / 1e9, 2),
            "efficiency": round(batch / forward_s * flops / matmul, 3),
            "encode_seconds": round(encode_s, 4), "forward_seconds": round(forward_s, 5),
            "numpy_seconds": round(numpy_s, 4), "sentences_encoded": len(texts), "sentences_numpy": len(numpy_texts),
        }
        rows.append(row)
    return {
        "rows": rows,
        "config": {"model": encoder.name, "folder": str(encoder.folder), "max_length": args.max_length,
                   "batches": args.batches, "batches_per_timing": args.batches_per_timing,
                   "numpy_batches": args.numpy_batches, "repeats": args.repeats, "normalize": encoder.normalize,
                   "precision": "highest", "flops_per_sentence": flops},
    }


def minilm_table(section: dict) -> str:
    config = section["config"]
    header = ["batch", "tokens", "encode sentences/s", "forward sentences/s", "numpy sentences/s",
              "forward GFLOP/s", "efficiency"]
    rows = [[r["batch"], r["tokens"], f"{r['encode_sentences_per_s']:.0f}", f"{r['forward_sentences_per_s']:.0f}",
             f"{r['numpy_sentences_per_s']:.0f}", f"{r['forward_gflop_per_s']:.1f}", f"{r['efficiency']:.2f}"]
            for r in section["rows"]]
    return (f"MiniLM ({config['model']}): {config['flops_per_sentence'] / 1e6:.1f} MFLOP per "
            f"{config['max_length']}-token sentence\n\n" + markdown(header, rows))


def rescale_efficiency(section: dict, factor: float) -> None:
    """Efficiencies computed against one matmul figure, moved to another (factor = old / new)."""
    for row in section["rows"]:
        if "efficiency" in row:
            row["efficiency"] = round(row["efficiency"] * factor, 3)


def bench_search(args, matmul: float) -> dict:
    """Gumbel search over text debates (generated easy stories, words encoder, the quote judge as
    leaf value) at each batch size and simulation count, and in the same run the judge alone: the
    same number of batched judge calls in one compiled loop (judge share = judge time / search time)."""
    from debate.core.debaters import mcts_debater
    from debate.tasks.quote import data, stories
    from debate.tasks.quote.game import QuoteTask
    from judges.quote_judge import judge_flops, make_quote_judge, quote_judge_function
    from training.quote_judge_training import words_judge_config

    questions = stories.generate("easy", max(args.search_batches), seed=0)
    config, _ = words_judge_config(questions, num_quotes=args.quotes)
    judge_fn, params = quote_judge_function(make_quote_judge(config))  # speed does not depend on the weights
    task = QuoteTask(num_quotes=args.quotes, max_sentences=64, dim=config.dim, encoder="hashed")
    flops = judge_flops(config)
    rows = []
    for batch in args.search_batches:
        state = task.init(data.instances_of(questions[:batch], data.hashed_embedder(config.dim), task), 0)
        view = task.judge_view(state)
        for sims in args.search_simulations:
            search = jax.jit(mcts_debater(task, judge_fn, sims).search)
            search_seconds = best_seconds(lambda: search(params, jax.random.key(0), state), args.repeats)

            @jax.jit
            def judge_loop(params, view):
                def body(_, carry):  # each call depends on the last, so none is hoisted
                    return carry + judge_fn(params, view.replace(quotes=view.quotes + carry[:, :1, None] * 0.0)).sum()

                return jax.lax.fori_loop(0, sims, body, jnp.zeros((batch, 2)))

            judge_seconds = best_seconds(lambda: judge_loop(params, view), args.repeats)
            sims_per_s = batch * sims / search_seconds
            rows.append({"batch": batch, "simulations": sims, "sims_per_s": round(sims_per_s, 1),
                         "judge_share": round(min(judge_seconds / search_seconds, 1.0), 3),
                         "efficiency": round(sims_per_s * flops / matmul, 4),
                         "search_seconds": round(search_seconds, 4), "judge_seconds": round(judge_seconds, 4)})
            print(f"search batch {batch}, {sims} simulations: {sims_per_s:.0f} simulations/s")
    return {"rows": rows, "config": {"source": "stories-easy", "quotes": args.quotes, "actions": task.num_actions,
                                     "judge": config.to_dict(), "judge_flops_per_evaluation": flops,
                                     "algorithm": "gumbel"}}


def search_table(section: dict) -> str:
    config = section["config"]
    header = ["batch", "simulations", "simulations/s", "judge share", "efficiency"]
    rows = [[r["batch"], r["simulations"], f"{r['sims_per_s']:.0f}", f"{r['judge_share']:.2f}", f"{r['efficiency']:.3f}"]
            for r in section["rows"]]
    return (f"Search over text debates (K={config['quotes']} quotes, {config['actions']} actions, quote judge "
            f"{config['judge_flops_per_evaluation'] / 1e3:.0f} kFLOP per evaluation)\n\n" + markdown(header, rows))


#: name -> function(args, matmul FLOP/s) -> {"rows", "config"}, with its Markdown table in
#: SECTION_TABLES (rows with an "efficiency" are rescaled to the better matmul).
SECTIONS = {"minilm": bench_minilm, "search": bench_search}
SECTION_TABLES = {"minilm": minilm_table, "search": search_table}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    minilm = parser.add_argument_group("minilm")
    minilm.add_argument("--model-dir", type=Path, default=None,
                        help="folder of all-MiniLM-L6-v2 (default: the cache; `debate models fetch minilm`)")
    minilm.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="batch sizes")
    minilm.add_argument("--max-length", type=int, default=32, help="tokens per sentence")
    minilm.add_argument("--batches-per-timing", type=int, default=4, help="batches per timed encode() call")
    minilm.add_argument("--numpy-batches", type=int, default=1, help="batches per timed numpy reference call")
    search = parser.add_argument_group("search")
    search.add_argument("--search-batches", type=int, nargs="+", default=[256], help="debates searched at once")
    search.add_argument("--search-simulations", type=int, nargs="+", default=[64], help="simulations per move")
    search.add_argument("--quotes", type=int, default=4, help="K, quotes per debate")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the best counts)")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "bench_text.json")
    add_arguments(parser)
    args = parser.parse_args(argv)

    # measured before and after: on a shared machine the better of the two is the nearer to its limit
    matmul_before = matmul_flops_per_second()
    print(f"matmul 2048^3 float32: {matmul_before / 1e9:.1f} GFLOP/s; devices: {jax.devices()}\n")
    sections = {name: SECTIONS[name](args, matmul_before) for name in args.sections}
    matmul_after = matmul_flops_per_second()
    matmul = max(matmul_before, matmul_after)
    for section in sections.values():
        rescale_efficiency(section, matmul_before / matmul)
    print(f"matmul again after the sections: {matmul_after / 1e9:.1f} GFLOP/s; efficiency uses "
          f"{matmul / 1e9:.1f}\n")
    for name, section in sections.items():
        section["table"] = SECTION_TABLES[name](section)
        print(section["table"] + "\n")
    result = {
        "benchmark": "bench_text",
        "sections": {name: {k: v for k, v in s.items() if k != "table"} for name, s in sections.items()},
        "matmul_flops_per_second": matmul,
        "matmul_flops_per_second_before_after": [matmul_before, matmul_after],
        "config": {"sections": args.sections, "repeats": args.repeats},
        "versions": versions(),
        "python": sys.version.split()[0],
        "devices": [str(d) for d in jax.devices()],
        "git_commit": git_commit(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
