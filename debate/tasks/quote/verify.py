"""Quotes inside free text, checked against the passage.

A debater's argument may quote the passage in its own words ("... as the story says, "Mary went to
the kitchen" ..."). Each quoted span is verified before the judge sees it: normalised (Unicode
compatibility forms, curly quotes made straight, case folded, punctuation dropped, whitespace
collapsed), then looked up as an exact substring of a normalised sentence; failing that, a fuzzy
match (difflib's ratio over windows of the same number of words) of at least ``FUZZY_THRESHOLD``
against one sentence. The judge is shown each quote as verified or unverified (Khan et al. 2024's
quote tool); the transcript records the mark and the task refuses a mark that a re-check does not
give (``records.check_transcript``).

Standard library only (no jax): the app's pages and the transcript checks import it.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

#: A fuzzy match at or above this ratio verifies a quote (a typo or a dropped word in a long quote).
FUZZY_THRESHOLD = 0.9
#: Fuzzy matching needs this many words: a short span matches too much by chance.
FUZZY_MIN_WORDS = 4
#: Spans between double quotes (straight, curly, guillemets) count as quotes.
QUOTED_SPAN = re.compile(r'"([^"]+)"|\u201c([^\u201d]+)\u201d|\u00ab([^\u00bb]+)\u00bb')
_STRAIGHTEN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"'})


def normalise(text: str) -> str:
    """Compatibility forms, straight quotes, case folded, punctuation dropped, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_STRAIGHTEN).casefold()
    text = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text.replace("'", ""))
    return " ".join(text.split())


@dataclass(frozen=True)
class QuoteCheck:
    text: str  # the quote as written in the argument
    verified: bool
    how: str  # "exact", "fuzzy" or "none"
    sentence: int | None  # the passage sentence it matches (0-based), when verified
    score: float  # 1.0 for an exact match, else the best fuzzy ratio

    def to_dict(self) -> dict:
        return {"text": self.text, "verified": self.verified}


def quotes_in(argument: str) -> list[str]:
    """The quoted spans of an argument, in order."""
    return [next(group for group in m.groups() if group is not None).strip() for m in QUOTED_SPAN.finditer(argument)]


def _best_window_ratio(words: list[str], sentence_words: list[str]) -> float:
    n = len(words)
    target = " ".join(words)
    if len(sentence_words) <= n:
        return difflib.SequenceMatcher(None, target, " ".join(sentence_words)).ratio()
    return max(difflib.SequenceMatcher(None, target, " ".join(sentence_words[i:i + n])).ratio()
               for i in range(len(sentence_words) - n + 1))


def check_quote(quote: str, sentences, fuzzy_threshold: float = FUZZY_THRESHOLD) -> QuoteCheck:
    """Whether ``quote`` is in the passage ``sentences``: exactly after normalising, else fuzzily."""
    target = normalise(quote)
    if not target:
        return QuoteCheck(quote, False, "none", None, 0.0)
    normalised = [normalise(s) for s in sentences]
    for i, sentence in enumerate(normalised):
        if f" {target} " in f" {sentence} ":  # whole words only: "kit" is not in "kitchen"
            return QuoteCheck(quote, True, "exact", i, 1.0)
    words = target.split()
    if len(words) < FUZZY_MIN_WORDS:
        return QuoteCheck(quote, False, "none", None, 0.0)
    ratios = [_best_window_ratio(words, s.split()) for s in normalised]
    best = max(range(len(ratios)), key=ratios.__getitem__) if ratios else None
    if best is not None and ratios[best] >= fuzzy_threshold:
        return QuoteCheck(quote, True, "fuzzy", best, round(ratios[best], 4))
    return QuoteCheck(quote, False, "none", None, round(ratios[best], 4) if best is not None else 0.0)


def check_argument(argument: str, sentences) -> list[QuoteCheck]:
    """Every quoted span of ``argument`` checked against the passage."""
    return [check_quote(q, sentences) for q in quotes_in(argument)]


__all__ = ["FUZZY_THRESHOLD", "QuoteCheck", "check_argument", "check_quote", "normalise", "quotes_in"]
