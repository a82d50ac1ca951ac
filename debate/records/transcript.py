"""One debate as a versioned, validated, JSON-able record.

This module deliberately depends only on the standard library (no jax, no
numpy) so that it imports fast and can be used from a Streamlit app.

Typical use::

    t = Transcript(task="sparse_pixel", instance_id="mnist-test:17", claims=[7, 1],
                   players=players_from_roles(["honest", "liar"], ["mcts-64", "mcts-64"]), ...)
    write_jsonl("runs.jsonl", [t])
    ts = read_jsonl("runs.jsonl")

Schema versions: 1 had ``roles`` and ``debaters`` (parallel lists by player id) and one claim per
player; 2 has ``players`` (id, team, role, debater), claims by team (claim ``c`` is argued by team
``c``) and ``winner`` a team id. Files of version 1 are migrated on reading
(``migrate_transcript_dict``); ``to_dict`` always writes the current version.
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
    "Player",
    "Transcript",
    "players_from_roles",
    "migrate_transcript_dict",
    "write_jsonl",
    "read_jsonl",
    "iter_jsonl",
    "quote",
    "task_rules",
]

SCHEMA_VERSION = 2
KNOWN_SCHEMA_VERSIONS = (1, 2)


class TranscriptError(ValueError):
    """A transcript (or a file of transcripts) is malformed."""


#: Bounds on what a transcript may hold, so that anything ``validate`` accepts can be rendered,
#: stored (the store's columns have these lengths) and written back as JSON.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # typed integers: ids, teams, classes, actions, indices
MAX_FREE_INT_BITS = 128  # integers inside free-form dicts (seeds, instance, meta, revealed)
MAX_DEPTH = 32  # nesting of lists/dicts inside a free-form field
MAX_QUOTE = 60  # characters of a bad value quoted in an error message
#: the longest string each identity field may hold (the store's column widths)
MAX_CHARS = {"id": 64, "created_at": 40, "task": 128, "protocol": 128, "instance_id": 255, "judge": 512,
             "experiment": 64, "role": 32, "debater": 512}


def quote(value: Any, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (ending in ``...`` when cut): what error
    messages show of a bad value, so that a 1 MB string gives a short message. Never raises."""
    try:
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 192:
            return f"<an integer of {value.bit_length()} bits>"
        if isinstance(value, str) and len(value) > 4 * limit:
            value = value[: 4 * limit]  # repr of the prefix only (the cut below adds the ...)
            text = repr(value)[:-1]
            return text[: limit - 3] + "..."
        if isinstance(value, (list, tuple, dict)) and _depth_exceeds(value, 8):
            return f"<a {type(value).__name__} nested more than 8 deep>"
        text = repr(value)
    except Exception:  # noqa: BLE001 (a broken __repr__, a huge structure)
        text = f"<a {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether lists/tuples/dicts in ``value`` nest more than ``limit`` deep (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, (list, tuple)):
            children = v
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))
    return False


