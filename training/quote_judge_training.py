"""Training the quote judge (``judges.quote_judge``) on random quote subsets, as Irving et al.'s
judge is trained on random K-pixel masks: each batch draws K random sentences of each passage,
each quoted "by" a random option's side, and the judge learns the correct option (cross-entropy,
Adam). ``num_quotes = 0`` trains the blind judge (options only), ``num_quotes = max_sentences``
the oracle (every sentence).

Checkpoints, resuming and Ctrl-C work as for the pixel judge (``training.judge_training``: the same
step loop); ``config.json`` and, for the words encoder, ``tokenizer.json`` lie beside them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from debate.tasks.quote.game import JudgeView
from debate.tasks.quote.passages import TextQuestion, check_question
from judges.quote_judge import QuoteJudge, QuoteJudgeConfig, make_quote_judge
from judges.word_encoder import build_tokenizer, load_tokenizer, save_tokenizer, token_ids
from training.checkpoints import CheckpointError, latest_step, restore_pytree
from training.judge_training import TrainConfig, _open_run, _run_steps

CONFIG_FILE = "config.json"
KIND = "quote_judge"


@dataclass(frozen=True)
class QuoteTrainConfig(TrainConfig):
    JUDGE: ClassVar[type] = QuoteJudgeConfig
    judge: QuoteJudgeConfig = field(default_factory=QuoteJudgeConfig)
    steps: int = 2_000
    learning_rate: float = 1e-3
    checkpoint_every: int = 500


def question_texts(questions: list[TextQuestion]) -> list[str]:
    return [t for q in questions for t in (*q.sentences, q.question, *q.options)]


def words_judge_config(questions: list[TextQuestion], num_quotes: int, max_sentences: int = 64, dim: int = 64,
                       **judge) -> tuple[QuoteJudgeConfig, object]:
    """A words-encoder judge configuration and its tokenizer, built on the training questions."""
    tokenizer = build_tokenizer(question_texts(questions))
    return QuoteJudgeConfig(dim=dim, num_quotes=num_quotes, max_sentences=max_sentences, encoder="words",
                            vocab_size=len(tokenizer), **judge), tokenizer


# ----------------------------------------------------------------------------------- the data
def words_arrays(questions: list[TextQuestion], tokenizer, config: QuoteJudgeConfig) -> dict:
    """Word ids of every sentence, question and option, padded: the words judge's training data."""
    for q in questions:
        check_question(q, config.max_sentences)
    n, s, w = len(questions), config.max_sentences, config.max_words
    sentences = np.zeros((n, s, w), np.int32)
    valid = np.zeros((n, s), bool)
    for i, q in enumerate(questions):
        sentences[i, :len(q.sentences)] = token_ids(tokenizer, list(q.sentences), w)
        valid[i, :len(q.sentences)] = True
    num_options = len(questions[0].options)
    return {"sentences": sentences, "valid": valid,
            "question": token_ids(tokenizer, [q.question for q in questions], w),
            "options": token_ids(tokenizer, [o for q in questions for o in q.options], w).reshape(n, num_options, w),
            "label": np.asarray([q.correct for q in questions], np.int32)}


def frozen_arrays(questions: list[TextQuestion], embed: Callable[[list[str]], np.ndarray],
                  config: QuoteJudgeConfig) -> dict:
    """The training data of a judge over a frozen encoder (e.g. MiniLM): each distinct text embedded
    once into ``table`` [U, D], and sentences, questions and options as row numbers of it."""
    for q in questions:
        check_question(q, config.max_sentences)
    number: dict[str, int] = {}
    for text in question_texts(questions):
        number.setdefault(text, len(number))
    table = np.asarray(embed(list(number)), np.float32)
    if table.shape != (len(number), config.dim):
        raise ValueError(f"the encoder gave vectors of shape {table.shape}; the judge expects width {config.dim}.")
    n, s = len(questions), config.max_sentences
    sentences = np.zeros((n, s), np.int32)
    valid = np.zeros((n, s), bool)
    for i, q in enumerate(questions):
        sentences[i, :len(q.sentences)] = [number[t] for t in q.sentences]
        valid[i, :len(q.sentences)] = True
    return {"table": table, "sentences": sentences, "valid": valid,
            "question": np.asarray([number[q.question] for q in questions], np.int32),
            "options": np.asarray([[number[o] for o in q.options] for q in questions], np.int32),
            "label": np.asarray([q.correct for q in questions], np.int32)}


