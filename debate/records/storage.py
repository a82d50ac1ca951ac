"""Storage of experiments and debate transcripts on SQLAlchemy 2.x (Core).

One ``Store`` owns one engine; every operation checks a connection out of the
engine's pool for just that operation, so a Store may be used from several
threads (never share Connection objects between threads yourself). Several
processes may write to one SQLite file at once: the file is put in WAL mode,
waits up to 30 s for a lock (``busy_timeout``), and write transactions take the
write lock up front (``BEGIN IMMEDIATE``), so concurrent writers queue instead
of failing with "database is locked" half-way through a transaction.

Like ``debate.records.transcript`` this module must not import jax.

Typical use::

    store = Store()                       # $DEBATE_DB or ~/.local/share/debate-sim/debate.db
    exp = store.create_experiment("sweep-1", "debate", {"k": 6})
    store.add_transcripts(transcripts, experiment_id=exp)
    store.query_transcripts(experiment_id=exp, winner_role="honest")

Human judging (schema version 2): people who judge debates in a browser are
*annotators*; ``next_assignment`` hands each one the least-judged debate they
have not judged yet (holding it for them for ``assignment_ttl_s`` seconds so
that people asking at the same moment are spread over different debates), and
``add_judgment`` stores their verdict, confidence and explanation::

    ann = store.get_or_create_annotator("alice")
    t = store.next_assignment(ann["id"], target_judgments_per_debate=3)
    store.add_judgment(t.id, ann["id"], verdict_claim=t.claims[0], confidence=0.8,
                       explanation="the top loop is closed", side_order="honest-left",
                       seconds_spent=41.5, turns_seen=len(t.turns))
    store.export_judgments("judgments.parquet", "parquet")
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from debate.records.transcript import Transcript, TranscriptError, _utc_now_iso

__all__ = [
    "CONFIDENCE_LEVELS",
    "EXPORT_FORMATS",
    "JUDGMENT_COLUMNS",
    "JUDGING_MODES",
    "SIDE_ORDERS",
    "STORE_SCHEMA_VERSION",
    "StorageError",
    "Store",
    "default_db_url",
    "default_data_dir",
]

#: Version of the database layout (tables/columns), independent of the
#: transcript JSON ``SCHEMA_VERSION``.
#: 1: experiments, transcripts. 2: + annotators, judgments, assignments and
#: transcripts.num_turns (a version-1 database is migrated in place on open).
STORE_SCHEMA_VERSION = 2

SQLITE_BUSY_TIMEOUT_MS = 30_000

_FILTERS = ("experiment_id", "task", "protocol", "winner_role")
_CHUNK = 500  # ids per IN (...) query; well below every SQLite variable limit

#: The confidences an annotator may give (probability that the chosen claim is
#: right): 0.05..0.95 in steps of 0.05, without 0.5 (they must pick a side).
CONFIDENCE_LEVELS = tuple(k / 20 for k in range(1, 20) if k != 10)
_CONFIDENCE_HINT = "0.05-0.45 or 0.55-0.95 in steps of 0.05"
#: The order the two claims were shown in.
SIDE_ORDERS = ("honest-left", "honest-right")
#: How the debate was shown: one turn per click, or played back live.
JUDGING_MODES = ("stepped", "live")
EXPORT_FORMATS = ("jsonl", "csv", "parquet")
MAX_EXPLANATION_CHARS = 2000
MAX_ANNOTATOR_NAME_CHARS = 64
#: Seconds an assignment stays reserved for its annotator (see Store.next_assignment).
DEFAULT_ASSIGNMENT_TTL_S = 1800.0


_PG_WRITE_LOCK_KEY = 0x6465626174655F77  # serialises Store writes on PostgreSQL ("debate_w")


class StorageError(RuntimeError):
    """The database could not be opened, read or written."""


# --------------------------------------------------------------------------- locations


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/debate-sim`` or ``~/.local/share/debate-sim`` (not created)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "debate-sim"


def default_db_url() -> str:
    """``$DEBATE_DB`` if set (any SQLAlchemy URL), else a SQLite file in the data dir.

    The data directory is created on demand when the SQLite default is used.
    """
    env = os.environ.get("DEBATE_DB", "").strip()
    if env:
        return env
    d = default_data_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(
            f"cannot create the data directory {d} ({e.strerror}); set XDG_DATA_HOME or DEBATE_DB to a writable place"
        ) from None
    return f"sqlite:///{d / 'debate.db'}"


# --------------------------------------------------------------------------- tables

metadata = sa.MetaData()

schema_meta = sa.Table(
    "schema_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

transcripts = sa.Table(
    "transcripts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("experiment_id", sa.String(64), sa.ForeignKey("experiments.id"), nullable=True),
    sa.Column("task", sa.String(128), nullable=False),
    sa.Column("protocol", sa.String(128), nullable=False),
    sa.Column("instance_id", sa.String(255), nullable=False),
    sa.Column("honest_debater", sa.String(255), nullable=True),
    sa.Column("liar_debater", sa.String(255), nullable=True),
    sa.Column("judge", sa.String(512), nullable=False),
    sa.Column("winner_role", sa.String(32), nullable=True),
    sa.Column("ground_truth", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("body_json", sa.Text, nullable=False),
    # schema 2: len(turns), so debates without turns can be left out of assignments
    # without parsing body_json; NULL only for rows written by version-1 code
    sa.Column("num_turns", sa.Integer, nullable=True),
    sa.Index("ix_transcripts_experiment_id", "experiment_id"),
    sa.Index("ix_transcripts_task", "task"),
    sa.Index("ix_transcripts_protocol", "protocol"),
    sa.Index("ix_transcripts_num_turns", "num_turns"),
)

# ----- schema 2: human judging

annotators = sa.Table(
    "annotators",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(MAX_ANNOTATOR_NAME_CHARS), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("name", name="uq_annotators_name"),
)

judgments = sa.Table(
    "judgments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("transcript_id", sa.String(64), sa.ForeignKey("transcripts.id"), nullable=False),
    sa.Column("annotator_id", sa.String(64), sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("verdict_claim", sa.Integer, nullable=False),
    sa.Column("verdict_role", sa.String(32), nullable=False),
    sa.Column("correct", sa.Boolean, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("side_order", sa.String(32), nullable=False),
    sa.Column("seconds_spent", sa.Float, nullable=False),
    sa.Column("turns_seen", sa.Integer, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    # the model judge's verdict_claim, copied from the transcript (transcripts never change)
    sa.Column("model_verdict_claim", sa.Integer, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("transcript_id", "annotator_id", name="uq_judgments_transcript_annotator"),
    sa.Index("ix_judgments_annotator_id", "annotator_id"),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("transcript_id", sa.String(64), sa.ForeignKey("transcripts.id"), nullable=False),
    sa.Column("annotator_id", sa.String(64), sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    # an open (not completed) assignment reserves the debate until expires_at
    sa.Column("expires_at", sa.String(40), nullable=False),
    sa.Column("completed", sa.Boolean, nullable=False),
    sa.UniqueConstraint("transcript_id", "annotator_id", name="uq_assignments_transcript_annotator"),
    sa.Index("ix_assignments_annotator_id", "annotator_id"),
)


#: Columns of query_judgments/export_judgments rows, in order, with their parquet types.
JUDGMENT_COLUMNS: dict[str, str] = {
    "id": "string",
    "transcript_id": "string",
    "annotator_id": "string",
    "annotator_name": "string",
    "verdict_claim": "int64",
    "verdict_role": "string",
    "correct": "bool_",
    "confidence": "float64",
    "explanation": "string",
    "side_order": "string",
    "seconds_spent": "float64",
    "turns_seen": "int64",
    "mode": "string",
    "created_at": "string",
    "task": "string",
    "protocol": "string",
    "experiment_id": "string",
    "instance_id": "string",
    "ground_truth": "int64",
    "model_verdict_claim": "int64",
    "model_winner_role": "string",
    "model_correct": "bool_",
    "model_judge": "string",
}
_JUDGMENT_OWN_COLUMNS = tuple(c.name for c in judgments.columns)


# --------------------------------------------------------------------------- helpers


def _redact(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _reason(e: BaseException) -> str:
    orig = getattr(e, "orig", None)
    msg = str(orig if orig is not None else e).strip().splitlines()
    return msg[0] if msg else type(e).__name__


def _enable_wal(cur) -> None:
    """Switch a new file to WAL. The switch needs a moment of exclusive access and SQLite answers
    "database is locked" at once (no busy wait) when another connection is opening the same new
    file, so retry for up to the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cur.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
        if time.monotonic() > deadline:
            return  # left to the write that follows, which reports the lock clearly
        time.sleep(0.02)


