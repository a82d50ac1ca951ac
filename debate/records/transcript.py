"""One debate as a versioned, validated, JSON-able record.

This module deliberately depends only on the standard library (no jax, no
numpy) so that it imports fast and can be used from a Streamlit app.

Typical use::

    t = Transcript(task="sparse_pixel", instance_id="mnist-test:17", ...)
    write_jsonl("runs.jsonl", [t])
    ts = read_jsonl("runs.jsonl")
"""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

__all__ = [
    "SCHEMA_VERSION",
    "TranscriptError",
    "Turn",
    "Transcript",
    "write_jsonl",
    "read_jsonl",
    "iter_jsonl",
]

SCHEMA_VERSION = 1
KNOWN_SCHEMA_VERSIONS = (1,)


class TranscriptError(ValueError):
    """A transcript (or a file of transcripts) is malformed."""


def _utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_PLAIN = frozenset({int, float, str, bool, type(None)})


def _to_builtin(x: Any) -> Any:
    """Deep-copy task dicts into JSON-able builtins (numpy scalars/arrays, tuples -> lists).

    Lists of plain numbers (e.g. 784 pixels) take a fast path.
    """
    tx = type(x)
    if tx in _PLAIN:
        return x
    if tx is dict:
        return {str(k): _to_builtin(v) for k, v in x.items()}
    if tx is list or tx is tuple:
        if all(type(v) in _PLAIN for v in x):
            return list(x)
        return [_to_builtin(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _to_builtin(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_builtin(v) for v in x]
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, str):
        return str(x)
    # numpy / jax scalars and arrays, without importing them
    if hasattr(x, "tolist"):
        return _to_builtin(x.tolist())
    if hasattr(x, "item"):
        return _to_builtin(x.item())
    return x


# --------------------------------------------------------------------------- Turn


@dataclass
class Turn:
    index: int  # 0-based turn number
    player: int  # player id who moved (0, 1, ...)
    action: int  # the action id in the task's action space
    revealed: dict  # task-specific description of what was revealed
    judge_probs: list[float]  # judge's probability for each claim AFTER this turn
    judge_class_probs: list[float] | None = None  # optional full distribution over classes

    def to_dict(self) -> dict:
        return {
            "index": int(self.index),
            "player": int(self.player),
            "action": int(self.action),
            "revealed": _to_builtin(self.revealed),
            "judge_probs": [float(p) for p in self.judge_probs],
            "judge_class_probs": (
                None if self.judge_class_probs is None else [float(p) for p in self.judge_class_probs]
            ),
        }

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "turn") -> "Turn":
        if not isinstance(d, dict):
            raise TranscriptError(f"{where}: expected a JSON object, got {type(d).__name__}; fix the file")
        required = ("index", "player", "action", "revealed", "judge_probs")
        missing = [k for k in required if k not in d]
        if missing:
            raise TranscriptError(
                f"{where}: missing field(s) {', '.join(missing)}; regenerate it or fix the file"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise TranscriptError(
                f"{where}: unknown field(s) {', '.join(unknown)}; upgrade the debate package or fix the file"
            )
        return cls(
            index=d["index"],
            player=d["player"],
            action=d["action"],
            revealed=d["revealed"],
            judge_probs=list(d["judge_probs"]) if isinstance(d["judge_probs"], (list, tuple)) else d["judge_probs"],
            judge_class_probs=(
                list(d["judge_class_probs"])
                if isinstance(d.get("judge_class_probs"), (list, tuple))
                else d.get("judge_class_probs")
            ),
        )


# --------------------------------------------------------------------------- Transcript


@dataclass
class Transcript:
    task: str  # e.g. "sparse_pixel"
    instance_id: str  # e.g. "mnist-test:17"
    protocol: str  # e.g. "debate_precommit_honest_first"
    claims: list[int | None]  # claim of each player id; None = not committed
    roles: list[str]  # role of each player id ("honest" / "liar" / ...)
    debaters: list[str]  # name of the debater of each player id
    judge: str  # judge identity
    first_player: int
    turns: list[Turn]
    winner: int | None  # player id that won; None if no debate
    verdict_claim: int | None  # the claim (class id) the judge decided for
    ground_truth: int  # true class
    seeds: dict  # e.g. {"game": 123, "lie_seed": 0}
    instance: dict  # task-specific data to re-render the instance
    experiment: str | None = None
    created_at: str = ""  # ISO-8601 UTC, filled on creation if empty
    id: str = ""  # uuid4 hex, filled on creation if empty
    schema_version: int = SCHEMA_VERSION
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.created_at:
            self.created_at = _utc_now_iso()
        if not self.id:
            self.id = uuid.uuid4().hex
        # accept Turn dicts for convenience
        if isinstance(self.turns, (list, tuple)):
            self.turns = [
                Turn.from_dict(t, where=f"{self._label()}: turn {i}") if isinstance(t, dict) else t
                for i, t in enumerate(self.turns)
            ]

    # ------------------------------------------------------------------ helpers

    def _label(self) -> str:
        short = str(self.id)[:8] if self.id else "?"
        return f"transcript {short}.."

    @property
    def honest_won(self) -> bool:
        return (
            self.winner is not None
            and 0 <= self.winner < len(self.roles)
            and self.roles[self.winner] == "honest"
        )

    @property
    def winner_role(self) -> str | None:
        if self.winner is None or not (0 <= self.winner < len(self.roles)):
            return None
        return self.roles[self.winner]

    def player_of_role(self, role: str) -> int | None:
        """First player id with the given role, or None."""
        for i, r in enumerate(self.roles):
            if r == role:
                return i
        return None

    def debater_of_role(self, role: str) -> str | None:
        i = self.player_of_role(role)
        return None if i is None else self.debaters[i]

    # ------------------------------------------------------------------ validation

    def validate(self) -> "Transcript":
        """Check types and internal consistency; raise TranscriptError on the first problem.

        Returns self so it can be chained.
        """
        L = self._label()

        def err(msg: str) -> TranscriptError:
            return TranscriptError(f"{L}: {msg}")

        # schema version first: a newer file may legitimately look different
        if not _is_int(self.schema_version):
            raise err(f"schema_version must be an integer, got {self.schema_version!r}; fix the file")
        if self.schema_version > SCHEMA_VERSION:
            raise err(
                f"schema_version {self.schema_version} is newer than this package supports "
                f"(max {SCHEMA_VERSION}); upgrade the debate package to read it"
            )
        if self.schema_version not in KNOWN_SCHEMA_VERSIONS:
            raise err(
                f"schema_version {self.schema_version} is unknown (known: "
                f"{', '.join(map(str, KNOWN_SCHEMA_VERSIONS))}); regenerate it or fix the file"
            )

        for name in ("task", "instance_id", "protocol", "judge", "created_at", "id"):
            v = getattr(self, name)
            if not isinstance(v, str):
                raise err(f"{name} must be a string, got {type(v).__name__}; fix the file")
        for name in ("task", "protocol", "id"):
            if not getattr(self, name):
                raise err(f"{name} must not be empty; set it when creating the transcript")
        if self.experiment is not None and not isinstance(self.experiment, str):
            raise err(f"experiment must be a string or null, got {type(self.experiment).__name__}; fix the file")

        for name in ("claims", "roles", "debaters", "turns"):
            v = getattr(self, name)
            if not isinstance(v, list):
                raise err(f"{name} must be a list, got {type(v).__name__}; fix the file")
        for name in ("seeds", "instance", "meta"):
            v = getattr(self, name)
            if not isinstance(v, dict):
                raise err(f"{name} must be a dict, got {type(v).__name__}; fix the file")

        n = len(self.claims)
        if n == 0:
            raise err("claims is empty but a transcript needs at least one player; regenerate it")
        if not (len(self.roles) == n and len(self.debaters) == n):
            raise err(
                f"claims, roles and debaters must have the same length (one per player) but have "
                f"{len(self.claims)}, {len(self.roles)} and {len(self.debaters)}; regenerate it or fix the file"
            )
        for i, c in enumerate(self.claims):
            if c is not None and not _is_int(c):
                raise err(f"claims[{i}] must be an integer class id or null, got {c!r}; fix the file")
        for i, r in enumerate(self.roles):
            if not isinstance(r, str) or not r:
                raise err(f"roles[{i}] must be a non-empty string such as 'honest' or 'liar', got {r!r}; fix the file")
        for i, d in enumerate(self.debaters):
            if not isinstance(d, str):
                raise err(f"debaters[{i}] must be a string naming the debater, got {d!r}; fix the file")

        if not _is_int(self.first_player) or not (0 <= self.first_player < n):
            raise err(
                f"first_player is {self.first_player!r} but must be a player id in 0..{n - 1}; "
                "regenerate it or fix the file"
            )
        if self.winner is not None and (not _is_int(self.winner) or not (0 <= self.winner < n)):
            raise err(
                f"winner is {self.winner!r} but must be null or a player id in 0..{n - 1}; "
                "regenerate it or fix the file"
            )
        if self.verdict_claim is not None and not _is_int(self.verdict_claim):
            raise err(f"verdict_claim must be an integer class id or null, got {self.verdict_claim!r}; fix the file")
        if not _is_int(self.ground_truth):
            raise err(f"ground_truth must be an integer class id, got {self.ground_truth!r}; fix the file")

        for i, t in enumerate(self.turns):
            if not isinstance(t, Turn):
                raise err(f"turn {i} must be a Turn, got {type(t).__name__}; build it with Turn(...)")
            if not _is_int(t.index) or t.index != i:
                raise err(
                    f"turn {i} has index {t.index!r} but turn indices must be 0..{len(self.turns) - 1} "
                    "in order; regenerate it or fix the file"
                )
            if not _is_int(t.player) or not (0 <= t.player < n):
                raise err(
                    f"turn {i} has player {t.player!r} but player ids must be in 0..{n - 1}; "
                    "regenerate it or fix the file"
                )
            if not _is_int(t.action):
                raise err(f"turn {i} has action {t.action!r} but an action must be an integer id; fix the file")
            if not isinstance(t.revealed, dict):
                raise err(f"turn {i} revealed must be a dict, got {type(t.revealed).__name__}; fix the file")
            if not isinstance(t.judge_probs, list):
                raise err(
                    f"turn {i} judge_probs must be a list, got {type(t.judge_probs).__name__}; fix the file"
                )
            if len(t.judge_probs) != n:
                raise err(
                    f"turn {i} has {len(t.judge_probs)} judge probabilities but the transcript has "
                    f"{n} claims; regenerate it or fix the file"
                )
            for j, p in enumerate(t.judge_probs):
                if not _is_number(p) or math.isnan(p) or not (0.0 <= p <= 1.0):
                    raise err(
                        f"turn {i} judge_probs[{j}] is {p!r} but probabilities must be numbers in [0, 1]; "
                        "regenerate it or fix the file"
                    )
            if t.judge_class_probs is not None:
                if not isinstance(t.judge_class_probs, list):
                    raise err(
                        f"turn {i} judge_class_probs must be a list or null, got "
                        f"{type(t.judge_class_probs).__name__}; fix the file"
                    )
                for j, p in enumerate(t.judge_class_probs):
                    if not _is_number(p) or math.isnan(p) or not (0.0 <= p <= 1.0):
                        raise err(
                            f"turn {i} judge_class_probs[{j}] is {p!r} but probabilities must be numbers "
                            "in [0, 1]; regenerate it or fix the file"
                        )
        return self

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict:
        return {
            "schema_version": int(self.schema_version),
            "id": self.id,
            "created_at": self.created_at,
            "experiment": self.experiment,
            "task": self.task,
            "instance_id": self.instance_id,
            "protocol": self.protocol,
            "claims": [None if c is None else int(c) for c in self.claims],
            "roles": list(self.roles),
            "debaters": list(self.debaters),
            "judge": self.judge,
            "first_player": int(self.first_player),
            "turns": [t.to_dict() for t in self.turns],
            "winner": None if self.winner is None else int(self.winner),
            "verdict_claim": None if self.verdict_claim is None else int(self.verdict_claim),
            "ground_truth": int(self.ground_truth),
            "seeds": _to_builtin(self.seeds),
            "instance": _to_builtin(self.instance),
            "meta": _to_builtin(self.meta),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Transcript":
        if not isinstance(d, dict):
            raise TranscriptError(
                f"a transcript must be a JSON object, got {type(d).__name__}; fix the file"
            )
        label = f"transcript {str(d.get('id') or '?')[:8]}.."
        version = d.get("schema_version", None)
        if version is None:
            raise TranscriptError(f"{label}: schema_version is missing; regenerate it or fix the file")
        if _is_int(version) and version > SCHEMA_VERSION:
            # check before anything else: newer files may have fields we do not know
            raise TranscriptError(
                f"{label}: schema_version {version} is newer than this package supports "
                f"(max {SCHEMA_VERSION}); upgrade the debate package to read it"
            )
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(d))
        if missing:
            raise TranscriptError(
                f"{label}: missing field(s) {', '.join(missing)}; regenerate it or fix the file"
            )
        unknown = sorted(set(d) - known)
        if unknown:
            raise TranscriptError(
                f"{label}: unknown field(s) {', '.join(unknown)}; upgrade the debate package or fix the file"
            )
        turns_raw = d["turns"]
        if not isinstance(turns_raw, list):
            raise TranscriptError(f"{label}: turns must be a list, got {type(turns_raw).__name__}; fix the file")
        turns = [Turn.from_dict(t, where=f"{label}: turn {i}") for i, t in enumerate(turns_raw)]
        kwargs = {k: d[k] for k in known if k in d and k != "turns"}
        for k in ("claims", "roles", "debaters"):
            if isinstance(kwargs.get(k), tuple):
                kwargs[k] = list(kwargs[k])
        # the constructor fills a missing id / created_at, as on creation
        t = cls(turns=turns, **kwargs)
        return t.validate()

    def to_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("separators", (",", ":"))
        kwargs.setdefault("allow_nan", False)
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, s: str | bytes) -> "Transcript":
        try:
            d = json.loads(s)
        except json.JSONDecodeError as e:
            raise TranscriptError(f"transcript JSON is not valid JSON ({e}); fix the file") from None
        return cls.from_dict(d)


