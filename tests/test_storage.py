"""Tests for debate.records.storage: round trips, filters, exports, SQLite concurrency, errors."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from debate.records.storage import STORE_SCHEMA_VERSION, StorageError, Store, default_db_url
from debate.records.transcript import Transcript, Turn, read_jsonl

REPO_ROOT = str(Path(__file__).resolve().parents[1])


# --------------------------------------------------------------------------- fixtures / helpers


def make_transcript(seed: int = 0, *, task="sparse_pixel", protocol="debate_precommit_honest_first",
                    winner=0, n_pixels=16, experiment=None) -> Transcript:
    """A valid sparse-pixel debate on a 4 x (n_pixels / 4) image: each action is a candidate index
    (nonzero pixels brightest first, ties in raster order) and reveals that pixel of the image."""
    pixels = [(seed * 13 + i) % 256 for i in range(n_pixels)]
    width = n_pixels // 4
    order = sorted((j for j, v in enumerate(pixels) if v > 0), key=lambda j: (-pixels[j], j))
    actions = [(seed * 7 + i) % len(order) for i in range(4)]  # distinct: at least 15 candidates
    return Transcript(
        task=task,
        instance_id=f"mnist-test:{seed}",
        protocol=protocol,
        claims=[seed % 10, (seed + 3) % 10],
        roles=["honest", "liar"],
        debaters=[f"honest-bot-{seed % 3}", "liar-bot"],
        judge="sparse-cnn-k6@ckpt/abc",
        first_player=seed % 2,
        turns=[
            Turn(i, (seed + i) % 2, a, {"row": order[a] // width, "col": order[a] % width, "value": pixels[order[a]]},
                 [0.5 + 0.05 * i, 0.5 - 0.05 * i], [0.1] * 10 if i == 1 else None)
            for i, a in enumerate(actions)
        ],
        winner=winner,
        verdict_claim=None if winner is None else [seed % 10, (seed + 3) % 10][winner],
        ground_truth=seed % 10,
        seeds={"game": seed, "lie_seed": 1},
        instance={"height": 4, "width": width, "pixels": pixels},
        experiment=experiment,
        meta={"seed": seed},
    )


def assert_same(a: Transcript, b: Transcript) -> None:
    assert dataclasses.asdict(a) == dataclasses.asdict(b)


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'debate.db'}"


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


# --------------------------------------------------------------------------- basics


def test_round_trip_all_fields(store):
    ts = [make_transcript(i) for i in range(5)]
    assert store.add_transcripts(ts) == 5
    for t in ts:
        back = store.get_transcript(t.id)
        assert back is not None
        assert_same(back, t)
    assert store.get_transcript("no-such-id") is None
    got = store.query_transcripts()
    assert sorted(x.id for x in got) == sorted(t.id for t in ts)


def test_reopen_persists(db_url):
    t = make_transcript(1)
    with Store(db_url) as s:
        s.add_transcripts([t])
    with Store(db_url) as s2:
        assert_same(s2.get_transcript(t.id), t)
        assert s2.schema_version == STORE_SCHEMA_VERSION


def test_experiments(store):
    e1 = store.create_experiment("sweep-a", "debate", {"k": 6, "sims": [16, 128]})
    e2 = store.create_experiment("judge-only", "control", {})
    exps = store.list_experiments()
    assert [e["id"] for e in exps] == [e1, e2]
    assert exps[0]["name"] == "sweep-a" and exps[0]["kind"] == "debate"
    assert exps[0]["config"] == {"k": 6, "sims": [16, 128]}
    assert exps[0]["created_at"].endswith("Z")
    assert store.get_experiment(e2)["name"] == "judge-only"
    assert store.get_experiment("nope") is None
    with pytest.raises(StorageError, match="JSON"):
        store.create_experiment("x", "debate", {"bad": object()})


def test_experiment_id_recorded_and_filters(store):
    e1 = store.create_experiment("a", "debate", {})
    e2 = store.create_experiment("b", "debate", {})
    a = [make_transcript(i, winner=i % 2) for i in range(6)]
    b = [make_transcript(100 + i, task="other_task", protocol="debate_no_precommit", winner=None) for i in range(4)]
    c = [make_transcript(200 + i) for i in range(3)]  # no experiment
    assert store.add_transcripts(a, experiment_id=e1) == 6
    assert store.add_transcripts(b, experiment_id=e2) == 4
    assert store.add_transcripts(c) == 3

    assert store.get_transcript(a[0].id).experiment == e1
    assert a[0].experiment is None  # caller's object untouched
    assert store.get_transcript(c[0].id).experiment is None

    assert store.count_transcripts() == 13
    assert store.count_transcripts(experiment_id=e1) == 6
    assert store.count_transcripts(experiment_id=e2) == 4
    assert store.count_transcripts(task="other_task") == 4
    assert store.count_transcripts(protocol="debate_precommit_honest_first") == 9
    assert store.count_transcripts(winner_role="honest") == 3 + 3
    assert store.count_transcripts(winner_role="liar") == 3
    assert store.count_transcripts(experiment_id=e1, winner_role="liar") == 3
    assert store.count_transcripts(experiment_id=e2, winner_role="honest") == 0

    got = store.query_transcripts(experiment_id=e1, winner_role="honest")
    assert sorted(t.id for t in got) == sorted(t.id for t in a if t.honest_won)
    assert all(t.honest_won for t in got)
    assert {t.task for t in store.query_transcripts(task="other_task")} == {"other_task"}
    assert len(store.query_transcripts(limit=5)) == 5
    assert store.query_transcripts(limit=0) == []
    assert len(store.query_transcripts(experiment_id=e2, limit=100)) == 4
    with pytest.raises(StorageError, match="limit"):
        store.query_transcripts(limit=-1)


def test_indexed_columns(store, db_url):
    t = make_transcript(1, winner=1)
    store.add_transcripts([t])
    with sa.create_engine(db_url).connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM transcripts")).mappings().one()
        idx = {r[1] for r in conn.execute(sa.text("PRAGMA index_list('transcripts')"))}
        players = conn.execute(sa.text("SELECT * FROM transcript_players ORDER BY player_id")).mappings().all()
        player_idx = {r[1] for r in conn.execute(sa.text("PRAGMA index_list('transcript_players')"))}
    # one row per debater (schema 3) instead of honest_debater / liar_debater columns
    assert "honest_debater" not in row and "liar_debater" not in row
    assert [dict(r) for r in players] == [
        {"transcript_id": t.id, "player_id": 0, "team": 0, "role": "honest", "debater": "honest-bot-1"},
        {"transcript_id": t.id, "player_id": 1, "team": 1, "role": "liar", "debater": "liar-bot"},
    ]
    assert "ix_transcript_players_debater" in player_idx
    assert row["winner_role"] == "liar" and row["ground_truth"] == 1 and row["experiment_id"] is None
    assert {"ix_transcripts_experiment_id", "ix_transcripts_task", "ix_transcripts_protocol"} <= idx
    assert json.loads(row["body_json"])["schema_version"] == 2


def test_query_by_debater(store):
    from debate.records.transcript import players_from_roles

    ts = [make_transcript(i, winner=i % 2) for i in range(6)]  # honest-bot-0/1/2 against liar-bot
    team = make_transcript(50, winner=1, task="team_game")  # a task without rules: sparse pixel has two players
    team.players = players_from_roles(["honest", "liar", "honest"], ["honest-bot-0", "solo", "helper"], [0, 1, 0])
    store.add_transcripts([*ts, team])
    assert {t.id for t in store.query_transcripts(debater="honest-bot-0")} == {ts[0].id, ts[3].id, team.id}
    assert store.count_transcripts(debater="liar-bot") == 6
    assert store.count_transcripts(debater="helper") == 1 and store.count_transcripts(debater="nobody") == 0
    assert store.count_transcripts(debater="honest-bot-0", winner_role="honest") == 1
    assert [t.id for t in store.iter_transcripts(debater="solo")] == [team.id]
    assert store.query_transcripts(debater="solo")[0].teams == [0, 1, 0]
    got = store.players_of([team.id, ts[1].id, "missing"])
    assert set(got) == {team.id, ts[1].id}
    assert [p["debater"] for p in got[team.id]] == ["honest-bot-0", "solo", "helper"]
    assert got[ts[1].id][1] == {"id": 1, "team": 1, "role": "liar", "debater": "liar-bot"}
    assert {d["debater"]: d["n_transcripts"] for d in store.list_debaters()} == {
        "honest-bot-0": 3, "honest-bot-1": 2, "honest-bot-2": 2, "liar-bot": 6, "solo": 1, "helper": 1}


def test_skipped_duplicates_write_no_players(store):
    t = make_transcript(1)
    store.add_transcripts([t])
    assert store.add_transcripts([t, make_transcript(2)], skip_existing=True) == 1
    with store.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM transcript_players")).scalar_one()
    assert n == 4


def test_transcript_experiment_field_used(store):
    e = store.create_experiment("a", "debate", {})
    t = make_transcript(1, experiment=e)
    store.add_transcripts([t])
    assert store.count_transcripts(experiment_id=e) == 1
    with pytest.raises(StorageError, match="experiment 'missing-exp' does not exist"):
        store.add_transcripts([make_transcript(2, experiment="missing-exp")])
    with pytest.raises(StorageError, match="does not exist"):
        store.add_transcripts([make_transcript(3)], experiment_id="nope")
    assert store.count_transcripts() == 1


def test_export_jsonl_then_read(store, tmp_path):
    e = store.create_experiment("a", "debate", {})
    ts = [make_transcript(i, winner=i % 2) for i in range(8)]
    store.add_transcripts(ts, experiment_id=e)
    store.add_transcripts([make_transcript(50)])
    p = tmp_path / "out.jsonl"
    assert store.export_jsonl(p, experiment_id=e) == 8
    back = read_jsonl(p)
    assert len(back) == 8
    stored = {t.id: t for t in store.query_transcripts(experiment_id=e)}
    for t in back:
        assert_same(t, stored[t.id])
    assert store.export_jsonl(p, experiment_id=e, winner_role="liar") == 4
    assert all(not t.honest_won for t in read_jsonl(p))
    assert store.export_jsonl(tmp_path / "all.jsonl") == 9
    with pytest.raises(StorageError, match="unknown transcript filter"):
        store.export_jsonl(p, colour="red")


# --------------------------------------------------------------------------- failed writes lose nothing


def test_failed_batch_writes_nothing(store):
    first = [make_transcript(i) for i in range(3)]
    store.add_transcripts(first)
    batch = [make_transcript(10), make_transcript(11), first[1]]  # last one is a duplicate
    with pytest.raises(StorageError, match=f"transcript id {first[1].id} is already stored"):
        store.add_transcripts(batch)
    assert store.count_transcripts() == 3
    assert store.get_transcript(batch[0].id) is None
    assert store.add_transcripts(batch, skip_existing=True) == 2
    assert store.count_transcripts() == 5
    dup = make_transcript(20)
    with pytest.raises(StorageError, match="appears twice"):
        store.add_transcripts([dup, dup])
    bad = make_transcript(21)
    bad.turns[0].judge_probs = [0.5]
    from debate.records.transcript import TranscriptError

    with pytest.raises(TranscriptError, match="judge probabilities"):
        store.add_transcripts([make_transcript(22), bad])
    assert store.count_transcripts() == 5


def test_a_full_disk_is_named_and_the_experiment_is_not_half_written(store):
    """SQLite's own "database or disk is full" (a page limit stands in for the disk): the error says
    the disk is full, and an experiment created with its transcripts is stored whole or not at all."""
    store.add_transcripts([make_transcript(0)])
    pages = store.engine.connect().exec_driver_sql("PRAGMA page_count").scalar()

    @sa.event.listens_for(store.engine, "connect")
    def limit_pages(dbapi_connection, _):
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 4}")

    store.engine.dispose()  # new connections get the limit
    big = [make_transcript(i) for i in range(1, 400)]
    with pytest.raises(StorageError, match="disk holding the database is full; free space"):
        store.create_experiment("big", "test", transcripts=big)
    assert store.list_experiments() == [] and store.count_transcripts() == 1
    eid = store.create_experiment("small", "test", transcripts=big[:2])
    assert store.count_transcripts(experiment_id=eid) == 2


def test_writes_check_the_task_rules_and_stored_rows_are_read_type_checked(store, db_url, tmp_path):
    """A debate that breaks its task's rules is refused on writing, with the rule's message naming the
    turn, and nothing is written; a row already stored that breaks them (an old database) still reads."""
    from debate.records.transcript import TranscriptError

    good, bad = make_transcript(1), make_transcript(2)
    bad.turns[1].action = bad.turns[0].action  # the same pixel twice
    with pytest.raises(TranscriptError, match=r"transcript \w+\.\.: turn 1 reveals pixel .* again"):
        store.add_transcripts([good, bad])
    assert store.count_transcripts() == 0
    store.add_transcripts([good])
    with sa.create_engine(db_url).begin() as conn:  # as if written before the rules: the body breaks them
        conn.execute(sa.text("UPDATE transcripts SET body_json = :b"), {"b": bad.to_json().replace(bad.id, good.id)})
    old = store.get_transcript(good.id)
    assert old.turns[1].action == old.turns[0].action
    assert [t.id for t in store.query_transcripts()] == [good.id]
    assert store.export_jsonl(tmp_path / "old.jsonl") == 1  # exported as stored
    with pytest.raises(TranscriptError, match="line 1: .*turn 1 reveals pixel"):
        read_jsonl(tmp_path / "old.jsonl")  # importing the file checks the rules
    assert read_jsonl(tmp_path / "old.jsonl", rules=False)[0].to_dict() == old.to_dict()


def test_bulk_insert_of_2k_in_one_call(store):
    # speed is for benchmarks, not tests: this checks that one call stores a large batch whole
    ts = [make_transcript(i, winner=i % 2, n_pixels=784) for i in range(2_000)]
    assert store.add_transcripts(ts) == 2_000
    assert store.count_transcripts() == 2_000
    assert store.count_transcripts(winner_role="honest") == 1_000


# --------------------------------------------------------------------------- SQLite settings


def test_sqlite_pragmas(store, db_url):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    # WAL is persistent: a plain sqlite3 connection sees it too
    path = db_url[len("sqlite:///"):]
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT value FROM schema_meta WHERE key='schema_version'").fetchone()[0] == str(STORE_SCHEMA_VERSION)
    finally:
        con.close()


def test_write_transactions_begin_immediate(store):
    statements = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        store.add_transcripts([make_transcript(1)])
        store.count_transcripts()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    assert "BEGIN IMMEDIATE" in statements
    # reads use a deferred BEGIN so they never wait for the write lock
    assert statements.count("BEGIN") == 1


def test_in_memory_store():
    s = Store("sqlite://")
    s.add_transcripts([make_transcript(1)])
    assert s.count_transcripts() == 1


def test_newer_db_schema_refused(db_url):
    Store(db_url).close()
    path = db_url[len("sqlite:///"):]
    con = sqlite3.connect(path)
    con.execute("UPDATE schema_meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="schema version 99, newer .*upgrade the debate package"):
        Store(db_url)


# --------------------------------------------------------------------------- URLs and environment


def test_debate_db_env_honoured(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'from_env.db'}"
    monkeypatch.setenv("DEBATE_DB", url)
    assert default_db_url() == url
    with Store() as s:
        s.add_transcripts([make_transcript(1)])
        assert str(s.url) == url
    assert (tmp_path / "from_env.db").exists()


def test_default_url_uses_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv("DEBATE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    url = default_db_url()
    assert url == f"sqlite:///{tmp_path / 'xdg' / 'debate-sim' / 'debate.db'}"
    assert (tmp_path / "xdg" / "debate-sim").is_dir()  # created on demand
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_url() == f"sqlite:///{tmp_path / 'home' / '.local' / 'share' / 'debate-sim' / 'debate.db'}"


@pytest.mark.parametrize("url", ["not a url", "://nothing", ""])
def test_bad_url_message(url):
    with pytest.raises(StorageError) as ei:
        Store(url)
    msg = str(ei.value)
    assert "not a valid database URL" in msg and "sqlite:///" in msg and "\n" not in msg


def test_unknown_dialect_message():
    with pytest.raises(StorageError, match="install its database driver"):
        Store("nosuchdb://user:secret@host/db")


def test_missing_directory_message(tmp_path):
    with pytest.raises(StorageError, match="does not exist; create it first"):
        Store(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")


def test_not_a_database_message(tmp_path):
    p = tmp_path / "garbage.db"
    p.write_bytes(b"this is definitely not a sqlite file" * 100)
    with pytest.raises(StorageError) as ei:
        Store(f"sqlite:///{p}")
    assert "not a database" in str(ei.value)


def test_unreachable_server_message():
    pytest.importorskip("psycopg2")
    with pytest.raises(StorageError) as ei:
        Store("postgresql+psycopg2://user:secret@127.0.0.1:1/db?connect_timeout=1")
    assert "secret" not in str(ei.value)
    assert "server is running" in str(ei.value)


# --------------------------------------------------------------------------- concurrency


def test_many_threads_one_store(store):
    n_threads, per_thread = 8, 25
    errors = []
    barrier = threading.Barrier(n_threads)

    def work(k):
        try:
            barrier.wait()
            for i in range(per_thread):
                store.add_transcripts([make_transcript(k * 1000 + i)])
                if i % 5 == 0:
                    store.count_transcripts()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert store.count_transcripts() == n_threads * per_thread


def test_many_threads_own_stores(db_url):
    Store(db_url).close()
    n_threads, per_thread = 4, 10
    errors = []

    def work(k):
        try:
            with Store(db_url) as s:
                for i in range(per_thread):
                    s.add_transcripts([make_transcript(k * 1000 + i)])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert Store(db_url).count_transcripts() == n_threads * per_thread


def _process_writer(url: str, worker: int, n_batches: int, batch: int, queue) -> None:
    try:
        s = Store(url)
        written = 0
        for b in range(n_batches):
            ts = [make_transcript(worker * 100_000 + b * batch + i) for i in range(batch)]
            written += s.add_transcripts(ts)
        s.close()
        queue.put(("ok", written))
    except BaseException as e:  # noqa: BLE001
        queue.put(("error", repr(e)))


def test_two_processes_one_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"  # processes create the file concurrently
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(url, w, 40, 3, queue)) for w in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert all(r[0] == "ok" for r in results), results
    written = sum(r[1] for r in results)
    assert written == 2 * 40 * 3
    with Store(url) as s:
        assert s.count_transcripts() == written


# --------------------------------------------------------------------------- import hygiene


def test_import_does_not_pull_jax():
    code = "import sys, debate.records.storage; assert 'jax' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT,
                   env={**os.environ, "PYTHONPATH": REPO_ROOT})
