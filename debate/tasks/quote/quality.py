"""QuALITY (Pang et al. 2022) as two-answer questions, built the way Khan et al. 2024 built them.

Data: the official HTML-stripped release, JSONL files ``QuALITY.v1.0.1.htmlstripped.{train,dev}``
(https://github.com/nyu-mll/quality, ``data/v1.0.1/``, also inside ``QuALITY.v1.0.1.zip``). Pass a
file (or the release zip, or a folder holding the files), or let ``load_quality`` download the
split into ``$XDG_CACHE_HOME/debate-sim/data/quality/`` (default ``~/.cache``) with a short
timeout. Offline and without the file it raises a one-sentence ``PassageError`` naming the file.

Field layout (README of nyu-mll/quality; the data file calls the distractor vote
``untimed_best_distractor``, not ``untimed_eval3_distractor`` as the README says): one line per
(article, writer): ``article_id``, ``set_unique_id``, ``source`` ("Gutenberg", "Slate", ...),
``title``, ``article`` (paragraphs joined by blank lines), ``questions``: each ``question``,
``options`` (four), ``gold_label`` and ``writer_label`` (1-based), ``difficult`` (0/1),
``validation`` (untimed: ``untimed_answer``, ``untimed_eval1_answerability`` 1-3,
``untimed_eval2_context`` 1-4, ``untimed_best_distractor``), ``speed_validation``
(``speed_answer``).

Rules, read in github:ucl-dark/llm_debate, ``core/load/quality.py`` (``filter_question``,
``filter_questions``, ``best_distractor_for_question``, ``write_questions``) with the values of
its experiment config ``core/config/config.yaml`` (which override the loader's CLI defaults):

1. ``source == "Gutenberg"`` (reason ``not-gutenberg``);
2. ``difficult == 1`` (``not-difficult``);
3. not one of their hand-excluded stories or (question, title) pairs (``excluded``);
4. mean ``untimed_eval1_answerability`` <= 1.0, i.e. every validator said "single answer"
   (``ambiguous``);
5. untimed accuracy (share of ``untimed_answer == gold_label``) >= 1.0 (``untimed-accuracy``);
6. speed accuracy (share of ``speed_answer == gold_label``) <= 0.5 (``speed-accuracy``);
7. mean ``untimed_eval2_context`` >= 1.5 (``little-context``);
8. ``writer_label == gold_label`` (``labels-disagree``; their ``skip_conflicting_labels``);
9. at most one question per story title, the first surviving one in file order
   (``same-story``; their ``minimize_story_duplication`` with ``max_num_from_same_story=1``);
10. two answers: the gold option and the best distractor, the option most often named
    ``untimed_best_distractor`` by validators, votes for the gold option ignored, ties to the
    lowest option number (what their ``max(set(votes), key=votes.count)`` does for small ints).
    Dropped when no vote is left (``no-distractor``), when the two texts are equal
    (``same-text``) or when either says "all of the above", "none of the above" or "neither of
    these" (``incompatible-option``).

Their NYU-article exclusion is off in that config (``ignore_nyu: false``), so it is not applied;
``max_tokens_story`` is null there. Their text clean-up (drop U+2028/U+2029, no-break space ->
space) is applied. The NYU loader accepts ``train`` and ``dev`` (the config uses both).

Added here: articles are split into sentences per paragraph with ``split_sentences``, and an
article longer than ``max_sentences`` is LEFT OUT, not windowed (``too-long``): Khan et al.'s
questions are about the whole story (rule 7 asks for context beyond a sentence or two), so a
window could cut out the evidence. With the game's default of 64 sentences nearly every real
QuALITY article (thousands of words) is left out; raise ``max_sentences`` to use them.
``select_questions`` returns the count per reason. The correct option is first or second by a
coin seeded with (seed, crc32 of the question id), so the position leaks nothing and does not
depend on which other questions survive. QuALITY has no sentence-level evidence, so
``supporting`` and ``misleading`` are empty.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.request
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from debate.tasks.quote.passages import MAX_SENTENCES, PassageError, TextQuestion, split_sentences

log = logging.getLogger(__name__)

SPLITS = ("train", "dev")
RELEASE_URL = "https://github.com/nyu-mll/quality/raw/main/data/v1.0.1/{name}"
DOWNLOAD_TIMEOUT_S = 10.0

# Hand exclusions in llm_debate core/load/quality.py (EXCLUDED_STORIES, EXCLUDED_QUESTIONS).
EXCLUDED_STORIES = frozenset({"Boys Do Bleed", "MONICA!", "The Girl in His Mind"})
EXCLUDED_QUESTIONS = frozenset({
    ("What is the relationship between the humans and the Belphins?", "The Blue Tower"),
    ("What will happen if Anne becomes pregnant?", "Conditionally Human"),
    ("Why does Adrian think the Callistans will be willing to fight against the league?", "Conspiracy on Callisto"),
    ("All of the following terms describe how Infield would characterize Price EXCEPT for:", "Name Your Symptom"),
    ("How did the Mafia grow the business of prostitution on Mars?", "Mars Confidential"),
    ("What crime has Zeckler committed to warrant imprisonment?", "Letter of the Law"),
    ("The humans in the fourth dimension acquire all of the following remarkable abilities EXCEPT for:", "Judas Ram"),
    (("The Movement believes all of the following EXCEPT: Questioning the failings of the old society, failings "
      "have put them in the dome; failure of foreign policy (self-containment)"), "A Fall of Glass"),
    ("What is the Boyar's ultimate goal for Flamme?", "The Desert and the Stars"),
})
INCOMPATIBLE_PHRASES = ("all of the above", "neither of these", "none of the above")

MAX_ANSWERABILITY = 1.0
MIN_UNTIMED_ACCURACY = 1.0
MAX_SPEED_ACCURACY = 0.5
MIN_CONTEXT_REQUIRED = 1.5


# ---------------------------------------------------------------- finding and reading the file

def release_file_name(split: str) -> str:
    if split not in SPLITS:
        raise PassageError(f"QuALITY split must be one of {', '.join(SPLITS)} (got {split!r}).")
    return f"QuALITY.v1.0.1.htmlstripped.{split}"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "debate-sim" / "data" / "quality"


def missing_file_message(split: str) -> str:
    name = release_file_name(split)
    return (f"QuALITY is not on this machine and could not be downloaded: get {name} from "
            f"https://github.com/nyu-mll/quality (data/v1.0.1/QuALITY.v1.0.1.zip) and put it in {cache_dir()}/ "
            f"or pass its path.")


def download(url: str, target: Path, timeout: float) -> None:
    """Fetch url into target, through a temporary file so a broken download leaves nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)
    partial.replace(target)


