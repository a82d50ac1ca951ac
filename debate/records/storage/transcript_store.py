"""Experiments and debate transcripts: storing, reading and querying them.

A transcript is one ``transcripts`` row (the columns that queries filter on, and the whole
transcript as JSON in ``body_json``) plus one ``transcript_players`` row per player (team, role,
debater), written in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterable, Iterator

import sqlalchemy as sa

from debate.records.storage.engine import StorageError, _chunks
from debate.records.storage.schema import experiments, player_rows, transcript_players, transcripts
from debate.records.transcript import Transcript, TranscriptError, _utc_now_iso

#: The filters of query_transcripts / iter_transcripts / count_transcripts / export_jsonl
#: (``debater`` matches a debate any of whose players that debater played).
TRANSCRIPT_FILTERS = ("experiment_id", "task", "protocol", "winner_role", "debater")
_FILTERS = TRANSCRIPT_FILTERS


def _transcript_rows(t: Transcript, experiment_id: str | None) -> tuple[dict, list[dict]]:
    """The transcripts row and the transcript_players rows of one transcript."""
    body = t.to_dict()
    body["experiment"] = experiment_id
    row = {
        "id": t.id,
        "experiment_id": experiment_id,
        "task": t.task,
        "protocol": t.protocol,
        "instance_id": t.instance_id,
        "judge": t.judge,
        "winner_role": t.winner_role,
        "ground_truth": int(t.ground_truth),
        "created_at": t.created_at,
        "body_json": json.dumps(body, separators=(",", ":"), allow_nan=False),
        "num_turns": len(t.turns),
    }
    return row, player_rows(t.id, body["players"])


def stored_transcript(transcript_id: str, body: str) -> Transcript:
    """The transcript of one stored row, type-checked only (a database written before the task rules
    stays readable); a row that cannot be read is named, so one bad row can be found and removed."""
    try:
        return Transcript.from_json(body, rules=False)
    except TranscriptError as e:
        raise StorageError(
            f"stored transcript {transcript_id!r} cannot be read ({e}); leave it out with a filter (for example "
            f"--experiment) or delete that row, then retry"
        ) from None


class TranscriptsMixin:
    """Experiments and transcripts (the part of ``Store`` every experiment uses)."""

    # ------------------------------------------------------------------ experiments

    def create_experiment(self, name: str, kind: str, config: dict | None = None, *,
                          transcripts: Iterable[Transcript] = (), experiment_id: str | None = None) -> str:
        """Create an experiment and return its id (``experiment_id``, or a new uuid4 hex).

        ``transcripts`` are stored under it in the same transaction, so a run that writes its
        debates only when it has finished never leaves a half-made experiment behind."""
        if not isinstance(name, str) or not name:
            raise StorageError("experiment name must be a non-empty string; pass a name")
        if not isinstance(kind, str) or not kind:
            raise StorageError("experiment kind must be a non-empty string; pass a kind such as 'debate'")
        try:
            config_json = json.dumps(config or {}, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise StorageError(f"experiment config is not JSON-serialisable ({e}); pass plain dicts/lists/numbers") from None
        eid = uuid.uuid4().hex if experiment_id is None else self._check_id(experiment_id, "experiment_id")
        rows, players = self._rows_of(transcripts, eid, skip_existing=False)
        with self._write("create an experiment") as conn:
            if conn.execute(sa.select(experiments.c.id).where(experiments.c.id == eid)).first() is not None:
                raise StorageError(f"experiment {eid!r} is already stored; pass another experiment_id")
            conn.execute(
                experiments.insert().values(
                    id=eid, name=name, kind=kind, config_json=config_json, created_at=_utc_now_iso()
                )
            )
            self._insert_rows(conn, rows, players, skip_existing=False)
        return eid

    @staticmethod
    def _experiment_dict(r: Any) -> dict:
        return {
            "id": r.id,
            "name": r.name,
            "kind": r.kind,
            "config": json.loads(r.config_json),
            "created_at": r.created_at,
        }

    def list_experiments(self) -> list[dict]:
        """All experiments, oldest first, as dicts with id, name, kind, config, created_at."""
        with self._read("list experiments") as conn:
            rows = conn.execute(
                sa.select(experiments).order_by(experiments.c.created_at, experiments.c.id)
            ).all()
        return [self._experiment_dict(r) for r in rows]

    def get_experiment(self, experiment_id: str) -> dict | None:
        with self._read("read an experiment") as conn:
            r = conn.execute(sa.select(experiments).where(experiments.c.id == experiment_id)).first()
        return None if r is None else self._experiment_dict(r)

    # ------------------------------------------------------------------ transcripts

    def add_transcripts(
        self,
        transcripts_: Iterable[Transcript],
        experiment_id: str | None = None,
        *,
        skip_existing: bool = False,
    ) -> int:
        """Insert transcripts in one transaction; return how many rows were inserted.

        ``experiment_id`` (if given) files every transcript under that experiment
        and is recorded as the stored transcript's ``experiment``; otherwise each
        transcript's own ``experiment`` field is used (``None`` = no experiment).
        Each experiment must exist. A transcript id that is already stored is an
        error unless ``skip_existing``. On any error nothing is written.
        """
        rows, players = self._rows_of(transcripts_, experiment_id, skip_existing)
        if not rows:
            return 0
        with self._write("add transcripts") as conn:
            return self._insert_rows(conn, rows, players, skip_existing)

    @staticmethod
    def _rows_of(transcripts_: Iterable[Transcript], experiment_id: str | None,
                 skip_existing: bool) -> tuple[list[dict], list[dict]]:
        """The checked rows of the transcripts (outside any transaction)."""
        rows, players = [], []
        seen: set[str] = set()
        for t in transcripts_:
            if not isinstance(t, Transcript):
                raise StorageError(f"add_transcripts expects Transcript objects, got {type(t).__name__}; build them with Transcript(...)")
            t.validate()  # types and the task's rules: a debate that breaks them is never stored
            if t.id in seen:
                if skip_existing:
                    continue
                raise StorageError(f"transcript id {t.id} appears twice in this batch; give each transcript its own id")
            seen.add(t.id)
            row, ps = _transcript_rows(t, experiment_id if experiment_id is not None else t.experiment)
            rows.append(row)
            players += ps
        return rows, players

    @staticmethod
    def _insert_rows(conn, rows: list[dict], players: list[dict], skip_existing: bool) -> int:
        if not rows:
            return 0
        exp_ids = sorted({r["experiment_id"] for r in rows if r["experiment_id"] is not None})
        if exp_ids:
            found = set(
                conn.execute(sa.select(experiments.c.id).where(experiments.c.id.in_(exp_ids))).scalars()
            )
            missing = [e for e in exp_ids if e not in found]
            if missing:
                raise StorageError(
                    f"experiment {missing[0]!r} does not exist in this database; create it with "
                    "create_experiment() and pass its id as experiment_id"
                )
        ids = [r["id"] for r in rows]
        existing: set[str] = set()
        for chunk in _chunks(ids):
            existing.update(
                conn.execute(sa.select(transcripts.c.id).where(transcripts.c.id.in_(chunk))).scalars()
            )
        if existing:
            if not skip_existing:
                raise StorageError(
                    f"transcript id {sorted(existing)[0]} is already stored ({len(existing)} of this batch are); "
                    "pass skip_existing=True to ignore them or give the transcripts new ids"
                )
            rows = [r for r in rows if r["id"] not in existing]
            players = [p for p in players if p["transcript_id"] not in existing]
        if rows:
            conn.execute(transcripts.insert(), rows)
        if players:
            conn.execute(transcript_players.insert(), players)
        return len(rows)

    def add_transcript(self, transcript: Transcript, experiment_id: str | None = None) -> str:
        """Insert one transcript; return its id."""
        self.add_transcripts([transcript], experiment_id=experiment_id)
        return transcript.id

    def get_transcript(self, transcript_id: str) -> Transcript | None:
        """The transcript with this id, or None."""
        with self._read("read a transcript") as conn:
            body = conn.execute(
                sa.select(transcripts.c.body_json).where(transcripts.c.id == transcript_id)
            ).scalar_one_or_none()
        return None if body is None else stored_transcript(transcript_id, body)

    @staticmethod
    def _where(stmt: Any, filters: dict) -> Any:
        unknown = sorted(set(filters) - set(_FILTERS))
        if unknown:
            raise StorageError(
                f"unknown transcript filter(s) {', '.join(unknown)}; use {', '.join(_FILTERS)}"
            )
        for k, v in filters.items():
            if v is None:
                continue
            if k == "debater":  # through transcript_players (indexed on debater)
                played = sa.select(transcript_players.c.transcript_id).where(transcript_players.c.debater == v)
                stmt = stmt.where(transcripts.c.id.in_(played))
            else:
                stmt = stmt.where(transcripts.c[k] == v)
        return stmt

    def query_transcripts(
        self,
        experiment_id: str | None = None,
        task: str | None = None,
        protocol: str | None = None,
        winner_role: str | None = None,
        limit: int | None = None,
        *,
        debater: str | None = None,
    ) -> list[Transcript]:
        """Transcripts matching all given filters (None = any), oldest first.

        ``debater`` keeps the debates that debater played in (on any side)."""
        return list(
            self.iter_transcripts(
                experiment_id=experiment_id, task=task, protocol=protocol, winner_role=winner_role, limit=limit,
                debater=debater,
            )
        )

    def iter_transcripts(self, limit: int | None = None, **filters: Any) -> Iterator[Transcript]:
        """Like query_transcripts, but reads rows lazily (keeps a connection until exhausted)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise StorageError(f"limit must be a non-negative integer or None, got {limit!r}; fix the call")
        stmt = self._where(sa.select(transcripts.c.id, transcripts.c.body_json), filters).order_by(
            transcripts.c.created_at, transcripts.c.id
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read("query transcripts") as conn:
            for transcript_id, body in conn.execute(stmt):
                yield stored_transcript(transcript_id, body)

    def count_transcripts(
        self,
        experiment_id: str | None = None,
        task: str | None = None,
        protocol: str | None = None,
        winner_role: str | None = None,
        *,
        debater: str | None = None,
    ) -> int:
        stmt = self._where(
            sa.select(sa.func.count()).select_from(transcripts),
            {"experiment_id": experiment_id, "task": task, "protocol": protocol, "winner_role": winner_role,
             "debater": debater},
        )
        with self._read("count transcripts") as conn:
            return int(conn.execute(stmt).scalar_one())

    def players_of(self, transcript_ids: Iterable[str]) -> dict[str, list[dict]]:
        """The players of each stored transcript among ``transcript_ids`` (from transcript_players,
        without reading bodies): ``{id: [{"id", "team", "role", "debater"}, ...]}`` by player id;
        ids that are not stored are left out."""
        ids = list(dict.fromkeys(transcript_ids))
        out: dict[str, list[dict]] = {}
        tp = transcript_players.c
        with self._read("read the players of transcripts") as conn:
            for chunk in _chunks(ids):
                stmt = (sa.select(tp.transcript_id, tp.player_id, tp.team, tp.role, tp.debater)
                        .where(tp.transcript_id.in_(chunk)).order_by(tp.transcript_id, tp.player_id))
                for r in conn.execute(stmt):
                    out.setdefault(r.transcript_id, []).append(
                        {"id": r.player_id, "team": r.team, "role": r.role, "debater": r.debater})
        return out

    def list_debaters(self) -> list[dict]:
        """Every debater that played a stored debate: ``{"debater", "n_transcripts"}``, by name."""
        tp = transcript_players.c
        stmt = (sa.select(tp.debater, sa.func.count(sa.distinct(tp.transcript_id)).label("n"))
                .group_by(tp.debater).order_by(tp.debater))
        with self._read("list debaters") as conn:
            return [{"debater": r.debater, "n_transcripts": int(r.n)} for r in conn.execute(stmt)]
