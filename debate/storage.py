"""Storage of experiments and debate transcripts on SQLAlchemy 2.x (Core).

One ``Store`` owns one engine; every operation checks a connection out of the
engine's pool for just that operation, so a Store may be used from several
threads (never share Connection objects between threads yourself). Several
processes may write to one SQLite file at once: the file is put in WAL mode,
waits up to 30 s for a lock (``busy_timeout``), and write transactions take the
write lock up front (``BEGIN IMMEDIATE``), so concurrent writers queue instead
of failing with "database is locked" half-way through a transaction.

Like ``debate.transcript`` this module must not import jax.

Typical use::

    store = Store()                       # $DEBATE_DB or ~/.local/share/debate-sim/debate.db
    exp = store.create_experiment("sweep-1", "debate", {"k": 6})
    store.add_transcripts(transcripts, experiment_id=exp)
    store.query_transcripts(experiment_id=exp, winner_role="honest")
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from debate.transcript import Transcript, TranscriptError, _utc_now_iso

__all__ = [
    "STORE_SCHEMA_VERSION",
    "StorageError",
    "Store",
    "default_db_url",
    "default_data_dir",
]

#: Version of the database layout (tables/columns), independent of the
#: transcript JSON ``SCHEMA_VERSION``.
STORE_SCHEMA_VERSION = 1

SQLITE_BUSY_TIMEOUT_MS = 30_000

_FILTERS = ("experiment_id", "task", "protocol", "winner_role")
_CHUNK = 500  # ids per IN (...) query; well below every SQLite variable limit


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
    sa.Index("ix_transcripts_experiment_id", "experiment_id"),
    sa.Index("ix_transcripts_task", "task"),
    sa.Index("ix_transcripts_protocol", "protocol"),
)


# --------------------------------------------------------------------------- helpers


def _redact(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _reason(e: BaseException) -> str:
    orig = getattr(e, "orig", None)
    msg = str(orig if orig is not None else e).strip().splitlines()
    return msg[0] if msg else type(e).__name__


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
                cur.execute("PRAGMA journal_mode = WAL")
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
    }


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

    def __init__(self, url: str | None = None, *, echo: bool = False) -> None:
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
        with self._write("create the tables") as conn:
            metadata.create_all(conn, checkfirst=True)
            row = conn.execute(
                sa.select(schema_meta.c.value).where(schema_meta.c.key == "schema_version")
            ).first()
            if row is None:
                conn.execute(schema_meta.insert().values(key="schema_version", value=str(STORE_SCHEMA_VERSION)))
                return
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
        from debate.transcript import write_jsonl

        return write_jsonl(path, self.iter_transcripts(**filters))