def clean_release_text(text: str) -> str:
    """llm_debate's clean-up: the file holds unusual line terminators and no-break spaces."""
    return text.replace("\u2028", "").replace("\u2029", "").replace("\xa0", " ")


def read_jsonl_text(text: str) -> list[dict]:
    return [json.loads(line) for line in clean_release_text(text).splitlines() if line.strip()]


def read_release(path: Path, split: str) -> list[dict]:
    """Records from a JSONL file, from the release zip (the split's member) or from a folder."""
    name = release_file_name(split)
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise PassageError(f"there is no QuALITY file at {path}; pass {name} or the release zip.")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.namelist() if m.endswith(name)]
            if not members:
                raise PassageError(f"{path} holds no {name}; pass the QuALITY v1.0.1 release zip.")
            return read_jsonl_text(z.read(members[0]).decode("utf-8"))
    return read_jsonl_text(path.read_text(encoding="utf-8"))


def load_quality(path: str | Path | None = None, split: str = "train", *, allow_download: bool = True,
                 timeout: float = DOWNLOAD_TIMEOUT_S) -> list[dict]:
    """The records of one split: from ``path``, else from the cache, else downloaded into it."""
    if path is not None:
        return read_release(Path(path), split)
    cached = cache_dir() / release_file_name(split)
    if not cached.is_file():
        if not allow_download:
            raise PassageError(missing_file_message(split))
        try:
            download(RELEASE_URL.format(name=release_file_name(split)), cached, timeout)
        except OSError as e:  # URLError, timeouts and refused connections are all OSErrors
            log.info("QuALITY download failed: %s", e)
            raise PassageError(missing_file_message(split)) from None
    return read_release(cached, split)


# ---------------------------------------------------------------- Khan et al.'s filters

def share(votes: list, value) -> float:
    return sum(int(v) == value for v in votes) / len(votes) if votes else 0.0


def mean(values: list) -> float:
    return sum(float(v) for v in values) / len(values) if values else 0.0


def question_drop_reason(record: dict, q: dict) -> str | None:
    """Why Khan et al.'s ``filter_question`` (with their experiment config) drops a question, or None."""
    gold = int(q["gold_label"])
    validation, speed = q.get("validation") or [], q.get("speed_validation") or []
    if record.get("source") != "Gutenberg":
        return "not-gutenberg"
    if int(q.get("difficult", 0)) != 1:
        return "not-difficult"
    title = str(record.get("title", "")).strip()
    if (q["question"].strip(), title) in EXCLUDED_QUESTIONS or title in EXCLUDED_STORIES:
        return "excluded"
    if not validation or mean([v["untimed_eval1_answerability"] for v in validation]) > MAX_ANSWERABILITY:
        return "ambiguous"
    if share([v["untimed_answer"] for v in validation], gold) < MIN_UNTIMED_ACCURACY:
        return "untimed-accuracy"
    if share([v["speed_answer"] for v in speed], gold) > MAX_SPEED_ACCURACY:
        return "speed-accuracy"
    if mean([v["untimed_eval2_context"] for v in validation]) < MIN_CONTEXT_REQUIRED:
        return "little-context"
    if int(q.get("writer_label", gold)) != gold:
        return "labels-disagree"
    return None


