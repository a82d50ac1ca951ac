"""Stored human judgments as supervised training data: for a sparse-pixel judge, and (below,
``text_judgments_to_dataset``) for the quote judge of text debates.

For every judgment of a sparse-pixel debate, one example: the judge's two planes (mask and values)
of exactly the pixels the person saw (the transcript's first ``turns_seen`` turns, values from the
transcript's stored image), the class the person decided for as the label, and their confidence as
a sample weight. Without precommitment a person who chose "not 3" also named the digit they
believed in; that digit is the stored ``verdict_claim`` and so the label.

The weighted training loop itself is ``training.judge_training.train_judge_on_examples`` (the
layers depend one way, ``training -> judges -> debate``); ``debate train-judge --from-judgments``
composes the two::

    data = judgments_to_dataset(store, experiment_id=exp)
    save_examples("human.npz", data.views, data.labels, data.weights)
    train_judge_on_examples(data.views, data.labels, data.weights, config, "judges/human")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from debate.tasks.sparse_pixel.records import transcript_judge_view
from debate.records.storage import Store

__all__ = ["HumanExamples", "judgments_to_dataset", "judgments_to_examples", "save_examples", "load_examples",
           "TextHumanExamples", "text_judgments_to_dataset"]

SPARSE_PIXEL = "sparse_pixel"
QUOTE = "quote"


@dataclass
class HumanExamples:
    views: np.ndarray  # [N, H, W, 2] float32: mask, values in [0, 1]
    labels: np.ndarray  # [N] int32: the class the person decided for
    weights: np.ndarray  # [N] float32: the person's confidence
    judgment_ids: list[str]
    transcript_ids: list[str]
    num_classes: int  # classes of the task (from the transcripts' class probabilities; else 10)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def judgments_to_dataset(store: Store, **filters) -> HumanExamples:
    """Every stored judgment of a sparse-pixel debate matching ``filters`` (the arguments of
    ``Store.query_judgments``: annotator_id, transcript_id, experiment_id, protocol) as examples.
    Raises ValueError with one sentence when no judgment matches or the images differ in size."""
    task = filters.pop("task", SPARSE_PIXEL)
    if task != SPARSE_PIXEL:
        raise ValueError(f"judgments_to_dataset reads judgments of {SPARSE_PIXEL} debates (got task={task!r}); use "
                         f"text_judgments_to_dataset for {QUOTE} debates.")
    rows = store.query_judgments(task=SPARSE_PIXEL, **filters)
    if not rows:
        where = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
        raise ValueError(
            "no human judgments of sparse-pixel debates are stored"
            + (f" for {where}" if where else "")
            + f" in {store.url.render_as_string(hide_password=True)}; judge some debates in the app "
            "(`debate app`) first."
        )
    transcripts: dict = {}
    views, labels, weights, classes = [], [], [], 0
    for r in rows:
        tid = r["transcript_id"]
        if tid not in transcripts:
            transcripts[tid] = store.get_transcript(tid)
        t = transcripts[tid]
        view = transcript_judge_view(t, int(r["turns_seen"]))
        if views and view.shape != views[0].shape:
            raise ValueError(
                f"the judgments cover images of different sizes ({views[0].shape[0]}x{views[0].shape[1]} and "
                f"{view.shape[0]}x{view.shape[1]}); pick one experiment or protocol with the filters."
            )
        views.append(view)
        labels.append(int(r["verdict_claim"]))
        weights.append(float(r["confidence"]))
        probs = next((turn.judge_class_probs for turn in t.turns if turn.judge_class_probs), None)
        classes = max(classes, len(probs) if probs else 0)
    labels_arr = np.asarray(labels, np.int32)
    num_classes = max(classes or 10, int(labels_arr.max()) + 1)
    return HumanExamples(
        views=np.stack(views).astype(np.float32),
        labels=labels_arr,
        weights=np.asarray(weights, np.float32),
        judgment_ids=[r["id"] for r in rows],
        transcript_ids=[r["transcript_id"] for r in rows],
        num_classes=int(num_classes),
    )


def judgments_to_examples(store: Store, **filters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(views float32 [N, H, W, 2], labels int32 [N], weights float32 [N])``; see judgments_to_dataset."""
    data = judgments_to_dataset(store, **filters)
    return data.views, data.labels, data.weights