def cached_embedder(embed: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
    """``embed`` that computes each distinct text once (stories repeat their sentences a lot)."""
    cache: dict[str, np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in cache]
        if new:
            cache.update(zip(new, np.asarray(embed(new), np.float32)))
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)

    return cached


def _embedding(model: QuoteJudge, data: dict):
    """How the judge turns the data's entries into vectors: a lookup in the frozen table, or its own encoder."""
    if "table" in data:
        table = data["table"]
        return lambda ids: table[ids]
    return model.embed


def random_quotes(key, valid, k: int):
    """[B, K] indices of K distinct random valid sentences per row (fewer valid: the rest invalid)."""
    scores = jnp.where(valid, jax.random.uniform(key, valid.shape), -1.0)
    top_scores, top = jax.lax.top_k(scores, k)
    return top.astype(jnp.int32), top_scores >= 0


def view_of_quotes(model: QuoteJudge, data: dict, index, quote_index, quote_valid, side) -> JudgeView:
    """The judge's view of rows ``index`` of ``data`` when sentences ``quote_index`` are quoted."""
    embed = _embedding(model, data)
    sentences = data["sentences"][index]  # [B, S, L] word ids, or [B, S] rows of the frozen table
    quoted = jnp.take_along_axis(sentences, quote_index.reshape(quote_index.shape + (1,) * (sentences.ndim - 2)), axis=1)
    quotes = embed(quoted) * quote_valid[:, :, None]
    return JudgeView(question=embed(data["question"][index]), options=embed(data["options"][index]),
                     quotes=quotes, position=jnp.where(quote_valid, quote_index, 0),
                     side=jnp.where(quote_valid, side, -1), valid=quote_valid)


def make_train_step(graphdef, optimizer, data: dict, config: QuoteTrainConfig):
    num_rows, k = data["label"].shape[0], config.judge.num_quotes
    num_options = data["options"].shape[1]

    @partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, key):
        batch_key, quote_key, side_key = jax.random.split(key, 3)
        index = jax.random.randint(batch_key, (config.batch_size,), 0, num_rows)
        if k:
            quote_index, quote_valid = random_quotes(quote_key, data["valid"][index], k)
        else:
            quote_index, quote_valid = (jnp.zeros((config.batch_size, 0), jnp.int32),
                                        jnp.zeros((config.batch_size, 0), bool))
        side = jax.random.randint(side_key, quote_index.shape, 0, num_options)

        def loss_of(p):
            model = nnx.merge(graphdef, p)
            logits = model(view_of_quotes(model, data, index, quote_index, quote_valid, side))
            return optax.softmax_cross_entropy_with_integer_labels(logits, data["label"][index]).mean()

        loss, grads = jax.value_and_grad(loss_of)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step


# ----------------------------------------------------------------------------------- training
def train_quote_judge(data: dict, config: QuoteTrainConfig, out_dir: str | Path, tokenizer=None,
                      progress: bool = True, log=print) -> tuple[QuoteJudge, dict]:
    """Train (or resume) a quote judge in ``out_dir`` on ``data`` (``words_arrays`` for the words
    encoder; the same keys with float embeddings for a frozen one)."""
    if config.steps < 1 or config.checkpoint_every < 1:
        raise ValueError(f"steps ({config.steps}) and checkpoint_every ({config.checkpoint_every}) must be at least 1.")
    out_dir = Path(out_dir)
    graphdef, optimizer, params, opt_state, key, start = _open_run(config, out_dir, log, make_quote_judge, KIND)
    if tokenizer is not None:
        save_tokenizer(tokenizer, out_dir)
    arrays = {name: jnp.asarray(value) for name, value in data.items()}
    train_step = make_train_step(graphdef, optimizer, arrays, config)
    t0 = time.time()
    params, loss, steps_done = _run_steps(train_step, params, opt_state, key, start, config, out_dir,
                                          f"quote judge K={config.judge.num_quotes}", progress)
    # no step this run (the directory held the finished judge): no loss to report, rather than NaN
    final_loss = float(loss) if steps_done > start else None
    return nnx.merge(graphdef, params), {"steps": steps_done, "final_loss": final_loss,
                                         "train_seconds": time.time() - t0, "steps_this_run": steps_done - start}