def best_distractor(q: dict) -> int | None:
    """0-based index of the option validators most often named the best distractor (votes for
    the gold option ignored; ties to the lowest option), or None when no vote is left."""
    gold = int(q["gold_label"])
    votes = [int(v["untimed_best_distractor"]) for v in q.get("validation") or []
             if v.get("untimed_best_distractor") is not None and int(v["untimed_best_distractor"]) != gold]
    if not votes:
        return None
    counts = Counter(votes)
    return min(counts, key=lambda option: (-counts[option], option)) - 1


def two_answer_drop_reason(correct: str, distractor: str | None) -> str | None:
    """Why ``write_questions`` would skip the pair, or None."""
    if distractor is None:
        return "no-distractor"
    if correct == distractor:
        return "same-text"
    if any(p in text.lower() for text in (correct, distractor) for p in INCOMPATIBLE_PHRASES):
        return "incompatible-option"
    return None


# ---------------------------------------------------------------- building the questions

def article_sentences(article: str) -> list[str]:
    """Sentences per paragraph (the stripped release joins paragraphs with blank lines), so a
    heading without a full stop does not run into the first sentence."""
    return [s for p in re.split(r"\n\s*\n", article) for s in split_sentences(p)]


def question_id(record: dict, k: int, q: dict) -> str:
    return str(q.get("question_unique_id") or f"{record['set_unique_id']}_{k + 1}")


def correct_position(seed: int, qid: str) -> int:
    """0 or 1 by a coin of its own per question (so it does not depend on the other questions)."""
    return int(np.random.default_rng([seed, zlib.crc32(qid.encode("utf-8"))]).integers(2))


def select_questions(records: list[dict], seed: int = 0, max_sentences: int = MAX_SENTENCES,
                     max_per_story: int | None = 1) -> tuple[list[TextQuestion], dict[str, int]]:
    """The two-answer questions that pass every rule of the module docstring, in file order, and
    how many questions each rule dropped (the first rule that applies). ``max_per_story=None``
    turns off rule 9 (Khan et al. keep one question per story; more questions may suit training)."""
    dropped: Counter = Counter()
    kept, per_story = [], Counter()
    sentences_of: dict[str, list[str]] = {}
    for record in records:
        title = str(record.get("title", "")).strip()
        for k, q in enumerate(record.get("questions") or []):
            reason = question_drop_reason(record, q)
            if reason is None and max_per_story is not None and per_story[title] >= max_per_story:
                reason = "same-story"
            if reason is None:
                per_story[title] += 1  # their dedup runs before the two-answer checks
                options = [str(o).strip() for o in q["options"]]
                gold, other = int(q["gold_label"]) - 1, best_distractor(q)
                reason = two_answer_drop_reason(options[gold], None if other is None else options[other])
            if reason is None:
                key = str(record.get("article_id", title))
                if key not in sentences_of:
                    sentences_of[key] = article_sentences(record["article"])
                if len(sentences_of[key]) > max_sentences:
                    reason = "too-long"
            if reason is not None:
                dropped[reason] += 1
                continue
            qid = question_id(record, k, q)
            correct = correct_position(seed, qid)
            pair = (options[gold], options[other])
            kept.append(TextQuestion(
                id=f"quality:{qid}", sentences=tuple(sentences_of[key]), question=q["question"].strip(),
                options=pair if correct == 0 else pair[::-1], correct=correct,
                source=f"QuALITY v1.0.1: {title} ({record.get('author', 'unknown author')})", kind="quality",
                meta={"article_id": str(record.get("article_id", "")), "set_unique_id": record.get("set_unique_id"),
                      "gold_label": int(q["gold_label"]), "distractor_label": other + 1,
                      "title": title}))
    return kept, dict(dropped)


def quality_questions(path: str | Path | None = None, split: str = "train", seed: int = 0,
                      max_sentences: int = MAX_SENTENCES, *, max_per_story: int | None = 1,
                      allow_download: bool = True, timeout: float = DOWNLOAD_TIMEOUT_S) -> list[TextQuestion]:
    """``select_questions`` on one split (see ``load_quality`` for where it comes from); logs the
    drop counts, ``too-long`` among them."""
    questions, dropped = select_questions(load_quality(path, split, allow_download=allow_download,
                                                       timeout=timeout), seed, max_sentences,
                                           max_per_story)
    log.info("QuALITY %s: %d questions kept; dropped: %s", split, len(questions), dropped)
    return questions
