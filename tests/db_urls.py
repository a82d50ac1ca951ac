"""Database URLs for tests that must pass on SQLite and on PostgreSQL.

``db_url`` is a pytest fixture parametrised over ``["sqlite", "postgresql"]``: a fresh SQLite file
in ``tmp_path``, or a freshly created PostgreSQL database (uniquely named, dropped after the test)
on the server named by ``$DEBATE_TEST_POSTGRES_URL``. A test module opts in with::

    from db_urls import db_url  # noqa: F401  (the fixture; the module's tests then run on both)

Without ``$DEBATE_TEST_POSTGRES_URL`` the PostgreSQL variants are skipped, except under CI
(``$CI`` set), where they fail: ``.ci/run`` installs and starts PostgreSQL and sets the variable.
The URL must name a role that may create databases (``CREATEDB``) and an existing database to
connect to for that (e.g. ``postgresql+psycopg2://debate:debate@127.0.0.1:5432/debate_test``).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from typing import Iterator

import pytest

POSTGRES_ENV = "DEBATE_TEST_POSTGRES_URL"
#: the fixture's parameters; the PostgreSQL one carries the ``postgres`` marker (``-m "not postgres"``)
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def unavailable(reason: str, *, ci_hint: str) -> None:
    """Skip the test with ``reason``; under CI (``$CI`` set) fail it instead, naming what CI should do."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this is an error: {ci_hint}", pytrace=False)
    pytest.skip(reason)


def postgres_base_url() -> str:
    """``$DEBATE_TEST_POSTGRES_URL`` with a usable driver, or skip (fail under CI)."""
    hint = (".ci/run should have installed and started PostgreSQL and exported "
            f"{POSTGRES_ENV}=postgresql+psycopg2://USER:PASSWORD@127.0.0.1:PORT/DB")
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        unavailable(f"{POSTGRES_ENV} is not set (no PostgreSQL server to test against)", ci_hint=hint)
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        unavailable("psycopg2 is not installed (pip install -e '.[test]' installs psycopg2-binary)",
                    ci_hint=".ci/run should have installed the test extra")
    return url


@contextlib.contextmanager
def fresh_postgres_database(base_url: str) -> Iterator[str]:
    """Create a uniquely named database on ``base_url``'s server, yield its URL, drop it afterwards."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    base = make_url(base_url)
    name = f"debate_test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except sa.exc.SQLAlchemyError as e:
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            pytest.fail(f"cannot create a test database on {base.render_as_string(hide_password=True)} "
                        f"({POSTGRES_ENV}): {reason}; is the server running and may the role create "
                        "databases (CREATEDB)?", pytrace=False)
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            # FORCE (PostgreSQL 13+) ends connections a test left open. It can be refused for a
            # moment while a server process of another role (autovacuum) works on the database.
            for attempt in range(20):
                try:
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    break
                except sa.exc.ProgrammingError:
                    if attempt == 19:
                        raise
                    time.sleep(0.5)
    finally:
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'debate.db'}"
    else:
        with fresh_postgres_database(postgres_base_url()) as url:
            yield url