# --------------------------------------------------------------------------- JSONL


def write_jsonl(path: str | os.PathLike, transcripts: Iterable[Transcript], *, append: bool = False) -> int:
    """Write transcripts one JSON object per line; return how many were written.

    Each transcript is validated before writing. Without ``append`` the file is
    written to a temporary sibling and atomically renamed, so a failure never
    leaves a half-written file behind.
    """
    path = os.fspath(path)
    lines = []
    for t in transcripts:
        t.validate()
        lines.append(t.to_json())
    data = "".join(line + "\n" for line in lines)
    if append:
        with open(path, "a", encoding="utf-8") as f:
            f.write(data)
    else:
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return len(lines)


def iter_jsonl(path: str | os.PathLike) -> Iterator[Transcript]:
    """Yield transcripts from a JSONL file; blank lines are skipped.

    Errors name the file and the 1-based line number.
    """
    path = os.fspath(path)
    with open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise TranscriptError(
                    f"{path} line {lineno}: not valid JSON ({e.msg} at column {e.colno}); fix or remove that line"
                ) from None
            try:
                yield Transcript.from_dict(d)
            except TranscriptError as e:
                raise TranscriptError(f"{path} line {lineno}: {e}") from None


def read_jsonl(path: str | os.PathLike) -> list[Transcript]:
    """Read every transcript of a JSONL file (see iter_jsonl)."""
    return list(iter_jsonl(path))
