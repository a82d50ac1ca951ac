"""A real database of the previous release (store schema 2, transcript schema 1) opened with this Store.

``tests/data/v1_store.sqlite`` was written by the previous release's own code (see
``tests/data/make_v1_db.py``): computation and sparse-pixel debates, one whose player 0 is the liar,
annotators, judgments and an open assignment. Each test opens a copy, which migrates it in place.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from db_urls import db_url  # noqa: F401  (the fixture: test_migrates_on_every_backend runs on SQLite and PostgreSQL)

from debate.records.storage import STORE_SCHEMA_VERSION, Store
from debate.records.transcript import SCHEMA_VERSION, Transcript, TranscriptError, migrate_transcript_dict, read_jsonl

FIXTURE = Path(__file__).parent / "data" / "v1_store.sqlite"


def read_raw(path: Path) -> dict:
    """Every row of every table, plus the schema, straight from SQLite (no Store)."""
    con = sqlite3.connect(path)
    try:
        out = {"schema": sorted(r for r in con.execute("SELECT type, name, sql FROM sqlite_master") if r[1])}
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            cur = con.execute(f"SELECT * FROM {table}")
            names = [c[0] for c in cur.description]
            out[table] = sorted((dict(zip(names, r)) for r in cur), key=lambda d: json.dumps(d, sort_keys=True))
    finally:
        con.close()
    return out


@pytest.fixture(scope="module")
def before() -> dict:
    return read_raw(FIXTURE)


@pytest.fixture
def copy(tmp_path) -> Path:
    path = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, path)
    return path


def test_the_fixture_is_an_old_database(before):
    assert FIXTURE.stat().st_size < 200_000
    assert before["schema_meta"] == [{"key": "schema_version", "value": "2"}]
    assert "transcript_players" not in before
    assert len(before["transcripts"]) == 9 and len(before["judgments"]) == 3 and len(before["assignments"]) == 1
    for row in before["transcripts"]:
        body = json.loads(row["body_json"])
        assert body["schema_version"] == 1 and "roles" in body and "players" not in body
        assert (row["honest_debater"], row["liar_debater"]) == tuple(
            body["debaters"][body["roles"].index(r)] for r in ("honest", "liar"))
    assert {r["task"] for r in before["transcripts"]} == {"computation", "sparse_pixel"}


def test_opening_migrates_in_place(copy, before):
    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    with Store(f"sqlite:///{copy}") as store:
        assert store.schema_version == STORE_SCHEMA_VERSION == 4
        # every transcript loads as schema 2 with the same content
        assert store.count_transcripts() == 9
        for row in before["transcripts"]:
            old = json.loads(row["body_json"])
            t = store.get_transcript(row["id"])
            assert t.schema_version == SCHEMA_VERSION == 2
            # a stored row is read type-checked only (its debate may predate the task rules)
            assert t.to_dict() == migrate_transcript_dict(old) == Transcript.from_dict(old, rules=False).to_dict()
            assert (t.roles, t.debaters, t.teams) == (old["roles"], old["debaters"], [0, 1])
            assert (t.claims, t.winner, t.turns[0].to_dict()) == (old["claims"], old["winner"], old["turns"][0])
            assert t.winner_role == row["winner_role"] and t.experiment == row["experiment_id"]
            assert t.debater_of_role("honest") == row["honest_debater"]
            assert t.debater_of_role("liar") == row["liar_debater"]
        swapped = store.query_transcripts(debater="human:bob")
        assert len(swapped) == 1 and swapped[0].roles == ["liar", "honest"] and swapped[0].honest_won
        assert store.count_transcripts(debater="expert") == 6 and store.count_transcripts(debater="greedy") == 3
        experiment = before["experiments"][0]["id"]
        assert store.count_transcripts(experiment_id=experiment, debater="expert") == 6

        # judgments, annotators and the open assignment survive
        judgments = {j["id"]: j for j in store.query_judgments()}
        assert store.count_judgments() == 3 and set(judgments) == {j["id"] for j in before["judgments"]}
        for old in before["judgments"]:
            new = judgments[old["id"]]
            for k in ("transcript_id", "annotator_id", "verdict_claim", "verdict_role", "confidence", "explanation",
                      "side_order", "seconds_spent", "turns_seen", "mode", "created_at", "model_verdict_claim"):
                assert new[k] == old[k], k
            assert new["correct"] is bool(old["correct"])
        assert {(a["name"], a["n_judgments"]) for a in store.list_annotators()} == {("alice", 2), ("bob", 1)}

        # people go on judging the migrated debates
        alice = store.get_or_create_annotator("alice")["id"]
        t = swapped[0]
        store.add_judgment(t.id, alice, verdict_claim=t.claims[1], confidence=0.9, explanation="pixel 10",
                           side_order="honest-right", seconds_spent=3.0, turns_seen=2)
        new = store.query_judgments(transcript_id=t.id)[0]
        assert (new["verdict_role"], new["correct"], new["model_winner_role"]) == ("honest", True, "honest")
    assert hashlib.sha256(FIXTURE.read_bytes()).hexdigest() == digest  # the fixture itself is untouched

    after = read_raw(copy)
    assert after["schema_meta"] == [{"key": "schema_version", "value": "4"}]
    # one row per debater, as the old bodies list them; the old columns are gone
    expected = sorted(
        ((row["id"], p, p, role, name) for row in before["transcripts"]
         for p, (role, name) in enumerate(zip(json.loads(row["body_json"])["roles"],
                                              json.loads(row["body_json"])["debaters"]))),
    )
    assert sorted(tuple(r.values()) for r in after["transcript_players"]) == expected
    assert all("honest_debater" not in r and "liar_debater" not in r for r in after["transcripts"])
    assert all(json.loads(r["body_json"])["schema_version"] == 2 for r in after["transcripts"])
    unchanged = ("id", "experiment_id", "task", "protocol", "instance_id", "judge", "winner_role", "ground_truth",
                 "created_at", "num_turns")
    assert [{k: r[k] for k in unchanged} for r in after["transcripts"]] == \
        [{k: r[k] for k in unchanged} for r in before["transcripts"]]
    # kept as they were, plus schema 4's new columns, NULL for these rows (outside any study)
    new_columns = {"annotators": ("passphrase_hash",), "assignments": ("study_id", "side_order", "sequence_index")}
    for table in ("experiments", "annotators", "assignments"):
        added = new_columns.get(table, ())
        assert all(r[c] is None for r in after[table] for c in added), table
        assert [{k: v for k, v in r.items() if k not in added} for r in after[table]] == before[table], table
    assert ("index", "ix_transcript_players_debater") in {(t, n) for t, n, _ in after["schema"]}


def test_reopening_is_a_no_op(copy):
    Store(f"sqlite:///{copy}").close()
    first = read_raw(copy)
    with Store(f"sqlite:///{copy}") as store:
        assert store.schema_version == 4
        assert store.count_transcripts() == 9
    assert read_raw(copy) == first


def test_migrated_layout_matches_a_new_database(copy, tmp_path):
    """The migrated file has the tables, columns and indexes of a database this version creates."""
    Store(f"sqlite:///{copy}").close()
    fresh = tmp_path / "fresh.db"
    Store(f"sqlite:///{fresh}").close()

    def layout(path):
        con = sqlite3.connect(path)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            return {t: (sorted(r[1] for r in con.execute(f"PRAGMA table_info('{t}')")),
                        sorted(r[1] for r in con.execute(f"PRAGMA index_list('{t}')"))) for t in tables}
        finally:
            con.close()

    assert layout(copy) == layout(fresh)


def test_export_of_migrated_transcripts(copy, tmp_path):
    with Store(f"sqlite:///{copy}") as store:
        n = store.export_jsonl(tmp_path / "all.jsonl")
        stored = {t.id: t for t in store.query_transcripts()}
    back = read_jsonl(tmp_path / "all.jsonl", rules=False)  # the rows as stored
    assert n == len(back) == 9
    assert all(t == stored[t.id] and json.loads(t.to_json())["schema_version"] == 2 for t in back)
    # importing the file checks the task rules: the old debate whose player 0 is the liar (team 0
    # argues a lie) is no sparse-pixel game, and the rule says so, naming the line
    swapped = next(t for t in back if t.roles == ["liar", "honest"])
    with pytest.raises(TranscriptError, match=rf"line \d+: transcript {swapped.id[:8]}\.\.: claims\[0\] is "):
        read_jsonl(tmp_path / "all.jsonl")


def test_migrates_on_every_backend(db_url, before):  # noqa: F811
    """The fixture's tables and rows, copied as they are into an empty database of each backend
    (a store of schema 2 there), migrate to schema 3 with one players row per debater."""
    old = sa.MetaData()
    source = sa.create_engine(f"sqlite:///{FIXTURE}")
    target = sa.create_engine(db_url)
    try:
        old.reflect(source)
        with source.connect() as src, target.begin() as dst:
            old.create_all(dst)
            for table in old.sorted_tables:  # parents before children (foreign keys)
                rows = [dict(r._mapping) for r in src.execute(sa.select(table))]
                if rows:
                    dst.execute(table.insert(), rows)
    finally:
        source.dispose()
        target.dispose()
    with Store(db_url) as store:
        assert store.schema_version == 4 and store.count_transcripts() == 9 and store.count_judgments() == 3
        assert store.count_transcripts(debater="expert") == 6 and store.count_transcripts(debater="human:bob") == 1
        players = store.players_of(r["id"] for r in before["transcripts"])
        for row in before["transcripts"]:
            body = json.loads(row["body_json"])
            assert [(p["role"], p["debater"], p["team"]) for p in players[row["id"]]] == \
                [(r, d, i) for i, (r, d) in enumerate(zip(body["roles"], body["debaters"]))]
            assert store.get_transcript(row["id"]).to_dict() == migrate_transcript_dict(body)
        cols = {c["name"] for c in sa.inspect(store.engine).get_columns("transcripts")}
        assert not cols & {"honest_debater", "liar_debater"}
    with Store(db_url) as store:  # a second open finds nothing to do
        assert store.schema_version == 4 and len(store.list_debaters()) == 5
