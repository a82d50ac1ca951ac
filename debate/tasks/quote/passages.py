"""Questions about hidden passages: the data every source of the quote task produces.

A ``TextQuestion`` is a passage split into sentences, a question, answer options (two by default,
kept a tuple so more work later) and the index of the correct one, with what the source knows about
why: the sentences that prove the answer (``supporting``) and, for each wrong option, the true
sentences that make it look right (``misleading``). Sources (``stories``, ``austen``, ``quality``)
return lists of them; the game turns them into fixed-shape arrays (``debate.tasks.quote.game``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The most sentences a passage may have by default (longer passages are refused, not cut).
MAX_SENTENCES = 64


class PassageError(ValueError):
    """A source or a question that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class TextQuestion:
    id: str  # unique within its source, e.g. "stories-easy:17"
    sentences: tuple[str, ...]  # the passage, one sentence per entry
    question: str
    options: tuple[str, ...]
    correct: int  # index into options
    supporting: tuple[int, ...] = ()  # sentence indices that prove the correct option
    misleading: tuple[tuple[int, ...], ...] = ()  # per option: true sentences that make it look right
    source: str = ""  # where it came from, in words
    kind: str = ""  # the question type, e.g. "where-person", "cloze"
    meta: dict = field(default_factory=dict, compare=False)  # anything else the source records (JSON-able)

    def __post_init__(self):
        check_question(self)

    def to_dict(self) -> dict:
        return {"id": self.id, "sentences": list(self.sentences), "question": self.question,
                "options": list(self.options), "correct": self.correct, "supporting": list(self.supporting),
                "misleading": [list(m) for m in self.misleading], "source": self.source, "kind": self.kind,
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict) -> "TextQuestion":
        return cls(id=d["id"], sentences=tuple(d["sentences"]), question=d["question"], options=tuple(d["options"]),
                   correct=int(d["correct"]), supporting=tuple(int(i) for i in d.get("supporting", ())),
                   misleading=tuple(tuple(int(i) for i in m) for m in d.get("misleading", ())),
                   source=d.get("source", ""), kind=d.get("kind", ""), meta=dict(d.get("meta", {})))


def check_question(q: TextQuestion, max_sentences: int | None = None) -> None:
    """One sentence naming what is wrong with a question (and its id), or nothing."""
    where = f"question {str(q.id)[:60]!r}"
    if not isinstance(q.id, str) or not q.id:
        raise PassageError("a question needs a non-empty string id; give each question one.")
    if not q.sentences or not all(isinstance(s, str) and s.strip() for s in q.sentences):
        raise PassageError(f"{where} has an empty passage or an empty sentence; every sentence must hold text.")
    if max_sentences is not None and len(q.sentences) > max_sentences:
        raise PassageError(f"{where} has {len(q.sentences)} sentences, more than the maximum of {max_sentences}; "
                           f"raise max_sentences or use shorter passages.")
    if len(q.options) < 2 or len(set(q.options)) != len(q.options) or not all(
            isinstance(o, str) and o.strip() for o in q.options):
        raise PassageError(f"{where} needs at least two different, non-empty options.")
    if not isinstance(q.correct, int) or not 0 <= q.correct < len(q.options):
        raise PassageError(f"{where}: correct must index one of its {len(q.options)} options (got {q.correct!r}).")
    for i in (*q.supporting, *(i for m in q.misleading for i in m)):
        if not 0 <= i < len(q.sentences):
            raise PassageError(f"{where} names sentence {i}, outside its {len(q.sentences)} sentences.")
    if q.misleading and len(q.misleading) != len(q.options):
        raise PassageError(f"{where}: misleading needs one entry per option ({len(q.options)}).")


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"'“‘(]*[A-Z])")


def split_sentences(text: str) -> list[str]:
    """A plain-text passage as sentences: split after ., ! or ? (and closing quotes) before a capital.
    Abbreviations such as "Mr." are kept whole."""
    text = " ".join(text.split())
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        before = text[max(0, m.start() - 4):m.start()]
        if re.search(r"\b(Mr|Mrs|Ms|Dr|St|Col|Capt|Gen|Rev)\.$", before):
            continue
        pieces.append(text[start:m.start()].strip())
        start = m.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]