def _bad_string(s: str) -> str | None:
    """Why ``s`` cannot be written as UTF-8 (a lone surrogate), or None."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"holds a lone surrogate {quote(s[e.start:e.end])} at position {e.start} (not valid UTF-8)"
    return None


def _free_form_problem(value: Any) -> str | None:
    """Why a free-form value (seeds, instance, meta, a turn's revealed) cannot round-trip through JSON
    exactly, or None: nesting deeper than ``MAX_DEPTH``, a non-finite float, an integer over
    ``MAX_FREE_INT_BITS`` bits, a lone surrogate, a dict key that is not a string, or a value that
    is not JSON (numpy scalars and arrays are fine: they are converted on writing)."""
    stack = [(value, 0, "")]
    while stack:
        v, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return f"nests deeper than {MAX_DEPTH} levels (at {path or 'the top'})"
        tv = type(v)
        if v is None or tv is bool or tv is str or tv is int or tv is float:
            pass
        elif isinstance(v, dict):
            for k, c in v.items():
                if not isinstance(k, str):
                    return f"has a key {quote(k)} that is not a string{' at ' + path if path else ''}"
                why = _bad_string(k)
                if why:
                    return f"has a key that {why}"
                stack.append((c, depth + 1, f"{path}.{k[:20]}" if path else k[:20]))
            continue
        elif isinstance(v, (list, tuple)):
            if set(map(type, v)) <= {int}:  # the fast path (a C loop): 784 pixels
                if v and (max(v).bit_length() > MAX_FREE_INT_BITS or min(v).bit_length() > MAX_FREE_INT_BITS):
                    return f"holds an integer of more than {MAX_FREE_INT_BITS} bits at {path or 'the top'}"
                continue
            stack.extend((c, depth + 1, f"{path}[{i}]") for i, c in enumerate(v))
            continue
        elif hasattr(v, "tolist") or hasattr(v, "item"):  # numpy / jax values: check what is written
            try:
                v = _to_builtin(v)
            except Exception:  # noqa: BLE001
                return f"holds a {tv.__name__} that cannot be converted to JSON at {path or 'the top'}"
            if hasattr(v, "tolist") or hasattr(v, "item"):
                return f"holds a {tv.__name__} that cannot be converted to JSON at {path or 'the top'}"
            stack.append((v, depth, path))
            continue
        elif isinstance(v, (int, float, str)):  # subclasses (IntEnum, ...): written as the base type
            pass
        else:
            return f"holds a {tv.__name__}, which is not JSON, at {path or 'the top'}"
        where = f" at {path}" if path else ""
        if isinstance(v, float) and not math.isfinite(v):
            return f"holds {quote(v)}{where}, which JSON cannot represent; use null or a finite number"
        if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > MAX_FREE_INT_BITS:
            return f"holds an integer of {v.bit_length()} bits{where} (at most {MAX_FREE_INT_BITS})"
        if isinstance(v, str):
            why = _bad_string(v)
            if why:
                return f"{why}{where}"
    return None


def _field_list(names: list) -> str:
    """Unknown field names for a message: sorted, each quoted short, at most five."""
    shown = sorted((k if isinstance(k, str) else repr(type(k)) for k in names), key=str)[:5]
    text = ", ".join(k if isinstance(k, str) and k.isidentifier() and len(k) <= 40 else quote(k, 30) for k in shown)
    return text + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _reject_constant(name: str) -> Any:
    raise TranscriptError(f"transcript JSON holds {name}, which is not a JSON number; write null or a finite number")


def _loads(s: str | bytes, what: str = "transcript JSON") -> Any:
    """``json.loads`` that refuses NaN/Infinity and stops deep nesting with a TranscriptError."""
    try:
        return json.loads(s, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise TranscriptError(f"{what} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                              "fix the file") from None
    except RecursionError:
        raise TranscriptError(f"{what} nests too deeply to read (more than Python's recursion limit); "
                              f"a transcript nests at most {MAX_DEPTH} levels, fix the file") from None
    except UnicodeDecodeError as e:
        raise TranscriptError(f"{what} is not UTF-8 text ({e.reason} at byte {e.start}); fix the file") from None
    except TypeError:
        raise TranscriptError(f"{what} must be a str or bytes, got {type(s).__name__}") from None


def _utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_int64(x: Any) -> bool:
    return _is_int(x) and INT64_MIN <= x <= INT64_MAX


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
        if set(map(type, x)) <= _PLAIN:  # a C loop: 784 pixels
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
        unknown = [k for k in d if k not in known]
        if unknown:
            raise TranscriptError(
                f"{where}: unknown field(s) {_field_list(unknown)}; upgrade the debate package or fix the file"
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


# --------------------------------------------------------------------------- Player


@dataclass
class Player:
    """One seat in a debate: player ``id`` (0..N-1) moves for ``team``, which argues claim ``team``."""

    id: int  # player id, the index in Transcript.players
    team: int  # team id = the index of the claim this player argues
    role: str  # "honest" / "liar" / ...; teammates share a role
    debater: str  # name of the debater that played this seat

    def to_dict(self) -> dict:
        return {"id": int(self.id), "team": int(self.team), "role": self.role, "debater": self.debater}

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "player") -> "Player":
        if isinstance(d, Player):
            return d
        if not isinstance(d, dict):
            raise TranscriptError(f"{where}: expected a JSON object, got {type(d).__name__}; fix the file")
        names = [f.name for f in fields(cls)]
        missing = [k for k in names if k not in d]
        if missing:
            raise TranscriptError(f"{where}: missing field(s) {', '.join(missing)}; regenerate it or fix the file")
        unknown = [k for k in d if k not in names]
        if unknown:
            raise TranscriptError(
                f"{where}: unknown field(s) {_field_list(unknown)}; upgrade the debate package or fix the file"
            )
        return cls(id=d["id"], team=d["team"], role=d["role"], debater=d["debater"])


def players_from_roles(roles: Iterable[str], debaters: Iterable[str], teams: Iterable[int] | None = None) -> list[Player]:
    """Players ``0..N-1`` from parallel lists (by player id); ``teams`` defaults to team = player id,
    the honest/liar game (player 0 argues claim 0, player 1 claim 1)."""
    roles, debaters = list(roles), list(debaters)
    teams = list(range(len(roles))) if teams is None else list(teams)
    if not len(roles) == len(debaters) == len(teams):
        raise TranscriptError(
            f"roles, debaters and teams must have the same length (one per player) but have {len(roles)}, "
            f"{len(debaters)} and {len(teams)}; pass one of each per player"
        )
    return [Player(id=i, team=k, role=r, debater=d) for i, (k, r, d) in enumerate(zip(teams, roles, debaters))]


# --------------------------------------------------------------------------- migration


def _short_id(v: Any) -> str:
    """The first 8 characters of an id for a label ("?" for none or a non-string), printable."""
    if not isinstance(v, str) or not v:
        return "?"
    return v[:8].encode("utf-8", "backslashreplace").decode("utf-8").replace("\n", " ")


def _label_of(d: dict) -> str:
    return f"transcript {_short_id(d.get('id'))}.."


def _migrate_1_to_2(d: dict, label: str) -> dict:
    """Schema 1 -> 2: the parallel ``roles``/``debaters`` lists (one per player id, claims one per
    player too) become ``players`` with team = player id; ``winner`` (a player id) is then the same
    number as a team id."""
    missing = [k for k in ("debaters", "roles") if k not in d]
    if missing:
        raise TranscriptError(f"{label}: missing field(s) {', '.join(missing)}; regenerate it or fix the file")
    if "players" in d:
        raise TranscriptError(
            f"{label}: schema_version 1 has no field players (it lists roles and debaters); set "
            "schema_version to 2 or remove players"
        )
    for name in ("claims", "roles", "debaters"):
        if name in d and not isinstance(d[name], (list, tuple)):
            raise TranscriptError(f"{label}: {name} must be a list, got {type(d[name]).__name__}; fix the file")
    roles, debaters = list(d["roles"]), list(d["debaters"])
    claims = list(d["claims"]) if "claims" in d else roles
    if not len(claims) == len(roles) == len(debaters):
        raise TranscriptError(
            f"{label}: claims, roles and debaters must have the same length (one per player) but have "
            f"{len(claims)}, {len(roles)} and {len(debaters)}; regenerate it or fix the file"
        )
    for i, r in enumerate(roles):
        if not isinstance(r, str) or not r:
            raise TranscriptError(
                f"{label}: roles[{i}] must be a non-empty string such as 'honest' or 'liar', got {quote(r)}; fix the file"
            )
    for i, name in enumerate(debaters):
        if not isinstance(name, str):
            raise TranscriptError(f"{label}: debaters[{i}] must be a string naming the debater, got {quote(name)}; fix the file")
    players = [{"id": i, "team": i, "role": r, "debater": n} for i, (r, n) in enumerate(zip(roles, debaters))]
    out: dict = {}
    for k, v in d.items():  # keep the key order of the file, players where roles was
        if k == "roles":
            out["players"] = players
        elif k == "debaters":
            continue
        elif k == "schema_version":
            out[k] = 2
        else:
            out[k] = v
    return out


_MIGRATIONS = {1: _migrate_1_to_2}


def migrate_transcript_dict(d: dict) -> dict:
    """A transcript dict of any known schema version as a dict of the current one (``SCHEMA_VERSION``).

    Pure: ``d`` is not changed (the result may share unchanged nested values with it). Only the
    layout is migrated; ``Transcript.from_dict`` validates the result. A dict that is already
    current comes back as a shallow copy; a missing, unknown or newer version is refused with a
    ``TranscriptError``.
    """
    if not isinstance(d, dict):
        raise TranscriptError(f"a transcript must be a JSON object, got {type(d).__name__}; fix the file")
    label = _label_of(d)
    version = d.get("schema_version", None)
    if version is None:
        raise TranscriptError(f"{label}: schema_version is missing; regenerate it or fix the file")
    if not _is_int(version):
        raise TranscriptError(f"{label}: schema_version must be an integer, got {quote(version)}; fix the file")
    if version > SCHEMA_VERSION:
        raise TranscriptError(
            f"{label}: schema_version {quote(version)} is newer than this package supports "
            f"(max {SCHEMA_VERSION}); upgrade the debate package to read it"
        )
    if version not in KNOWN_SCHEMA_VERSIONS:
        raise TranscriptError(
            f"{label}: schema_version {quote(version)} is unknown (known: "
            f"{', '.join(map(str, KNOWN_SCHEMA_VERSIONS))}); regenerate it or fix the file"
        )
    out = dict(d)
    while out["schema_version"] < SCHEMA_VERSION:
        out = _MIGRATIONS[out["schema_version"]](out, label)
    return out


# --------------------------------------------------------------------------- task rules

_RULES: dict[str, Any] = {}  # task name -> its check_transcript (or None), once looked up


def task_rules(task: str):
    """The rule check of a task: a function ``check_transcript(transcript)`` that raises
    ``TranscriptError`` naming the first turn (or field) that breaks the task's rules, or None when
    the task has none (or is not registered). A task package provides it as ``check_transcript`` in
    its ``__init__`` or in its ``records`` module (light: standard library and numpy, no jax), so
    this module never names a task; a task registered as one plain module defines it there."""
    if not isinstance(task, str):
        return None
    if task in _RULES:
        return _RULES[task]
    import importlib

    from debate import tasks  # the registry imports nothing heavy; the task package may use numpy

    if task not in tasks.names():
        return None  # not cached: the task may be registered later
    checker = None
    if True:
        package = tasks.get(task)
        checker = getattr(package, "check_transcript", None)
        if checker is None and hasattr(package, "__path__"):
            try:
                records = importlib.import_module(f"{package.__name__}.records")
            except ModuleNotFoundError as e:
                if e.name != f"{package.__name__}.records":
                    raise
                records = None
            checker = getattr(records, "check_transcript", None)
    _RULES[task] = checker if callable(checker) else None
    return _RULES[task]


def forget_task_rules(task: str | None = None) -> None:
    """Drop the cached rule check of ``task`` (all when None): after ``debate.tasks.register``."""
    if task is None:
        _RULES.clear()
    else:
        _RULES.pop(task, None)


# --------------------------------------------------------------------------- Transcript


def _text_problem(label: str, field: str, value: str) -> str | None:
    """Why a text field cannot be stored (a bad character, or longer than its column), or None."""
    why = _bad_string(value)
    if why:
        return f"{label} {why}; fix the file"
    if len(value) > MAX_CHARS[field]:
        return (f"{label} is {len(value)} characters long ({quote(value, 30)}) but may have at most "
                f"{MAX_CHARS[field]}; shorten it")
    return None


@dataclass(init=False)
class Transcript:
    """One debate. Players ``0..N-1`` each belong to a team; claim ``c`` is argued by team ``c``
    (the honest/liar game: players 0 and 1 on teams 0 and 1, claims ``[truth, lie]``).

    Build it with ``players=[Player(...), ...]`` (or dicts), or with ``roles=`` and ``debaters=``
    (lists by player id, team = player id) as before schema 2. ``roles``, ``debaters`` and
    ``teams`` are read-only lists by player id.
    """

    task: str  # e.g. "sparse_pixel"
    instance_id: str  # e.g. "mnist-test:17"
    protocol: str  # e.g. "debate_precommit_honest_first"
    claims: list[int | None]  # claim of each team (claim c is argued by team c); None = not committed
    players: list[Player]  # players by id: team, role and debater of each
    judge: str  # judge identity
    first_player: int  # player id of the first mover
    turns: list[Turn]
    winner: int | None  # team id that won; None if no debate
    verdict_claim: int | None  # the claim (class id) the judge decided for
    ground_truth: int  # true class
    seeds: dict  # e.g. {"game": 123, "lie_seed": 0}
    instance: dict  # task-specific data to re-render the instance
    experiment: str | None = None
    created_at: str = ""  # ISO-8601 UTC, filled on creation if empty (or missing from a file)
    id: str = ""  # uuid4 hex, assigned on creation when not given (None) or missing from a file; never replaced
    schema_version: int = SCHEMA_VERSION
    meta: dict = field(default_factory=dict)

    def __init__(
        self,
        *,
        task: str,
        instance_id: str,
        protocol: str,
        claims: list[int | None],
        judge: str,
        first_player: int,
        turns: list,
        winner: int | None,
        verdict_claim: int | None,
        ground_truth: int,
        seeds: dict,
        instance: dict,
        players: list | None = None,
        roles: list[str] | None = None,
        debaters: list[str] | None = None,
        experiment: str | None = None,
        created_at: str = "",
        id: str | None = None,
        schema_version: int = SCHEMA_VERSION,
        meta: dict = MISSING,  # type: ignore[assignment]
    ) -> None:
        self.task, self.instance_id, self.protocol = task, instance_id, protocol
        self.claims = list(claims) if isinstance(claims, tuple) else claims
        self.judge, self.first_player = judge, first_player
        self.winner, self.verdict_claim, self.ground_truth = winner, verdict_claim, ground_truth
        self.seeds, self.instance, self.experiment = seeds, instance, experiment
        self.created_at = created_at or _utc_now_iso()
        # a fresh id only when none is given: an id of "" or 0 is kept, and validate() refuses it
        self.id = uuid.uuid4().hex if id is None else id
        self.schema_version = schema_version
        self.meta = {} if meta is MISSING else meta
        if players is None:
            if roles is None or debaters is None:
                raise TypeError("Transcript() needs players= (or roles= and debaters=, one per player id)")
            players = players_from_roles(roles, debaters)
        elif roles is not None or debaters is not None:
            raise TypeError("Transcript() takes players= or roles= and debaters=, not both")
        if isinstance(players, (list, tuple)):
            players = [Player.from_dict(p, where=f"{self._label()}: players[{i}]") for i, p in enumerate(players)]
        self.players = players
        # accept Turn dicts for convenience
        if isinstance(turns, (list, tuple)):
            turns = [
                Turn.from_dict(t, where=f"{self._label()}: turn {i}") if isinstance(t, dict) else t
                for i, t in enumerate(turns)
            ]
        self.turns = turns

    # ------------------------------------------------------------------ helpers

    def _label(self) -> str:
        return f"transcript {_short_id(self.id)}.."

    @property
    def roles(self) -> list[str]:
        """The role of each player id (read-only; a new list each time)."""
        return [p.role for p in self.players]

    @property
    def debaters(self) -> list[str]:
        """The debater name of each player id (read-only; a new list each time)."""
        return [p.debater for p in self.players]

    @property
    def teams(self) -> list[int]:
        """The team of each player id (read-only; a new list each time)."""
        return [p.team for p in self.players]

    def players_of_team(self, team: int) -> list[int]:
        """The player ids of a team, in order."""
        return [p.id for p in self.players if p.team == team]

    def role_of_team(self, team: int | None) -> str | None:
        """The role of a team's players (teammates share one), or None for no such team."""
        for p in self.players:
            if p.team == team:
                return p.role
        return None

    def claim_of(self, player: int) -> int | None:
        """The claim a player argues (its team's), or None (not committed, or no such player)."""
        if not (0 <= player < len(self.players)):
            return None
        team = self.players[player].team
        return self.claims[team] if 0 <= team < len(self.claims) else None

    @property
    def honest_won(self) -> bool:
        return self.winner_role == "honest"

    @property
    def winner_role(self) -> str | None:
        """The role of the winning team, or None (no winner)."""
        return None if self.winner is None else self.role_of_team(self.winner)

    def player_of_role(self, role: str) -> int | None:
        """First player id with the given role, or None."""
        for p in self.players:
            if p.role == role:
                return p.id
        return None

    def debater_of_role(self, role: str) -> str | None:
        i = self.player_of_role(role)
        return None if i is None else self.players[i].debater

    # ------------------------------------------------------------------ validation

    def validate(self, *, rules: bool = True) -> "Transcript":
        """Check types, bounds and internal consistency, then (with ``rules``) the rules of the
        transcript's task; raise TranscriptError on the first problem. Returns self so it can be chained.

        Types and bounds: ids, teams, classes and actions are 64-bit integers; strings are valid
        UTF-8 and no longer than the store's columns (``MAX_CHARS``); free-form dicts (seeds,
        instance, meta, revealed) nest at most ``MAX_DEPTH`` deep and hold only finite numbers,
        strings, lists and string-keyed dicts. Task rules: the task package's
        ``check_transcript(transcript)`` (found through the task registry, see ``task_rules``)
        replays the turns without jax and names the first turn that breaks them; a task without
        one gets the type checks only. The rules are on by default: everything that enters (a new
        transcript, a JSONL file, ``from_dict``/``from_json``, the store's writes) is checked.
        ``rules=False`` is for reading what a database already holds (rows that may predate the
        rules): what passes the type checks can be stored and written back; what passes with the
        rules can also be rendered and replayed.
        """
        L = self._label()

        def err(msg: str) -> TranscriptError:
            return TranscriptError(f"{L}: {msg}")

        # schema version first: a newer file may legitimately look different
        if not _is_int(self.schema_version):
            raise err(f"schema_version must be an integer, got {quote(self.schema_version)}; fix the file")
        if self.schema_version > SCHEMA_VERSION:
            raise err(
                f"schema_version {quote(self.schema_version)} is newer than this package supports "
                f"(max {SCHEMA_VERSION}); upgrade the debate package to read it"
            )
        if self.schema_version in KNOWN_SCHEMA_VERSIONS and self.schema_version != SCHEMA_VERSION:
            raise err(
                f"schema_version {self.schema_version} is an old file format that Transcript.from_dict migrates "
                f"on reading; build transcripts with schema_version {SCHEMA_VERSION}"
            )
        if self.schema_version not in KNOWN_SCHEMA_VERSIONS:
            raise err(
                f"schema_version {quote(self.schema_version)} is unknown (known: "
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
        for name in ("task", "instance_id", "protocol", "judge", "created_at", "id", "experiment"):
            v = getattr(self, name)
            if v is None:
                continue
            problem = _text_problem(name, name, v)
            if problem:
                raise err(problem)

        for name in ("claims", "players", "turns"):
            v = getattr(self, name)
            if not isinstance(v, list):
                raise err(f"{name} must be a list, got {type(v).__name__}; fix the file")
        for name in ("seeds", "instance", "meta"):
            v = getattr(self, name)
            if not isinstance(v, dict):
                raise err(f"{name} must be a dict, got {type(v).__name__}; fix the file")
            why = _free_form_problem(v)
            if why:
                raise err(f"{name} {why}; fix the file")

        n_claims = len(self.claims)
        if n_claims == 0:
            raise err("claims is empty but a transcript needs at least one claim (one per team); regenerate it")
        for i, c in enumerate(self.claims):
            if c is not None and not _is_int64(c):
                raise err(f"claims[{i}] must be an integer class id (64-bit) or null, got {quote(c)}; fix the file")

        n = len(self.players)
        if n == 0:
            raise err("players is empty but a transcript needs at least one player; regenerate it")
        team_roles: dict[int, tuple[int, str]] = {}
        for i, p in enumerate(self.players):
            if not isinstance(p, Player):
                raise err(f"players[{i}] must be a Player, got {type(p).__name__}; build it with Player(...)")
            if not _is_int(p.id) or p.id != i:
                raise err(
                    f"players[{i}] has id {quote(p.id)} but player ids must be 0..{n - 1} in order; "
                    "regenerate it or fix the file"
                )
            if not _is_int(p.team) or not (0 <= p.team < n_claims):
                raise err(
                    f"player {i} has team {quote(p.team)} but teams must be in 0..{n_claims - 1} (team c argues "
                    f"claims[c] and there are {n_claims} claims); regenerate it or fix the file"
                )
            if not isinstance(p.role, str) or not p.role:
                raise err(
                    f"player {i} role must be a non-empty string such as 'honest' or 'liar', got {quote(p.role)}; fix the file"
                )
            if not isinstance(p.debater, str):
                raise err(f"player {i} debater must be a string naming the debater, got {quote(p.debater)}; fix the file")
            for name in ("role", "debater"):
                problem = _text_problem(f"player {i} {name}", name, getattr(p, name))
                if problem:
                    raise err(problem)
            first, role = team_roles.setdefault(p.team, (i, p.role))
            if role != p.role:
                raise err(
                    f"players {first} and {i} are both on team {p.team} but have roles {quote(role)} and {quote(p.role)}; "
                    "teammates share one role, so fix the roles or the teams"
                )

        if not _is_int(self.first_player) or not (0 <= self.first_player < n):
            raise err(
                f"first_player is {quote(self.first_player)} but must be a player id in 0..{n - 1}; "
                "regenerate it or fix the file"
            )
        if self.winner is not None and (not _is_int(self.winner) or not (0 <= self.winner < n_claims)):
            raise err(
                f"winner is {quote(self.winner)} but must be null or a team id in 0..{n_claims - 1}; "
                "regenerate it or fix the file"
            )
        if self.verdict_claim is not None and not _is_int64(self.verdict_claim):
            raise err(f"verdict_claim must be an integer class id (64-bit) or null, got {quote(self.verdict_claim)}; "
                      "fix the file")
        if not _is_int64(self.ground_truth):
            raise err(f"ground_truth must be an integer class id (64-bit), got {quote(self.ground_truth)}; fix the file")

        for i, t in enumerate(self.turns):
            if not isinstance(t, Turn):
                raise err(f"turn {i} must be a Turn, got {type(t).__name__}; build it with Turn(...)")
            if not _is_int(t.index) or t.index != i:
                raise err(
                    f"turn {i} has index {quote(t.index)} but turn indices must be 0..{len(self.turns) - 1} "
                    "in order; regenerate it or fix the file"
                )
            if not _is_int(t.player) or not (0 <= t.player < n):
                raise err(
                    f"turn {i} has player {quote(t.player)} but player ids must be in 0..{n - 1}; "
                    "regenerate it or fix the file"
                )
            if not _is_int64(t.action):
                raise err(f"turn {i} has action {quote(t.action)} but an action must be an integer id (64-bit); "
                          "fix the file")
            if not isinstance(t.revealed, dict):
                raise err(f"turn {i} revealed must be a dict, got {type(t.revealed).__name__}; fix the file")
            why = _free_form_problem(t.revealed)
            if why:
                raise err(f"turn {i} revealed {why}; fix the file")
            if not isinstance(t.judge_probs, list):
                raise err(
                    f"turn {i} judge_probs must be a list, got {type(t.judge_probs).__name__}; fix the file"
                )
            if len(t.judge_probs) != n_claims:
                raise err(
                    f"turn {i} has {len(t.judge_probs)} judge probabilities but the transcript has "
                    f"{n_claims} claims; regenerate it or fix the file"
                )
            for j, p in enumerate(t.judge_probs):
                if not _is_number(p) or (isinstance(p, float) and math.isnan(p)) or not (0.0 <= p <= 1.0):
                    raise err(
                        f"turn {i} judge_probs[{j}] is {quote(p)} but probabilities must be numbers in [0, 1]; "
                        "regenerate it or fix the file"
                    )
            if t.judge_class_probs is not None:
                if not isinstance(t.judge_class_probs, list):
                    raise err(
                        f"turn {i} judge_class_probs must be a list or null, got "
                        f"{type(t.judge_class_probs).__name__}; fix the file"
                    )
                for j, p in enumerate(t.judge_class_probs):
                    if not _is_number(p) or (isinstance(p, float) and math.isnan(p)) or not (0.0 <= p <= 1.0):
                        raise err(
                            f"turn {i} judge_class_probs[{j}] is {quote(p)} but probabilities must be numbers "
                            "in [0, 1]; regenerate it or fix the file"
                        )
        if rules:
            checker = task_rules(self.task)
            if checker is not None:
                try:
                    checker(self)
                except TranscriptError as e:
                    raise err(f"{e}") from None
                except (ValueError, TypeError, KeyError, IndexError, OverflowError, ArithmeticError) as e:
                    raise err(f"breaks the rules of task {quote(self.task)} ({type(e).__name__}: "
                              f"{quote(str(e), 120)}); regenerate it") from None
        return self

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict:
        """The transcript as a JSON-able dict of the current schema (``SCHEMA_VERSION``)."""
        return {
            "schema_version": int(self.schema_version),
            "id": self.id,
            "created_at": self.created_at,
            "experiment": self.experiment,
            "task": self.task,
            "instance_id": self.instance_id,
            "protocol": self.protocol,
            "claims": [None if c is None else int(c) for c in self.claims],
            "players": [p.to_dict() for p in self.players],
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
    def from_dict(cls, d: dict, *, rules: bool = True) -> "Transcript":
        """Read (and validate) a transcript dict; older schema versions are migrated first
        (see ``migrate_transcript_dict``), so the result is always of the current schema.
        ``rules=False`` checks the types only (``validate``): for rows already stored."""
        d = migrate_transcript_dict(d)  # checks the schema version before anything else
        label = _label_of(d)
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(d))
        if missing:
            raise TranscriptError(
                f"{label}: missing field(s) {', '.join(missing)}; regenerate it or fix the file"
            )
        unknown = [k for k in d if k not in known]
        if unknown:
            raise TranscriptError(
                f"{label}: unknown field(s) {_field_list(unknown)}; upgrade the debate package or fix the file"
            )
        turns_raw = d["turns"]
        if not isinstance(turns_raw, list):
            raise TranscriptError(f"{label}: turns must be a list, got {type(turns_raw).__name__}; fix the file")
        turns = [Turn.from_dict(t, where=f"{label}: turn {i}") for i, t in enumerate(turns_raw)]
        players_raw = d["players"]
        if not isinstance(players_raw, list):
            raise TranscriptError(f"{label}: players must be a list, got {type(players_raw).__name__}; fix the file")
        players = [Player.from_dict(p, where=f"{label}: players[{i}]") for i, p in enumerate(players_raw)]
        if "id" in d and (not isinstance(d["id"], str) or not d["id"]):
            raise TranscriptError(
                f"{label}: id must be a non-empty string, got {quote(d['id'])}; remove the field to have one "
                "assigned or set a unique string id"
            )
        if "created_at" in d and (not isinstance(d["created_at"], str) or not d["created_at"]):
            raise TranscriptError(
                f"{label}: created_at must be a non-empty ISO-8601 string, got {quote(d['created_at'])}; remove "
                "the field to have the time of reading filled in or set it"
            )
        kwargs = {k: d[k] for k in known if k in d and k not in ("turns", "players")}
        if isinstance(kwargs.get("claims"), tuple):
            kwargs["claims"] = list(kwargs["claims"])
        # the constructor fills a missing id / created_at, as on creation
        t = cls(turns=turns, players=players, **kwargs)
        return t.validate(rules=rules)

    def to_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("separators", (",", ":"))
        kwargs.setdefault("allow_nan", False)
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, s: str | bytes, *, rules: bool = True) -> "Transcript":
        """Read (and validate) one transcript from JSON text; NaN/Infinity, invalid UTF-8 and too
        deep nesting are refused with a TranscriptError."""
        return cls.from_dict(_loads(s), rules=rules)


# --------------------------------------------------------------------------- JSONL


def write_jsonl(path: str | os.PathLike, transcripts: Iterable[Transcript], *, append: bool = False,
                rules: bool = True) -> int:
    """Write transcripts one JSON object per line; return how many were written.

    Each transcript is validated (types and its task's rules; ``rules=False``: types only, for a
    dump of rows a database already holds) before writing. Without ``append`` the file is
    written to a temporary sibling and atomically renamed, so a failure never
    leaves a half-written file behind.
    """
    path = os.fspath(path)
    lines = []
    for t in transcripts:
        t.validate(rules=rules)
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


def iter_jsonl(path: str | os.PathLike, *, rules: bool = True) -> Iterator[Transcript]:
    """Yield transcripts from a JSONL file; blank lines are skipped. Each is validated with its
    task's rules (a file is data entering the system), so a debate that breaks them is refused;
    ``rules=False`` checks the types only (a store's own export of rows that predate the rules).

    Errors name the file and the 1-based line number.
    """
    path = os.fspath(path)
    with open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line, parse_constant=_reject_constant)
            except json.JSONDecodeError as e:
                raise TranscriptError(
                    f"{path} line {lineno}: not valid JSON ({e.msg} at column {e.colno}); fix or remove that line"
                ) from None
            except RecursionError:
                raise TranscriptError(
                    f"{path} line {lineno}: nests too deeply to read (a transcript nests at most {MAX_DEPTH} "
                    "levels); fix or remove that line"
                ) from None
            except TranscriptError as e:
                raise TranscriptError(f"{path} line {lineno}: {e}") from None
            try:
                yield Transcript.from_dict(d, rules=rules)
            except TranscriptError as e:
                raise TranscriptError(f"{path} line {lineno}: {e}") from None


def read_jsonl(path: str | os.PathLike, *, rules: bool = True) -> list[Transcript]:
    """Read every transcript of a JSONL file (see iter_jsonl)."""
    return list(iter_jsonl(path, rules=rules))