def _install_sqlite_events(engine: Engine, *, wal: bool) -> None:
    """Documented SQLAlchemy pysqlite recipe plus our PRAGMAs.

    pysqlite's own transaction handling is switched off (isolation_level None)
    and we emit BEGIN ourselves: ``BEGIN IMMEDIATE`` for write transactions,
    plain (deferred) ``BEGIN`` for connections marked read-only.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):  # pragma: no cover - exercised via Store
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            if wal:
                _enable_wal(cur)
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised via Store
        if conn.get_execution_options().get("debate_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _transcript_row(t: Transcript, experiment_id: str | None) -> dict:
    body = t.to_dict()
    body["experiment"] = experiment_id
    return {
        "id": t.id,
        "experiment_id": experiment_id,
        "task": t.task,
        "protocol": t.protocol,
        "instance_id": t.instance_id,
        "honest_debater": t.debater_of_role("honest"),
        "liar_debater": t.debater_of_role("liar"),
        "judge": t.judge,
        "winner_role": t.winner_role,
        "ground_truth": int(t.ground_truth),
        "created_at": t.created_at,
        "body_json": json.dumps(body, separators=(",", ":"), allow_nan=False),
        "num_turns": len(t.turns),
    }


def _iso(dt: datetime) -> str:
    """Same format as ``_utc_now_iso`` (fixed width, so strings sort like times)."""
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _num_turns_of(body_json: str) -> int | None:
    try:
        turns = json.loads(body_json).get("turns")
    except (ValueError, AttributeError):
        return None
    return len(turns) if isinstance(turns, list) else None


def _backfill_num_turns(conn: sa.Connection, ids: list[str] | None = None) -> None:
    """Fill transcripts.num_turns where it is NULL (rows from version-1 code)."""
    stmt = sa.select(transcripts.c.id, transcripts.c.body_json).where(transcripts.c.num_turns.is_(None))
    if ids is not None:
        stmt = stmt.where(transcripts.c.id.in_(ids))
    updates = []
    for tid, body in conn.execute(stmt):
        n = _num_turns_of(body)
        # an unreadable body counts as 0 turns: never assigned, and not looked at again
        updates.append({"b_id": tid, "b_n": 0 if n is None else n})
    if updates:
        conn.execute(
            transcripts.update()
            .where(transcripts.c.id == sa.bindparam("b_id"))
            .values(num_turns=sa.bindparam("b_n")),
            updates,
        )


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _chunks(seq: list, n: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


# --------------------------------------------------------------------------- Store


class Store:
    """Experiments and transcripts in one SQL database (SQLite by default).

    ``url`` is any SQLAlchemy URL; None means ``default_db_url()``. An in-memory
    SQLite URL (``sqlite://``) uses one shared connection and is meant for
    single-threaded use (tests, scratch work).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        echo: bool = False,
        assignment_ttl_s: float = DEFAULT_ASSIGNMENT_TTL_S,
    ) -> None:
        if not _is_real(assignment_ttl_s) or assignment_ttl_s < 0:
            raise StorageError(
                f"assignment_ttl_s must be a number of seconds >= 0, got {assignment_ttl_s!r}; "
                f"the default is {DEFAULT_ASSIGNMENT_TTL_S:g}"
            )
        #: seconds a debate handed out by next_assignment stays reserved for its annotator
        self.assignment_ttl_s = float(assignment_ttl_s)
        raw = default_db_url() if url is None else url
        try:
            self.url: URL = make_url(raw) if isinstance(raw, str) else raw
        except (sa_exc.ArgumentError, ValueError, TypeError):
            raise StorageError(
                f"{raw!r} is not a valid database URL; use e.g. 'sqlite:///path/to/debate.db' "
                "or 'postgresql://user@host/db'"
            ) from None
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._pid = os.getpid()

        kwargs: dict[str, Any] = {"echo": echo}
        memory = False
        if self.is_sqlite:
            db = self.url.database or ""
            memory = db in ("", ":memory:") or "mode=memory" in str(self.url.query)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            if memory:
                # one shared connection so every operation sees the same in-memory DB
                kwargs["connect_args"]["check_same_thread"] = False
                kwargs["poolclass"] = StaticPool
            elif not db.startswith("file:"):
                parent = Path(db).expanduser().resolve().parent
                if not parent.is_dir():
                    raise StorageError(
                        f"cannot open SQLite database {db!r}: directory {parent} does not exist; create it first"
                    )
        try:
            self.engine: Engine = sa.create_engine(self.url, **kwargs)
        except (sa_exc.NoSuchModuleError, ImportError) as e:
            raise StorageError(
                f"cannot use database URL {_redact(self.url)!r} ({_reason(e)}); "
                "install its database driver or use a sqlite:/// URL"
            ) from None
        except (sa_exc.ArgumentError, TypeError, ValueError) as e:
            raise StorageError(
                f"invalid database URL {_redact(self.url)!r} ({_reason(e)}); fix the URL"
            ) from None
        if self.is_sqlite:
            _install_sqlite_events(self.engine, wal=not memory)
        self._init_schema()

    # ------------------------------------------------------------------ plumbing

    def __repr__(self) -> str:
        return f"Store({_redact(self.url)!r})"

    def close(self) -> None:
        """Close pooled connections (the Store can still be used afterwards)."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_pid(self) -> None:
        # a Store inherited through fork() must not reuse the parent's connections
        if os.getpid() != self._pid:
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sa.Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); rolled back on any error."""
        self._check_pid()
        try:
            with self.engine.begin() as conn:
                if self.url.get_backend_name() == "postgresql":
                    # One writer at a time until commit, like SQLite's BEGIN IMMEDIATE: makes
                    # read-then-reserve (assignments) and table creation atomic across processes.
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK_KEY})")
                yield conn
        except (StorageError, TranscriptError):
            raise
        except sa_exc.SQLAlchemyError as e:
            raise self._error(action, e) from None

    @contextlib.contextmanager
    def _read(self, action: str) -> Iterator[sa.Connection]:
        self._check_pid()
        try:
            with self.engine.connect() as conn:
                conn.execution_options(debate_readonly=True)  # plain deferred BEGIN
                yield conn  # closing the connection rolls the read transaction back
        except (StorageError, TranscriptError):
            raise
        except sa_exc.SQLAlchemyError as e:
            raise self._error(action, e) from None

    def _error(self, action: str, e: BaseException) -> StorageError:
        reason = _reason(e)
        where = _redact(self.url)
        if isinstance(e, sa_exc.OperationalError) and "locked" in reason:
            fix = "another process held the database lock for over 30 s; retry or reduce concurrent writers"
        elif isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            fix = "check the URL, that the database server is running and the file is readable"
        elif isinstance(e, sa_exc.DatabaseError) and "not a database" in reason:
            fix = "it is not a SQLite database file; point the URL (or $DEBATE_DB) at a different file"
        else:
            fix = "nothing was changed; fix the input and retry"
        return StorageError(f"could not {action} in {where} ({reason}); {fix}")

    def _init_schema(self) -> None:
        # One write transaction (DDL is transactional on SQLite and PostgreSQL): a
        # refused or failed open changes nothing, and processes opening one file
        # at once migrate it exactly once.
        with self._write("create the tables") as conn:
            row = None
            if sa.inspect(conn).has_table(schema_meta.name):
                row = conn.execute(
                    sa.select(schema_meta.c.value).where(schema_meta.c.key == "schema_version")
                ).first()
            version = None
            if row is not None:
                try:
                    version = int(row[0])
                except ValueError:
                    raise StorageError(
                        f"database {_redact(self.url)} has a corrupt schema_version {row[0]!r}; "
                        "use a different database file"
                    ) from None
                if version > STORE_SCHEMA_VERSION:
                    raise StorageError(
                        f"database {_redact(self.url)} has schema version {version}, newer than this package "
                        f"supports ({STORE_SCHEMA_VERSION}); upgrade the debate package to open it"
                    )
            # creates the missing tables: all of them in a new database, the
            # judging tables in a version-1 one; existing tables are left alone
            metadata.create_all(conn, checkfirst=True)
            if version is None or version < STORE_SCHEMA_VERSION:
                self._migrate_to_2(conn)
            if row is None:
                conn.execute(schema_meta.insert().values(key="schema_version", value=str(STORE_SCHEMA_VERSION)))
            elif version != STORE_SCHEMA_VERSION:
                conn.execute(
                    schema_meta.update()
                    .where(schema_meta.c.key == "schema_version")
                    .values(value=str(STORE_SCHEMA_VERSION))
                )

    @staticmethod
    def _migrate_to_2(conn: sa.Connection) -> None:
        """Version 1 -> 2: add transcripts.num_turns and fill it (the new tables come from create_all)."""
        cols = {c["name"] for c in sa.inspect(conn).get_columns(transcripts.name)}
        if "num_turns" not in cols:
            conn.exec_driver_sql("ALTER TABLE transcripts ADD COLUMN num_turns INTEGER")
        for ix in transcripts.indexes:  # create_all skips indexes of tables that exist
            if "num_turns" in ix.columns:
                ix.create(conn, checkfirst=True)
        _backfill_num_turns(conn)

    @property
    def schema_version(self) -> int:
        with self._read("read the schema version") as conn:
            v = conn.execute(
                sa.select(schema_meta.c.value).where(schema_meta.c.key == "schema_version")
            ).scalar_one()
        return int(v)

    # ------------------------------------------------------------------ experiments

    def create_experiment(self, name: str, kind: str, config: dict | None = None) -> str:
        """Create an experiment and return its id (uuid4 hex)."""
        if not isinstance(name, str) or not name:
            raise StorageError("experiment name must be a non-empty string; pass a name")
        if not isinstance(kind, str) or not kind:
            raise StorageError("experiment kind must be a non-empty string; pass a kind such as 'debate'")
        try:
            config_json = json.dumps(config or {}, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise StorageError(f"experiment config is not JSON-serialisable ({e}); pass plain dicts/lists/numbers") from None
        eid = uuid.uuid4().hex
        with self._write("create an experiment") as conn:
            conn.execute(
                experiments.insert().values(
                    id=eid, name=name, kind=kind, config_json=config_json, created_at=_utc_now_iso()
                )
            )
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
        items = list(transcripts_)
        rows = []
        seen: set[str] = set()
        for t in items:
            if not isinstance(t, Transcript):
                raise StorageError(f"add_transcripts expects Transcript objects, got {type(t).__name__}; build them with Transcript(...)")
            t.validate()
            if t.id in seen:
                if skip_existing:
                    continue
                raise StorageError(f"transcript id {t.id} appears twice in this batch; give each transcript its own id")
            seen.add(t.id)
            rows.append(_transcript_row(t, experiment_id if experiment_id is not None else t.experiment))
        if not rows:
            return 0

        with self._write("add transcripts") as conn:
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
            if rows:
                conn.execute(transcripts.insert(), rows)
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
        return None if body is None else Transcript.from_json(body)

    @staticmethod
    def _where(stmt: Any, filters: dict) -> Any:
        unknown = sorted(set(filters) - set(_FILTERS))
        if unknown:
            raise StorageError(
                f"unknown transcript filter(s) {', '.join(unknown)}; use {', '.join(_FILTERS)}"
            )
        for k, v in filters.items():
            if v is not None:
                stmt = stmt.where(transcripts.c[k] == v)
        return stmt

    def query_transcripts(
        self,
        experiment_id: str | None = None,
        task: str | None = None,
        protocol: str | None = None,
        winner_role: str | None = None,
        limit: int | None = None,
    ) -> list[Transcript]:
        """Transcripts matching all given filters (None = any), oldest first."""
        return list(
            self.iter_transcripts(
                experiment_id=experiment_id, task=task, protocol=protocol, winner_role=winner_role, limit=limit
            )
        )

    def iter_transcripts(self, limit: int | None = None, **filters: Any) -> Iterator[Transcript]:
        """Like query_transcripts, but reads rows lazily (keeps a connection until exhausted)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise StorageError(f"limit must be a non-negative integer or None, got {limit!r}; fix the call")
        stmt = self._where(sa.select(transcripts.c.body_json), filters).order_by(
            transcripts.c.created_at, transcripts.c.id
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read("query transcripts") as conn:
            for (body,) in conn.execute(stmt):
                yield Transcript.from_json(body)

    def count_transcripts(
        self,
        experiment_id: str | None = None,
        task: str | None = None,
        protocol: str | None = None,
        winner_role: str | None = None,
    ) -> int:
        stmt = self._where(
            sa.select(sa.func.count()).select_from(transcripts),
            {"experiment_id": experiment_id, "task": task, "protocol": protocol, "winner_role": winner_role},
        )
        with self._read("count transcripts") as conn:
            return int(conn.execute(stmt).scalar_one())

    def export_jsonl(self, path: str | os.PathLike, **filters: Any) -> int:
        """Write the matching transcripts to a JSONL file (atomically); return how many."""
        from debate.records.transcript import write_jsonl

        return write_jsonl(path, self.iter_transcripts(**filters))

    # ------------------------------------------------------------------ annotators

    @staticmethod
    def _annotator_dict(r: Any) -> dict:
        return {"id": r.id, "name": r.name, "created_at": r.created_at}

    def get_or_create_annotator(self, name: str) -> dict:
        """The annotator with this name (surrounding blanks stripped), created if new.

        Returns a dict with id, name and created_at. Names are case-sensitive.
        """
        if not isinstance(name, str):
            raise StorageError(f"annotator name must be a string, got {type(name).__name__}; pass the person's name")
        clean = name.strip()
        if not 1 <= len(clean) <= MAX_ANNOTATOR_NAME_CHARS:
            raise StorageError(
                f"annotator name must be 1 to {MAX_ANNOTATOR_NAME_CHARS} characters after removing surrounding "
                f"blanks, got {len(clean)}; type a shorter or non-blank name"
            )
        select_by_name = sa.select(annotators).where(annotators.c.name == clean)
        try:
            with self._write("create an annotator") as conn:
                r = conn.execute(select_by_name).first()
                if r is not None:
                    return self._annotator_dict(r)
                row = {"id": uuid.uuid4().hex, "name": clean, "created_at": _utc_now_iso()}
                conn.execute(annotators.insert().values(**row))
                return row
        except StorageError:
            # another writer created the same name first (only possible where writes
            # are not serialised, e.g. PostgreSQL): use theirs
            with self._read("read an annotator") as conn:
                r = conn.execute(select_by_name).first()
            if r is None:
                raise
            return self._annotator_dict(r)

    def get_annotator(self, annotator_id: str) -> dict | None:
        with self._read("read an annotator") as conn:
            r = conn.execute(sa.select(annotators).where(annotators.c.id == annotator_id)).first()
        return None if r is None else self._annotator_dict(r)

    def list_annotators(self) -> list[dict]:
        """All annotators, oldest first: id, name, created_at and n_judgments."""
        n = (
            sa.select(judgments.c.annotator_id, sa.func.count().label("n"))
            .group_by(judgments.c.annotator_id)
            .subquery()
        )
        stmt = (
            sa.select(annotators, sa.func.coalesce(n.c.n, 0).label("n_judgments"))
            .outerjoin(n, n.c.annotator_id == annotators.c.id)
            .order_by(annotators.c.created_at, annotators.c.id)
        )
        with self._read("list annotators") as conn:
            rows = conn.execute(stmt).all()
        return [{**self._annotator_dict(r), "n_judgments": int(r.n_judgments)} for r in rows]

    @staticmethod
    def _check_id(value: Any, what: str) -> str:
        if not isinstance(value, str) or not value:
            raise StorageError(f"{what} must be a non-empty string id, got {value!r}; pass the id the store returned")
        return value

    @staticmethod
    def _require_annotator(conn: sa.Connection, annotator_id: str) -> str:
        name = conn.execute(sa.select(annotators.c.name).where(annotators.c.id == annotator_id)).scalar_one_or_none()
        if name is None:
            raise StorageError(
                f"annotator {annotator_id!r} does not exist in this database; create it with "
                "get_or_create_annotator() and pass its id"
            )
        return name

    # ------------------------------------------------------------------ assignments

    def next_assignment(
        self,
        annotator_id: str,
        target_judgments_per_debate: int = 3,
        experiment_id: str | None = None,
        task: str | None = None,
        protocol: str | None = None,
    ) -> Transcript | None:
        """The next debate for this annotator to judge, or None when nothing is left.

        Candidates are stored debates with at least one turn, matching the filters,
        that this annotator has not judged and that have fewer than
        ``target_judgments_per_debate`` judgments. The least-judged comes first
        (ties: oldest ``created_at``, then id). A debate handed out is reserved for
        its annotator for ``assignment_ttl_s`` seconds or until they judge it: a
        reservation counts as a judgment in progress, both for "least-judged" and
        for the target, so people asking at the same moment get different debates
        and a debate is not handed out more often than the target. Asking again
        before judging returns the same debate (e.g. after a page reload).
        """
        self._check_id(annotator_id, "annotator_id")
        target = target_judgments_per_debate
        if not isinstance(target, int) or isinstance(target, bool) or target < 1:
            raise StorageError(
                f"target_judgments_per_debate must be an integer >= 1, got {target!r}; the default is 3"
            )
        filters = {"experiment_id": experiment_id, "task": task, "protocol": protocol}
        now_dt = datetime.now(timezone.utc)
        now, expires = _iso(now_dt), _iso(now_dt + timedelta(seconds=self.assignment_ttl_s))

        n_judged = (
            sa.select(judgments.c.transcript_id, sa.func.count().label("n"))
            .group_by(judgments.c.transcript_id)
            .subquery()
        )
        held = (  # debates reserved right now by other annotators
            sa.select(assignments.c.transcript_id, sa.func.count().label("n"))
            .where(
                assignments.c.completed.is_(False),
                assignments.c.expires_at > now,
                assignments.c.annotator_id != annotator_id,
            )
            .group_by(assignments.c.transcript_id)
            .subquery()
        )
        judged_by_me = sa.select(judgments.c.transcript_id).where(judgments.c.annotator_id == annotator_id)
        judged = sa.func.coalesce(n_judged.c.n, 0)
        load = judged + sa.func.coalesce(held.c.n, 0)

        with self._write("assign a debate") as conn:
            self._require_annotator(conn, annotator_id)
            # 1. the debate already reserved for this annotator, if still open
            mine = self._where(
                sa.select(transcripts.c.id)
                .join(assignments, assignments.c.transcript_id == transcripts.c.id)
                .outerjoin(n_judged, n_judged.c.transcript_id == transcripts.c.id)
                .where(
                    assignments.c.annotator_id == annotator_id,
                    assignments.c.completed.is_(False),
                    assignments.c.expires_at > now,
                    transcripts.c.num_turns > 0,
                    transcripts.c.id.not_in(judged_by_me),
                    judged < target,
                ),
                filters,
            ).order_by(assignments.c.created_at, transcripts.c.id)
            tid = conn.execute(mine.limit(1)).scalar_one_or_none()

            if tid is None:
                # rows written by version-1 code while this database was being migrated
                _backfill_num_turns(conn)
                # 2. the least-judged open debate
                pick = self._where(
                    sa.select(transcripts.c.id)
                    .outerjoin(n_judged, n_judged.c.transcript_id == transcripts.c.id)
                    .outerjoin(held, held.c.transcript_id == transcripts.c.id)
                    .where(
                        transcripts.c.num_turns > 0,
                        transcripts.c.id.not_in(judged_by_me),
                        load < target,
                    ),
                    filters,
                ).order_by(load, judged, transcripts.c.created_at, transcripts.c.id)
                tid = conn.execute(pick.limit(1)).scalar_one_or_none()
                if tid is None:
                    return None

            pair = (assignments.c.transcript_id == tid) & (assignments.c.annotator_id == annotator_id)
            if conn.execute(sa.select(assignments.c.id).where(pair)).first() is None:
                conn.execute(
                    assignments.insert().values(
                        id=uuid.uuid4().hex, transcript_id=tid, annotator_id=annotator_id,
                        created_at=now, expires_at=expires, completed=False,
                    )
                )
            else:  # renew this annotator's own (open or lapsed) reservation
                conn.execute(assignments.update().where(pair).values(expires_at=expires, completed=False))
            body = conn.execute(sa.select(transcripts.c.body_json).where(transcripts.c.id == tid)).scalar_one()
        return Transcript.from_json(body)

    def release_assignment(self, annotator_id: str, transcript_id: str | None = None) -> int:
        """Give back this annotator's open reservations (one debate, or all); return how many."""
        self._check_id(annotator_id, "annotator_id")
        stmt = assignments.delete().where(
            assignments.c.annotator_id == annotator_id, assignments.c.completed.is_(False)
        )
        if transcript_id is not None:
            stmt = stmt.where(assignments.c.transcript_id == transcript_id)
        with self._write("release an assignment") as conn:
            return int(conn.execute(stmt).rowcount)

    # ------------------------------------------------------------------ judgments

    @staticmethod
    def _check_confidence(confidence: Any) -> float:
        if not _is_real(confidence):
            raise StorageError(
                f"confidence must be a number, got {confidence!r}; use {_CONFIDENCE_HINT}"
            )
        k = round(confidence * 20)
        if abs(confidence * 20 - k) > 1e-6 or not 1 <= k <= 19:
            raise StorageError(f"confidence {confidence!r} is not allowed: use {_CONFIDENCE_HINT}")
        if k == 10:
            raise StorageError(f"confidence {confidence!r} is not allowed: pick a side ({_CONFIDENCE_HINT})")
        return round(k / 20, 2)

    @classmethod
    def _check_judgment_fields(
        cls, confidence: Any, explanation: Any, side_order: Any, seconds_spent: Any, turns_seen: Any, mode: Any
    ) -> dict:
        """Validate what does not depend on the transcript; return the cleaned values."""
        conf = cls._check_confidence(confidence)
        if not isinstance(explanation, str):
            raise StorageError(
                f"explanation must be a string, got {type(explanation).__name__}; say in a sentence why you chose this claim"
            )
        text = explanation.strip()
        if not text:
            raise StorageError("explanation must not be blank; say in a sentence why you chose this claim")
        if len(text) > MAX_EXPLANATION_CHARS:
            raise StorageError(
                f"explanation is {len(text)} characters long; shorten it to at most {MAX_EXPLANATION_CHARS}"
            )
        if side_order not in SIDE_ORDERS:
            raise StorageError(f"side_order {side_order!r} is not allowed; use {' or '.join(map(repr, SIDE_ORDERS))}")
        if not _is_real(seconds_spent) or seconds_spent < 0:
            raise StorageError(
                f"seconds_spent must be a finite number >= 0, got {seconds_spent!r}; pass the time spent judging"
            )
        if not isinstance(turns_seen, int) or isinstance(turns_seen, bool) or turns_seen < 0:
            raise StorageError(
                f"turns_seen must be an integer >= 0, got {turns_seen!r}; pass how many turns were shown"
            )
        if mode not in JUDGING_MODES:
            raise StorageError(f"mode {mode!r} is not allowed; use {' or '.join(map(repr, JUDGING_MODES))}")
        return {
            "confidence": conf,
            "explanation": text,
            "side_order": side_order,
            "seconds_spent": float(seconds_spent),
            "turns_seen": int(turns_seen),
            "mode": mode,
        }

    @staticmethod
    def _verdict_role(t: Transcript, verdict_claim: Any) -> str:
        """The role of the player whose claim the verdict chose (validating the verdict)."""
        if not isinstance(verdict_claim, int) or isinstance(verdict_claim, bool):
            raise StorageError(f"verdict_claim must be an integer class id, got {verdict_claim!r}; pass one of the claims")
        for player, claim in enumerate(t.claims):
            if claim is not None and claim == verdict_claim:
                return t.roles[player]
        open_players = [p for p, c in enumerate(t.claims) if c is None]
        committed = sorted({c for c in t.claims if c is not None})
        if not open_players:
            raise StorageError(
                f"verdict_claim {verdict_claim} is not one of this debate's claims; choose "
                f"{' or '.join(map(str, committed))}"
            )
        # no precommitment: a player without a claim argues "any other class"
        probs = t.turns[0].judge_class_probs if t.turns else None
        if probs:
            if not 0 <= verdict_claim < len(probs):
                raise StorageError(
                    f"verdict_claim {verdict_claim} is not a class of this debate; choose a class id in "
                    f"0..{len(probs) - 1}"
                )
        elif verdict_claim < 0:
            raise StorageError(f"verdict_claim {verdict_claim} is not a class id; choose a class id >= 0")
        return t.roles[open_players[0]]

    def add_judgment(
        self,
        transcript_id: str,
        annotator_id: str,
        verdict_claim: int,
        confidence: float,
        explanation: str,
        side_order: str,
        seconds_spent: float,
        turns_seen: int,
        mode: str = "stepped",
    ) -> str:
        """Store one person's verdict on one debate; return the judgment id.

        ``verdict_claim`` is the class the annotator decided for: one of the
        debate's claims, or without precommitment any class (any class other than
        the honest claim then counts as the liar's). ``confidence`` is the
        probability that the chosen claim is right, in 0.05..0.95 in steps of 0.05
        but not 0.5. ``correct`` and ``verdict_role`` are derived from the
        transcript. Each annotator judges a debate at most once. Everything is
        checked first and written in one transaction; on any error nothing is written.
        """
        self._check_id(transcript_id, "transcript_id")
        self._check_id(annotator_id, "annotator_id")
        row = self._check_judgment_fields(confidence, explanation, side_order, seconds_spent, turns_seen, mode)
        with self._write("add a judgment") as conn:
            body = conn.execute(
                sa.select(transcripts.c.body_json).where(transcripts.c.id == transcript_id)
            ).scalar_one_or_none()
            if body is None:
                raise StorageError(
                    f"transcript {transcript_id!r} does not exist in this database; judge a stored debate "
                    "(see next_assignment)"
                )
            name = self._require_annotator(conn, annotator_id)
            t = Transcript.from_json(body)
            role = self._verdict_role(t, verdict_claim)
            if row["turns_seen"] > len(t.turns):
                raise StorageError(
                    f"turns_seen {row['turns_seen']} is more than this debate's {len(t.turns)} turns; "
                    f"pass a number in 0..{len(t.turns)}"
                )
            pair = (judgments.c.transcript_id == transcript_id) & (judgments.c.annotator_id == annotator_id)
            duplicate = StorageError(
                f"annotator {name!r} has already judged transcript {transcript_id}; each person judges a "
                "debate once, so this judgment was not stored"
            )
            if conn.execute(sa.select(judgments.c.id).where(pair)).first() is not None:
                raise duplicate
            jid = uuid.uuid4().hex
            row.update(
                id=jid,
                transcript_id=transcript_id,
                annotator_id=annotator_id,
                verdict_claim=int(verdict_claim),
                verdict_role=role,
                correct=int(verdict_claim) == int(t.ground_truth),
                model_verdict_claim=t.verdict_claim,
                created_at=_utc_now_iso(),
            )
            try:
                conn.execute(judgments.insert().values(**row))
            except sa_exc.IntegrityError:
                # a concurrent submit won the race (backends without serialised writes)
                raise duplicate from None
            conn.execute(
                assignments.update()
                .where(assignments.c.transcript_id == transcript_id, assignments.c.annotator_id == annotator_id)
                .values(completed=True)
            )
        return jid

    @staticmethod
    def _judgment_filters(stmt: Any, annotator_id, transcript_id, experiment_id, protocol, task) -> Any:
        for col, v in (
            (judgments.c.annotator_id, annotator_id),
            (judgments.c.transcript_id, transcript_id),
            (transcripts.c.experiment_id, experiment_id),
            (transcripts.c.protocol, protocol),
            (transcripts.c.task, task),
        ):
            if v is not None:
                stmt = stmt.where(col == v)
        return stmt

    def query_judgments(
        self,
        annotator_id: str | None = None,
        transcript_id: str | None = None,
        experiment_id: str | None = None,
        protocol: str | None = None,
        task: str | None = None,
    ) -> list[dict]:
        """Judgments matching all given filters (None = any), oldest first.

        Each dict has the judgment's fields (see JUDGMENT_COLUMNS), the annotator's
        name, the debate's task, protocol, experiment_id, instance_id and
        ground_truth, and the model judge's verdict for comparison:
        model_verdict_claim, model_winner_role, model_correct and model_judge.
        """
        stmt = self._judgment_filters(
            sa.select(
                *(judgments.c[k] for k in _JUDGMENT_OWN_COLUMNS),
                annotators.c.name.label("annotator_name"),
                transcripts.c.task,
                transcripts.c.protocol,
                transcripts.c.experiment_id,
                transcripts.c.instance_id,
                transcripts.c.ground_truth,
                transcripts.c.winner_role.label("model_winner_role"),
                transcripts.c.judge.label("model_judge"),
            )
            .join(transcripts, transcripts.c.id == judgments.c.transcript_id)
            .join(annotators, annotators.c.id == judgments.c.annotator_id),
            annotator_id, transcript_id, experiment_id, protocol, task,
        ).order_by(judgments.c.created_at, judgments.c.id)
        with self._read("query judgments") as conn:
            rows = conn.execute(stmt).mappings().all()
        out = []
        for r in rows:
            d = {k: r[k] for k in JUDGMENT_COLUMNS if k != "model_correct"}
            d["correct"] = bool(d["correct"])
            mv = d["model_verdict_claim"]
            d["model_correct"] = None if mv is None else mv == d["ground_truth"]
            out.append({k: d[k] for k in JUDGMENT_COLUMNS})
        return out

    def count_judgments(
        self,
        annotator_id: str | None = None,
        transcript_id: str | None = None,
        experiment_id: str | None = None,
        protocol: str | None = None,
        task: str | None = None,
    ) -> int:
        stmt = self._judgment_filters(
            sa.select(sa.func.count())
            .select_from(judgments)
            .join(transcripts, transcripts.c.id == judgments.c.transcript_id),
            annotator_id, transcript_id, experiment_id, protocol, task,
        )
        with self._read("count judgments") as conn:
            return int(conn.execute(stmt).scalar_one())

    def export_judgments(self, path: str | os.PathLike, format: str | None = None, **filters: Any) -> int:
        """Write the matching judgments (query_judgments rows) to a file; return how many.

        ``format`` is "jsonl", "csv" or "parquet" (None: from the file's suffix).
        ``filters`` are query_judgments' arguments. The file is written to a
        temporary sibling and renamed, so a failure never leaves half a file.
        CSV writes booleans as True/False and missing values as empty cells.
        """
        path = os.fspath(path)
        if format is None:
            format = Path(path).suffix.lstrip(".").lower()
        if format not in EXPORT_FORMATS:
            raise StorageError(
                f"export format {format!r} is not supported; use {', '.join(EXPORT_FORMATS)} "
                "(or a file name ending in one of them)"
            )
        unknown = sorted(set(filters) - {"annotator_id", "transcript_id", "experiment_id", "protocol", "task"})
        if unknown:
            raise StorageError(
                f"unknown judgment filter(s) {', '.join(unknown)}; use annotator_id, transcript_id, "
                "experiment_id, protocol, task"
            )
        rows = self.query_judgments(**filters)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            if format == "jsonl":
                with open(tmp, "w", encoding="utf-8") as f:
                    for r in rows:
                        f.write(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n")
            elif format == "csv":
                with open(tmp, "w", encoding="utf-8", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(JUDGMENT_COLUMNS))
                    w.writeheader()
                    w.writerows(rows)
            else:
                try:
                    import pyarrow as pa
                    import pyarrow.parquet as pq
                except ImportError:
                    raise StorageError(
                        "exporting parquet needs pyarrow, which is not installed; pip install pyarrow "
                        "or export jsonl/csv"
                    ) from None
                schema = pa.schema([(k, getattr(pa, t)()) for k, t in JUDGMENT_COLUMNS.items()])
                pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
            os.replace(tmp, path)
        except OSError as e:
            raise StorageError(
                f"could not write {path} ({e.strerror or e}); check that its directory exists and is writable"
            ) from None
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return len(rows)