def save_examples(path: str | os.PathLike, views, labels, weights, **extra) -> Path:
    """Write examples to a compressed ``.npz`` (arrays ``views``, ``labels``, ``weights`` and any
    ``extra`` arrays, e.g. judgment_ids); the parent directory is created. Returns the path."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path} must end in .npz (numpy's compressed archive format).")
    views, labels, weights = np.asarray(views, np.float32), np.asarray(labels, np.int32), np.asarray(weights, np.float32)
    if not (views.shape[0] == labels.shape[0] == weights.shape[0]):
        raise ValueError(f"views, labels and weights must have the same length (got {views.shape[0]}, "
                         f"{labels.shape[0]}, {weights.shape[0]}).")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, views=views, labels=labels, weights=weights,
                        **{k: np.asarray(v) for k, v in extra.items()})
    os.replace(tmp, path)
    return path


def load_examples(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(views, labels, weights)`` from a file written by ``save_examples``."""
    with np.load(path) as f:
        return f["views"], f["labels"], f["weights"]


# ------------------------------------------------------------------------------- text debates
@dataclass
class TextHumanExamples:
    """What people saw and decided in text debates: per judgment, the question (passage included,
    for the judge's encoder), the sentences quoted in the turns the person saw and for which option
    each was argued, the option the person chose and their confidence. The quote judge's trainer
    (``training.quote_judge_training.train_quote_judge_on_judgments``) fits a judge to them."""

    questions: list  # debate.tasks.quote.passages.TextQuestion, one per judgment
    quote_index: np.ndarray  # [N, K] int32 sentence indices in turn order (0 where padded)
    quote_valid: np.ndarray  # [N, K] bool: the person saw this quote
    side: np.ndarray  # [N, K] int32: the option argued by the side that quoted it
    labels: np.ndarray  # [N] int32: the option the person decided for
    weights: np.ndarray  # [N] float32: the person's confidence
    judgment_ids: list[str]
    transcript_ids: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def text_judgments_to_dataset(store: Store, **filters) -> TextHumanExamples:
    """Every stored judgment of a text (``quote``) debate matching ``filters`` (those of
    ``Store.query_judgments`` but ``task``) as examples: the first ``turns_seen`` quotes of its
    transcript, the person's option as the label, their confidence as the weight. Raises ValueError
    with one sentence when none match."""
    from debate.tasks.quote.records import question_of

    filters.pop("task", None)
    rows = store.query_judgments(task=QUOTE, **filters)
    if not rows:
        where = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
        raise ValueError(
            "no human judgments of text debates are stored" + (f" for {where}" if where else "")
            + f" in {store.url.render_as_string(hide_password=True)}; judge some text debates in the app "
            "(`debate app`) first.")
    transcripts: dict = {}
    questions, quoted, sides, labels, weights = [], [], [], [], []
    for r in rows:
        tid = r["transcript_id"]
        if tid not in transcripts:
            transcripts[tid] = store.get_transcript(tid)
        t = transcripts[tid]
        seen = t.turns[: int(r["turns_seen"])]
        questions.append(question_of(t))
        quoted.append([int(turn.revealed["sentence"]) for turn in seen])
        sides.append([int(t.claim_of(turn.player)) for turn in seen])
        labels.append(int(r["verdict_claim"]))
        weights.append(float(r["confidence"]))
    k = max(1, max(len(q) for q in quoted))
    index = np.zeros((len(rows), k), np.int32)
    side = np.zeros((len(rows), k), np.int32)
    valid = np.zeros((len(rows), k), bool)
    for i, (q, s) in enumerate(zip(quoted, sides)):
        index[i, :len(q)], side[i, :len(s)], valid[i, :len(q)] = q, s, True
    return TextHumanExamples(questions=questions, quote_index=index, quote_valid=valid, side=side,
                             labels=np.asarray(labels, np.int32), weights=np.asarray(weights, np.float32),
                             judgment_ids=[r["id"] for r in rows], transcript_ids=[r["transcript_id"] for r in rows])
