"""The engine and its locking: where the database lives, how it is opened, and the read and write
transactions every Store operation runs in.

SQLite: WAL mode, a 30 s busy timeout, and write transactions that take the write lock up front
(``BEGIN IMMEDIATE``), so concurrent writers queue instead of failing half-way. PostgreSQL: writes
take one transaction-scoped advisory lock, the same one-writer-at-a-time rule.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from debate.records.transcript import TranscriptError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_WRITE_LOCK_KEY = 0x6465626174655F77  # serialises Store writes on PostgreSQL ("debate_w")
_CHUNK = 500  # ids per IN (...) query; well below every SQLite variable limit
#: Seconds an assignment stays reserved for its annotator (see Store.next_assignment).
DEFAULT_ASSIGNMENT_TTL_S = 1800.0


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


# --------------------------------------------------------------------------- helpers


def _redact(url: URL) -> str:
    return url.render_as_string(hide_password=True)


#: How SQLite and PostgreSQL say that the disk is full.
DISK_FULL_SIGNS = ("database or disk is full", "no space left on device", "could not extend file", "disk full")


def _reason(e: BaseException) -> str:
    orig = getattr(e, "orig", None)
    msg = str(orig if orig is not None else e).strip().splitlines()
    return msg[0] if msg else type(e).__name__


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _iso(dt: datetime) -> str:
    """Same format as ``_utc_now_iso`` (fixed width, so strings sort like times)."""
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _chunks(seq: list, n: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


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


# --------------------------------------------------------------------------- the engine part of Store


class StoreEngine:
    """Opening the database and the transactions; the base of ``Store`` (which adds the schema,
    transcripts, human judging and export). ``_init_schema`` comes from the schema mixin."""

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

    def _init_schema(self) -> None:  # pragma: no cover - provided by the schema mixin
        raise NotImplementedError

    # ------------------------------------------------------------------ plumbing

    def __repr__(self) -> str:
        return f"Store({_redact(self.url)!r})"

    def close(self) -> None:
        """Close pooled connections (the Store can still be used afterwards)."""
        self.engine.dispose()

    def __enter__(self):
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
        if any(sign in reason.lower() for sign in DISK_FULL_SIGNS):
            fix = ("the disk holding the database is full; free space on it (or pass a database on another disk) "
                   "and retry; this write changed nothing")
        elif isinstance(e, sa_exc.OperationalError) and "locked" in reason:
            fix = "another process held the database lock for over 30 s; retry or reduce concurrent writers"
        elif isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            fix = "check the URL, that the database server is running and the file is readable"
        elif isinstance(e, sa_exc.DatabaseError) and "not a database" in reason:
            fix = "it is not a SQLite database file; point the URL (or $DEBATE_DB) at a different file"
        else:
            fix = "nothing was changed; fix the input and retry"
        return StorageError(f"could not {action} in {where} ({reason}); {fix}")

    @staticmethod
    def _check_id(value: Any, what: str) -> str:
        if not isinstance(value, str) or not value:
            raise StorageError(f"{what} must be a non-empty string id, got {value!r}; pass the id the store returned")
        return value