def load_quote_judge(directory: str | Path) -> tuple[QuoteJudge, QuoteTrainConfig, object | None]:
    """The latest checkpoint of a quote judge, its training config and (words encoder) tokenizer."""
    directory = Path(directory)
    try:
        stored = json.loads((directory / CONFIG_FILE).read_text())
        if stored.get("kind") != KIND:
            raise ValueError("not a quote judge")
        config = QuoteTrainConfig.from_dict(stored["train"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"no quote judge at {directory} ({type(e).__name__}: {e}); pass a directory the quote "
                              "judge's training wrote.") from None
    step = latest_step(directory)
    if step is None:
        raise CheckpointError(f"{directory} has a quote judge's config but no saved step; train it again there.")
    model = make_quote_judge(config.judge, config.seed)
    graphdef, params = nnx.split(model)
    like = {"params": params, "opt_state": optax.adam(config.learning_rate).init(params),
            "key": jax.random.key_data(jax.random.key(0))}
    restored = restore_pytree(directory, step, like)
    tokenizer = load_tokenizer(directory) if config.judge.encoder == "words" else None
    return nnx.merge(graphdef, restored["params"]), config, tokenizer


def words_embedder(model: QuoteJudge, tokenizer, batch_size: int = 1024) -> Callable[[list[str]], np.ndarray]:
    """``embed(texts) -> [N, D]`` with a trained words judge's own encoder (frozen from now on)."""
    max_words = model.config.max_words
    encode = jax.jit(lambda ids: model.encoder(ids))

    def embed(texts: list[str]) -> np.ndarray:
        ids = token_ids(tokenizer, list(texts), max_words)
        out = []
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            padded = np.zeros((batch_size, max_words), np.int32)
            padded[:len(chunk)] = chunk
            out.append(np.asarray(encode(padded))[:len(chunk)])
        return np.concatenate(out) if out else np.zeros((0, model.config.dim), np.float32)

    return embed


def judge_accuracy(model: QuoteJudge, data: dict, num_quotes: int, seed: int = 0, batch_size: int = 512) -> float:
    """Accuracy with ``num_quotes`` random quotes per question (random sides): the judge-alone number."""
    graphdef, params = nnx.split(model)
    arrays = {name: jnp.asarray(value) for name, value in data.items()}
    n = arrays["label"].shape[0]

    @jax.jit
    def predict(params, index, key):
        live = nnx.merge(graphdef, params)
        if num_quotes:
            quote_index, quote_valid = random_quotes(key, arrays["valid"][index], num_quotes)
        else:
            quote_index, quote_valid = jnp.zeros((index.shape[0], 0), jnp.int32), jnp.zeros((index.shape[0], 0), bool)
        side = jax.random.randint(jax.random.fold_in(key, 1), quote_index.shape, 0, arrays["options"].shape[1])
        return live(view_of_quotes(live, arrays, index, quote_index, quote_valid, side)).argmax(-1)

    correct = 0
    for start in range(0, n, batch_size):
        index = jnp.arange(start, start + batch_size) % n
        predicted = np.asarray(predict(params, index, jax.random.fold_in(jax.random.key(seed), start)))
        rows = min(batch_size, n - start)
        correct += int((predicted[:rows] == np.asarray(data["label"])[start:start + rows]).sum())
    return correct / n


# ------------------------------------------------------------------ fitting to human judgments
def judgments_arrays(model: QuoteJudge, tokenizer, examples, embed: Callable[[list[str]], np.ndarray] | None = None) -> dict:
    """The training data of ``examples`` (``judges.human_adapter.TextHumanExamples``) for ``model``:
    its passages through the judge's own encoder (words: ``tokenizer``; frozen: ``embed``), plus the
    quotes each person saw, who argued them, the person's option and confidence."""
    config = model.config
    if config.encoder == "words":
        arrays = words_arrays(examples.questions, tokenizer, config)
    elif embed is None:
        raise ValueError(f"this judge reads {config.encoder} embeddings; pass embed= (e.g. judges.minilm.load_minilm().encode).")
    else:
        arrays = frozen_arrays(examples.questions, embed, config)
    labels = np.asarray(examples.labels)
    if labels.min() < 0 or labels.max() >= arrays["options"].shape[1]:
        raise ValueError(f"the judgments name options {labels.min()}..{labels.max()} but the questions have "
                         f"{arrays['options'].shape[1]}; check the stored judgments.")
    return arrays | {"quote_index": np.asarray(examples.quote_index, np.int32),
                     "quote_valid": np.asarray(examples.quote_valid, bool), "side": np.asarray(examples.side, np.int32),
                     "label": np.asarray(examples.labels, np.int32), "weight": np.asarray(examples.weights, np.float32)}


def _shown_quotes(model, data, index):
    return view_of_quotes(model, data, index, data["quote_index"][index], data["quote_valid"][index], data["side"][index])


def agreement(model: QuoteJudge, data: dict, batch_size: int = 512) -> float:
    """The confidence-weighted share of judgments whose option is the judge's top option, given the
    quotes the person saw."""
    graphdef, params = nnx.split(model)
    arrays = {name: jnp.asarray(value) for name, value in data.items()}
    n = int(arrays["label"].shape[0])
    predict = jax.jit(lambda p, index: (lambda m: m(_shown_quotes(m, arrays, index)))(nnx.merge(graphdef, p)).argmax(-1))
    predicted = np.concatenate([np.asarray(predict(params, jnp.arange(s, s + batch_size) % n))[:min(batch_size, n - s)]
                                for s in range(0, n, batch_size)])
    weight = np.asarray(data["weight"])
    return float((weight * (predicted == np.asarray(data["label"]))).sum() / weight.sum())


def train_quote_judge_on_judgments(examples, start: str | Path, out_dir: str | Path, steps: int = 300,
                                   learning_rate: float = 3e-4, batch_size: int = 64, seed: int = 0,
                                   embed: Callable[[list[str]], np.ndarray] | None = None, progress: bool = True,
                                   log=print) -> tuple[QuoteJudge, dict]:
    """Fine-tune the quote judge in ``start`` on what people saw and decided (weighted
    cross-entropy over the quotes each person saw, Adam), into ``out_dir``: checkpoints, resuming and
    ``load_quote_judge(out_dir)`` as for ``train_quote_judge``. The summary has the judge's
    agreement with the people before and after."""
    if len(examples) < 1:
        raise ValueError("there are no judgments to train on.")
    weights = np.asarray(examples.weights, np.float32)
    if not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero.")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps ({steps}) and batch_size ({batch_size}) must be at least 1.")
    start_model, start_config, tokenizer = load_quote_judge(start)
    data = judgments_arrays(start_model, tokenizer, examples, embed)
    before = agreement(start_model, data)
    config = QuoteTrainConfig(judge=start_config.judge, steps=steps, learning_rate=learning_rate, batch_size=batch_size,
                              seed=seed, checkpoint_every=steps,
                              data=f"{len(examples)} human judgments, fine-tuning the judge in {Path(start).resolve()}")
    out_dir = Path(out_dir)
    graphdef, optimizer, params, opt_state, key, first = _open_run(config, out_dir, log, lambda c, s: start_model, KIND)
    if tokenizer is not None:
        save_tokenizer(tokenizer, out_dir)
    arrays = {name: jnp.asarray(value) for name, value in data.items()}
    n = int(arrays["label"].shape[0])

    @partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, key):
        index = jax.random.randint(key, (batch_size,), 0, n)

        def loss_of(p):
            model = nnx.merge(graphdef, p)
            logits = model(_shown_quotes(model, arrays, index))
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, arrays["label"][index])
            weight = arrays["weight"][index]
            return (loss * weight).sum() / jnp.maximum(weight.sum(), 1e-9)

        loss, grads = jax.value_and_grad(loss_of)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    t0 = time.time()
    params, loss, steps_done = _run_steps(train_step, params, opt_state, key, first, config, out_dir,
                                          "quote judge (human judgments)", progress)
    model = nnx.merge(graphdef, params)
    return model, {"steps": steps_done, "final_loss": float(loss) if steps_done > first else None,
                   "train_seconds": time.time() - t0, "examples": n, "agreement_before": before,
                   "agreement_after": agreement(model, data)}
