"""Sources of questions by name, and questions as the game's fixed-shape arrays.

``load_questions("stories-easy", 500, seed=0)``; sources: ``stories-easy``, ``stories-medium``,
``stories-hard`` (generated here), ``austen`` (Debian's r-cran-janeaustenr, where installed) and
``quality`` (for users with a network). ``instances_of(questions, embed, task)`` turns questions
into a ``game.Instance`` with any sentence encoder ``embed(list[str]) -> [N, D]``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from debate.tasks.quote import stories
from debate.tasks.quote.game import Instance, QuoteTask
from debate.tasks.quote.passages import PassageError, TextQuestion, check_question

SOURCES = ("stories-easy", "stories-medium", "stories-hard", "austen", "quality")


def load_questions(source: str, num_questions: int, seed: int = 0, **options) -> list[TextQuestion]:
    if source.startswith("stories-"):
        return stories.generate(stories.level(source.removeprefix("stories-")), num_questions, seed)
    if source == "austen":
        from debate.tasks.quote import austen

        return austen.cloze_questions(num_questions, seed=seed, **options)
    if source == "quality":
        from debate.tasks.quote import quality

        return quality.quality_questions(num_questions, seed=seed, **options)
    raise PassageError(f"unknown question source {source!r}; choose one of {', '.join(SOURCES)}.")


def liar_options(questions: list[TextQuestion], seed: int = 0) -> np.ndarray:
    """The wrong option each liar argues: the only one with two options, else one drawn at random."""
    rng = np.random.default_rng(seed)
    out = []
    for q in questions:
        wrong = [i for i in range(len(q.options)) if i != q.correct]
        out.append(wrong[0] if len(wrong) == 1 else wrong[rng.integers(len(wrong))])
    return np.asarray(out, np.int32)


def instances_of(questions: list[TextQuestion], embed: Callable[[list[str]], np.ndarray], task: QuoteTask,
                 liar_claims=None) -> Instance:
    """A numpy ``Instance`` batch: every sentence, question and option embedded with ``embed``,
    passages padded to ``task.max_sentences``. A passage longer than that is refused (never cut)."""
    for q in questions:
        check_question(q, task.max_sentences)
        if len(q.options) != task.num_options:
            raise PassageError(f"question {q.id[:60]!r} has {len(q.options)} options but the task plays "
                               f"{task.num_options}; build the task with num_options={len(q.options)}.")
    n, s = len(questions), task.max_sentences
    texts = [t for q in questions for t in q.sentences]
    sentence_vectors = _embed(embed, texts, task.dim)
    sentences = np.zeros((n, s, task.dim), np.float32)
    valid = np.zeros((n, s), bool)
    supporting = np.zeros((n, s), bool)
    misleading = np.zeros((n, s), bool)
    liar = liar_options(questions) if liar_claims is None else np.asarray(liar_claims, np.int32)
    at = 0
    for i, q in enumerate(questions):
        m = len(q.sentences)
        sentences[i, :m] = sentence_vectors[at:at + m]
        at += m
        valid[i, :m] = True
        supporting[i, list(q.supporting)] = True
        if q.misleading:
            misleading[i, list(q.misleading[liar[i]])] = True
    numbers = remember(questions)
    question = _embed(embed, [q.question for q in questions], task.dim)
    options = _embed(embed, [o for q in questions for o in q.options], task.dim).reshape(n, task.num_options, task.dim)
    return Instance(sentences=sentences, sentence_valid=valid, question=question, options=options,
                    label=np.asarray([q.correct for q in questions], np.int32), liar_claim=liar,
                    supporting=supporting, misleading=misleading, question_number=numbers)


def _embed(embed, texts, dim) -> np.ndarray:
    vectors = np.asarray(embed(texts), np.float32)
    if vectors.shape != (len(texts), dim):
        raise ValueError(f"the encoder gave vectors of shape {vectors.shape} for {len(texts)} texts; the task "
                         f"expects width {dim} (build the task with dim= the encoder's width).")
    return vectors


# ------------------------------------------------------------------- questions by id, embeddings
_KNOWN: dict[str, TextQuestion] = {}  # every question turned into instances in this process, by id
_NUMBERS: dict[str, int] = {}  # and its number (Instance.question_number)
_BY_NUMBER: list[TextQuestion] = []


def remember(questions: list[TextQuestion]) -> np.ndarray:
    """Keep questions so transcripts can be written from games later; returns their numbers."""
    out = []
    for q in questions:
        if q.id not in _NUMBERS:
            _NUMBERS[q.id] = len(_BY_NUMBER)
            _BY_NUMBER.append(q)
        _KNOWN[q.id] = q
        out.append(_NUMBERS[q.id])
    return np.asarray(out, np.int32)


def question_by_number(number: int) -> TextQuestion:
    if not 0 <= int(number) < len(_BY_NUMBER):
        raise PassageError(f"question number {int(number)} is not known in this process; build instances with "
                           "debate.tasks.quote.data.instances_of first.")
    return _BY_NUMBER[int(number)]


def question_by_id(question_id: str) -> TextQuestion:
    """A question this process has made instances of, or a generated story regenerated from its id
    (``stories-<level>:<seed>:<n>``)."""
    if question_id in _KNOWN:
        return _KNOWN[question_id]
    source, _, rest = str(question_id).partition(":")
    seed, _, n = rest.partition(":")
    if source.startswith("stories-") and source.removeprefix("stories-") in stories.LEVELS and seed.isdigit() \
            and n.isdigit():
        q = stories.generate(source.removeprefix("stories-"), int(n) + 1, int(seed))[int(n)]
        _KNOWN[q.id] = q
        return q
    raise PassageError(f"question {str(question_id)[:60]!r} is not known in this process; build its instances with "
                       "debate.tasks.quote.data.instances_of (which remembers it) before writing transcripts.")


def hashed_embedder(dim: int = 64) -> Callable[[list[str]], np.ndarray]:
    """A fixed encoder needing no training or download: the mean of one pseudo-random unit vector
    per lower-case word (from a hash of the word). For tests, examples and the lexical baseline."""
    import hashlib
    import re

    cache: dict[str, np.ndarray] = {}

    def word_vector(word: str) -> np.ndarray:
        if word not in cache:
            seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
            cache[word] = v / np.linalg.norm(v)
        return cache[word]

    def embed(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), dim), np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            if words:
                out[i] = np.mean([word_vector(w) for w in words], axis=0)
        return out

    return embed
