"""Tests for human judging in debate.records.storage: annotators, assignments, judgments, migration, export."""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing as mp
import sqlite3
import threading

import pytest
from db_urls import db_url  # noqa: F401  (the fixture: these tests run on SQLite and PostgreSQL)

from debate.records.storage import (
    CONFIDENCE_LEVELS,
    JUDGMENT_COLUMNS,
    STORE_SCHEMA_VERSION,
    StorageError,
    Store,
)
from debate.records.transcript import Transcript, Turn

# --------------------------------------------------------------------------- helpers


def make_transcript(seed: int = 0, *, claims=None, roles=("honest", "liar"), ground_truth=None, n_turns=3,
                    class_probs=True, winner=0, protocol="debate_precommit_honest_first", task="sparse_pixel",
                    experiment=None, created_at="") -> Transcript:
    """A small valid two-player transcript; ``created_at`` fixes the assignment order. For the
    sparse-pixel task it keeps the rules: turn ``i`` plays candidate ``i`` of the 2x2 image (nonzero
    pixels brightest first: (0, 1), (1, 0), (0, 0), (1, 1)) and reveals that pixel."""
    claims = [seed % 10, (seed + 3) % 10] if claims is None else list(claims)
    gt = claims[0] if ground_truth is None else ground_truth
    pixels = [50, 200, 120, 10]
    order = sorted(range(4), key=lambda j: -pixels[j])  # [1, 2, 0, 3]
    return Transcript(
        task=task,
        instance_id=f"mnist-test:{seed}",
        protocol=protocol,
        claims=claims,
        roles=list(roles),
        debaters=["honest-bot", "liar-bot"],
        judge="sparse-cnn-k6@ckpt/abc",
        first_player=0,
        turns=[
            Turn(i, i % 2, i, {"row": order[i] // 2, "col": order[i] % 2, "value": pixels[order[i]]}, [0.6, 0.4],
                 [0.1] * 10 if class_probs else None)
            for i in range(n_turns)
        ],
        winner=winner,
        verdict_claim=None if winner is None else (claims[winner] if claims[winner] is not None else 9),
        ground_truth=gt,
        seeds={"game": seed},
        instance={"height": 2, "width": 2, "pixels": pixels},
        experiment=experiment,
        created_at=created_at,
        meta={},
    )


def ts(i: int) -> str:
    return f"2024-01-01T00:00:{i:02d}.000000Z"


GOOD = dict(confidence=0.8, explanation="the loop at the top is closed", side_order="honest-left",
            seconds_spent=12.5, turns_seen=3, mode="stepped")


def judge(store: Store, t: Transcript, annotator_id: str, verdict=None, **kw) -> str:
    args = {**GOOD, **kw}
    return store.add_judgment(t.id, annotator_id, t.claims[0] if verdict is None else verdict, **args)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """For the tests about SQLite files themselves (the others run on both backends via db_url)."""
    return f"sqlite:///{tmp_path / 'debate.db'}"


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


# --------------------------------------------------------------------------- annotators


def test_annotators(store):
    a = store.get_or_create_annotator("  alice ")
    assert a["name"] == "alice" and len(a["id"]) == 32 and a["created_at"].endswith("Z")
    assert store.get_or_create_annotator("alice") == a
    b = store.get_or_create_annotator("Alice")  # names are case-sensitive
    assert b["id"] != a["id"]
    assert store.get_annotator(a["id"]) == a and store.get_annotator("nope") is None
    t = make_transcript(1)
    store.add_transcript(t)
    judge(store, t, a["id"])
    got = store.list_annotators()
    assert [(x["name"], x["n_judgments"]) for x in got] == [("alice", 1), ("Alice", 0)]
    assert store.get_or_create_annotator("x" * 64)["name"] == "x" * 64


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, None, 7])
def test_bad_annotator_name(store, name):
    with pytest.raises(StorageError) as ei:
        store.get_or_create_annotator(name)
    msg = str(ei.value)
    assert "annotator name" in msg and "\n" not in msg
    assert store.list_annotators() == []


# --------------------------------------------------------------------------- assignments


def test_assignment_order_target_and_done(store):
    empty = make_transcript(0, n_turns=0, created_at=ts(0))  # oldest, but has no turns: never assigned
    t = [make_transcript(i + 1, created_at=ts(i + 1)) for i in range(4)]
    store.add_transcripts([empty, *t])
    A, B, C = (store.get_or_create_annotator(n)["id"] for n in "ABC")

    def nxt(a):
        got = store.next_assignment(a, target_judgments_per_debate=2)
        return None if got is None else got.id

    assert nxt(A) == t[0].id          # least judged, oldest
    assert nxt(A) == t[0].id          # asking again (page reload) gives the same debate
    assert store.next_assignment(A, 2).claims == t[0].claims  # a full Transcript
    judge(store, t[0], A)
    assert nxt(A) == t[1].id          # never the same debate twice
    judge(store, t[1], A)
    assert nxt(B) == t[2].id          # t0, t1 have one judgment each: t2, t3 have none
    judge(store, t[2], B)
    assert nxt(B) == t[3].id
    judge(store, t[3], B)
    assert nxt(B) == t[0].id          # all at one judgment: oldest first
    judge(store, t[0], B)
    assert nxt(B) == t[1].id
    judge(store, t[1], B)
    assert nxt(B) is None             # B judged everything
    assert nxt(C) == t[2].id          # t0, t1 reached the target of 2
    judge(store, t[2], C)
    assert nxt(C) == t[3].id
    judge(store, t[3], C)
    assert nxt(C) is None and nxt(A) is None  # every debate has its 2 judgments
    assert all(store.count_judgments(transcript_id=x.id) == 2 for x in t)
    assert store.count_judgments(transcript_id=empty.id) == 0
    assert store.next_assignment(A, target_judgments_per_debate=3).id in {t[2].id, t[3].id}


def test_assignment_filters_and_bad_arguments(store):
    e = store.create_experiment("human", "debate", {})
    a = make_transcript(1, created_at=ts(1))
    b = make_transcript(2, protocol="debate_no_precommit_honest_first", claims=[2, None], created_at=ts(2))
    c = make_transcript(3, task="other", created_at=ts(3))
    store.add_transcripts([a, b], experiment_id=e)
    store.add_transcripts([c])
    ann = store.get_or_create_annotator("ann")["id"]
    assert store.next_assignment(ann, experiment_id=e, protocol="debate_no_precommit_honest_first").id == b.id
    assert store.next_assignment(ann, task="other").id == c.id
    assert store.next_assignment(ann, experiment_id="no-such-experiment") is None
    with pytest.raises(StorageError, match="annotator 'ghost' does not exist"):
        store.next_assignment("ghost")
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(StorageError, match="target_judgments_per_debate must be an integer >= 1"):
            store.next_assignment(ann, target_judgments_per_debate=bad)


def test_reservations_spread_people(db_url):
    t = [make_transcript(i, created_at=ts(i)) for i in range(2)]
    with Store(db_url) as s:
        s.add_transcripts(t)
        A, B, C = (s.get_or_create_annotator(n)["id"] for n in "ABC")
        # target 1: a debate handed out is held for its annotator
        assert s.next_assignment(A, 1).id == t[0].id
        assert s.next_assignment(B, 1).id == t[1].id
        assert s.next_assignment(C, 1) is None
        assert s.release_assignment(A) == 1
        assert s.next_assignment(C, 1).id == t[0].id
        judge(s, t[0], C)
        assert s.release_assignment(C) == 0  # a judged debate is no longer held
        assert s.next_assignment(A, 1) is None
    with pytest.raises(StorageError, match="assignment_ttl_s"):
        Store(db_url, assignment_ttl_s=-1)


def test_reservations_lapse(tmp_path):
    t = [make_transcript(i, created_at=ts(i)) for i in range(2)]
    with Store(f"sqlite:///{tmp_path / 'ttl0.db'}", assignment_ttl_s=0) as s:
        s.add_transcripts(t)
        D, E = (s.get_or_create_annotator(n)["id"] for n in "DE")
        assert s.next_assignment(D, 1).id == t[0].id
        # D's reservation lapsed at once (assignment_ttl_s=0), so E is offered the same debate
        assert s.next_assignment(E, 1).id == t[0].id
        judge(s, t[0], E)
        assert s.next_assignment(D, 1).id == t[1].id


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs, message", [
    ({"confidence": 0.5}, "confidence 0.5 is not allowed: pick a side (0.05-0.45 or 0.55-0.95 in steps of 0.05)"),
    ({"confidence": 0.97}, "confidence 0.97 is not allowed: use 0.05-0.45 or 0.55-0.95 in steps of 0.05"),
    ({"confidence": 0.33}, "confidence 0.33 is not allowed"),
    ({"confidence": 0.0}, "confidence 0.0 is not allowed"),
    ({"confidence": 1.0}, "confidence 1.0 is not allowed"),
    ({"confidence": float("nan")}, "confidence must be a number"),
    ({"confidence": "0.8"}, "confidence must be a number"),
    ({"confidence": True}, "confidence must be a number"),
    ({"explanation": "   \n "}, "explanation must not be blank"),
    ({"explanation": ""}, "explanation must not be blank"),
    ({"explanation": None}, "explanation must be a string"),
    ({"explanation": "x" * 2001}, "explanation is 2001 characters long; shorten it to at most 2000"),
    ({"verdict": 5}, "verdict_claim 5 is not one of this debate's claims; choose 1 or 4"),
    ({"verdict": "1"}, "verdict_claim must be an integer"),
    ({"side_order": "left"}, "side_order 'left' is not allowed; use 'honest-left' or 'honest-right'"),
    ({"mode": "auto"}, "mode 'auto' is not allowed; use 'stepped' or 'live'"),
    ({"seconds_spent": -1}, "seconds_spent must be a finite number >= 0"),
    ({"seconds_spent": float("inf")}, "seconds_spent must be a finite number >= 0"),
    ({"turns_seen": -1}, "turns_seen must be an integer >= 0"),
    ({"turns_seen": 2.0}, "turns_seen must be an integer >= 0"),
    ({"turns_seen": 4}, "turns_seen 4 is more than this debate's 3 turns; pass a number in 0..3"),
    ({"transcript_id": "nope"}, "transcript 'nope' does not exist in this database"),
    ({"annotator_id": "ghost"}, "annotator 'ghost' does not exist in this database"),
    ({"transcript_id": ""}, "transcript_id must be a non-empty string id"),
])
def test_bad_judgment_writes_nothing(store, kwargs, message):
    kwargs = dict(kwargs)  # the parameter dict is shared by both backends' runs
    t = make_transcript(1)  # claims 1 (honest) and 4 (liar)
    store.add_transcript(t)
    ann = store.get_or_create_annotator("ann")["id"]
    args = {**GOOD, "transcript_id": t.id, "annotator_id": ann, "verdict_claim": t.claims[0]}
    if "verdict" in kwargs:
        args["verdict_claim"] = kwargs.pop("verdict")
    args.update(kwargs)
    with pytest.raises(StorageError) as ei:
        store.add_judgment(**args)
    msg = str(ei.value)
    assert message in msg, msg
    assert "\n" not in msg
    assert store.count_judgments() == 0


def test_confidence_grid_and_cleaning(store):
    t = [make_transcript(i) for i in range(len(CONFIDENCE_LEVELS) + 1)]
    store.add_transcripts(t)
    ann = store.get_or_create_annotator("ann")["id"]
    assert len(CONFIDENCE_LEVELS) == 18 and 0.5 not in CONFIDENCE_LEVELS
    for x, c in zip(t, CONFIDENCE_LEVELS):
        judge(store, x, ann, confidence=c)
    judge(store, t[-1], ann, confidence=0.1 + 0.05, explanation="  " + "y" * 2000 + "\n", turns_seen=0,
          mode="live", side_order="honest-right", seconds_spent=0)
    rows = store.query_judgments(annotator_id=ann)
    assert [r["confidence"] for r in rows[:-1]] == list(CONFIDENCE_LEVELS)
    last = rows[-1]
    assert last["confidence"] == 0.15  # 0.15000000000000002 stored on the grid
    assert last["explanation"] == "y" * 2000  # stripped, and 2000 characters are allowed
    assert (last["mode"], last["side_order"], last["turns_seen"], last["seconds_spent"]) == (
        "live", "honest-right", 0, 0.0)


def test_duplicate_submit_is_refused(store):
    t = make_transcript(1)
    store.add_transcript(t)
    ann = store.get_or_create_annotator("bob")["id"]
    jid = judge(store, t, ann, confidence=0.9)
    with pytest.raises(StorageError) as ei:
        judge(store, t, ann, verdict=t.claims[1], confidence=0.2)
    assert str(ei.value) == (
        f"annotator 'bob' has already judged transcript {t.id}; each person judges a debate once, "
        "so this judgment was not stored"
    )
    rows = store.query_judgments()
    assert len(rows) == 1 and rows[0]["id"] == jid
    assert rows[0]["confidence"] == 0.9 and rows[0]["verdict_claim"] == t.claims[0]


# --------------------------------------------------------------------------- derived fields


def test_verdict_role_is_the_role_of_the_team_of_the_claim(store):
    """Claim c is argued by team c: with teams, the verdict's role is that team's role."""
    from debate.records.transcript import Player, players_from_roles

    # teams and a lone consultant are no sparse-pixel game (two players, team 0 honest): a task without rules
    teams = make_transcript(1, claims=[3, 7], winner=1, task="team_game")
    teams.players = players_from_roles(["liar", "honest", "liar"], ["x", "y", "z"], teams=[1, 0, 1])
    consult = make_transcript(2, claims=[2, 5], ground_truth=2, winner=1, task="team_game")  # one consultant, claim 1
    consult.players = [Player(0, 1, "liar", "consultant")]
    consult.turns = [dataclasses.replace(x, player=0) for x in consult.turns]
    store.add_transcripts([teams, consult])
    a = store.get_or_create_annotator("a")["id"]
    judge(store, teams, a, verdict=3)
    judge(store, consult, a, verdict=2)
    got = {r["transcript_id"]: r for r in store.query_judgments()}
    assert (got[teams.id]["verdict_role"], got[teams.id]["correct"]) == ("honest", True)
    assert got[teams.id]["model_winner_role"] == "liar"  # team 1 won, whose players are liars
    assert (got[consult.id]["verdict_role"], got[consult.id]["correct"]) == ("team 0", True)
    assert store.count_transcripts(debater="z") == 1 and store.get_transcript(teams.id).teams == [1, 0, 1]


def test_derived_fields_precommit(store):
    e = store.create_experiment("human", "debate", {})
    t = make_transcript(1, claims=[3, 7], winner=1)                       # model judge chose the lie
    # player 0 the liar: the sparse-pixel game always seats the honest team first, so a task without rules
    swapped = make_transcript(2, claims=[7, 3], roles=("liar", "honest"), ground_truth=3, winner=1, task="team_game")
    store.add_transcripts([t, swapped], experiment_id=e)
    a, b = (store.get_or_create_annotator(n)["id"] for n in ("a", "b"))
    judge(store, t, a, verdict=3)
    judge(store, t, b, verdict=7)
    judge(store, swapped, a, verdict=3)
    judge(store, swapped, b, verdict=7)
    got = {(r["transcript_id"], r["annotator_id"]): r for r in store.query_judgments()}
    assert (got[t.id, a]["verdict_role"], got[t.id, a]["correct"]) == ("honest", True)
    assert (got[t.id, b]["verdict_role"], got[t.id, b]["correct"]) == ("liar", False)
    assert (got[swapped.id, a]["verdict_role"], got[swapped.id, a]["correct"]) == ("honest", True)
    assert (got[swapped.id, b]["verdict_role"], got[swapped.id, b]["correct"]) == ("liar", False)
    r = got[t.id, a]
    assert r["model_verdict_claim"] == 7 and r["model_correct"] is False and r["model_winner_role"] == "liar"
    assert (r["task"], r["protocol"], r["experiment_id"], r["ground_truth"]) == (
        "sparse_pixel", "debate_precommit_honest_first", e, 3)
    assert r["annotator_name"] == "a" and r["model_judge"] == t.judge and r["instance_id"] == t.instance_id
    assert list(r) == list(JUDGMENT_COLUMNS)
    assert got[swapped.id, b]["model_winner_role"] == "honest" and got[swapped.id, b]["model_correct"] is True


def test_derived_fields_no_precommit(store):
    proto = "debate_no_precommit_honest_first"
    t = make_transcript(1, claims=[3, None], protocol=proto, winner=None)  # judge_class_probs: 10 classes
    bare = make_transcript(2, claims=[3, None], protocol=proto, class_probs=False)
    store.add_transcripts([t, bare])
    a, b, c = (store.get_or_create_annotator(n)["id"] for n in "abc")
    judge(store, t, a, verdict=3)
    judge(store, t, b, verdict=5)
    judge(store, t, c, verdict=9)
    for bad, msg in ((10, "choose a class id in 0..9"), (-1, "choose a class id in 0..9")):
        with pytest.raises(StorageError, match=msg):
            judge(store, t, store.get_or_create_annotator("d")["id"], verdict=bad)
    judge(store, bare, a, verdict=42)  # no class distribution stored: any class id >= 0
    with pytest.raises(StorageError, match="not a class id"):
        judge(store, bare, b, verdict=-2)
    got = {(r["transcript_id"], r["annotator_id"]): r for r in store.query_judgments()}
    assert (got[t.id, a]["verdict_role"], got[t.id, a]["correct"]) == ("honest", True)
    assert (got[t.id, b]["verdict_role"], got[t.id, b]["correct"]) == ("liar", False)
    assert (got[t.id, c]["verdict_role"], got[t.id, c]["correct"]) == ("liar", False)
    assert got[t.id, a]["model_verdict_claim"] is None and got[t.id, a]["model_correct"] is None
    assert (got[bare.id, a]["verdict_role"], got[bare.id, a]["correct"]) == ("liar", False)
    assert len(got) == 4


def test_query_and_count_filters(store):
    e1, e2 = store.create_experiment("a", "debate", {}), store.create_experiment("b", "debate", {})
    t1 = make_transcript(1)
    t2 = make_transcript(2, protocol="debate_precommit_liar_first")
    t3 = make_transcript(3)
    store.add_transcripts([t1, t2], experiment_id=e1)
    store.add_transcripts([t3], experiment_id=e2)
    a, b = (store.get_or_create_annotator(n)["id"] for n in "ab")
    for t in (t1, t2, t3):
        judge(store, t, a)
    judge(store, t1, b)
    assert store.count_judgments() == 4
    assert store.count_judgments(annotator_id=a) == 3 and store.count_judgments(annotator_id=b) == 1
    assert store.count_judgments(transcript_id=t1.id) == 2
    assert store.count_judgments(experiment_id=e1) == 3 and store.count_judgments(experiment_id=e2) == 1
    assert store.count_judgments(protocol="debate_precommit_liar_first") == 1
    assert store.count_judgments(experiment_id=e1, annotator_id=b) == 1
    rows = store.query_judgments(experiment_id=e1, protocol="debate_precommit_honest_first")
    assert {(r["transcript_id"], r["annotator_name"]) for r in rows} == {(t1.id, "a"), (t1.id, "b")}
    assert store.query_judgments(annotator_id="nobody") == []


# --------------------------------------------------------------------------- migration from schema 1

V1_DDL = """
CREATE TABLE schema_meta (key VARCHAR(64) NOT NULL, value VARCHAR(255) NOT NULL, PRIMARY KEY (key));
CREATE TABLE experiments (id VARCHAR(64) NOT NULL, name VARCHAR(255) NOT NULL, kind VARCHAR(64) NOT NULL,
    config_json TEXT NOT NULL, created_at VARCHAR(40) NOT NULL, PRIMARY KEY (id));
CREATE TABLE transcripts (id VARCHAR(64) NOT NULL, experiment_id VARCHAR(64), task VARCHAR(128) NOT NULL,
    protocol VARCHAR(128) NOT NULL, instance_id VARCHAR(255) NOT NULL, honest_debater VARCHAR(255),
    liar_debater VARCHAR(255), judge VARCHAR(512) NOT NULL, winner_role VARCHAR(32),
    ground_truth INTEGER NOT NULL, created_at VARCHAR(40) NOT NULL, body_json TEXT NOT NULL,
    PRIMARY KEY (id), FOREIGN KEY(experiment_id) REFERENCES experiments (id));
CREATE INDEX ix_transcripts_experiment_id ON transcripts (experiment_id);
CREATE INDEX ix_transcripts_task ON transcripts (task);
CREATE INDEX ix_transcripts_protocol ON transcripts (protocol);
INSERT INTO schema_meta VALUES ('schema_version', '1');
"""


def v1_body(t: Transcript, experiment_id: str | None) -> dict:
    """``t`` as transcript schema 1 wrote it (parallel roles / debaters lists, one claim per player)."""
    out = {}
    for k, v in {**t.to_dict(), "experiment": experiment_id}.items():
        if k == "players":
            out["roles"], out["debaters"] = t.roles, t.debaters
        else:
            out[k] = 1 if k == "schema_version" else v
    return out


def write_v1_db(path, transcripts_, experiment_id="exp-1") -> None:
    """A database exactly as the version-1 code left it (no judging tables, no num_turns, the
    debaters in honest_debater / liar_debater, transcript bodies of schema 1)."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.executescript(V1_DDL)
    con.execute("INSERT INTO experiments VALUES (?, 'old', 'debate', '{}', ?)", (experiment_id, ts(0)))
    for t in transcripts_:
        body = v1_body(t, experiment_id)
        con.execute(
            "INSERT INTO transcripts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (t.id, experiment_id, t.task, t.protocol, t.instance_id, t.debater_of_role("honest"),
             t.debater_of_role("liar"), t.judge, t.winner_role, t.ground_truth, t.created_at,
             json.dumps(body, separators=(",", ":"))),
        )
    con.commit()
    con.close()


def test_migrates_version_1_database(tmp_path):
    path = tmp_path / "v1.db"
    old = [make_transcript(i, created_at=ts(i + 1), experiment="exp-1") for i in range(3)]
    no_turns = make_transcript(9, n_turns=0, created_at=ts(0), experiment="exp-1")
    write_v1_db(path, [*old, no_turns])
    con = sqlite3.connect(path)  # a body the migration cannot read: its players come from the old columns
    con.execute("UPDATE transcripts SET body_json = '{not json', honest_debater = 'h', liar_debater = NULL "
                "WHERE id = ?", (no_turns.id,))
    con.commit()
    con.close()
    url = f"sqlite:///{path}"
    with Store(url) as s:
        assert s.schema_version == STORE_SCHEMA_VERSION == 4
        assert s.count_transcripts() == 4 and s.count_transcripts(experiment_id="exp-1") == 4
        assert s.count_transcripts(debater="honest-bot") == 3 and s.count_transcripts(debater="liar-bot") == 3
        assert s.count_transcripts(debater="h") == 1
        for t in old:
            assert dataclasses.asdict(s.get_transcript(t.id)) == dataclasses.asdict(t)
        assert [e["id"] for e in s.list_experiments()] == ["exp-1"]
        ann = s.get_or_create_annotator("carol")["id"]
        got = s.next_assignment(ann, 1)
        assert got.id == old[0].id  # the older transcript without turns is skipped
        judge(s, got, ann)
        assert s.query_judgments()[0]["experiment_id"] == "exp-1"
        new = make_transcript(20)
        s.add_transcripts([new])  # new rows work next to migrated ones
    con = sqlite3.connect(path)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"annotators", "judgments", "assignments"} <= tables
        assert "transcript_players" in tables
        turns = dict(con.execute("SELECT id, num_turns FROM transcripts"))
        assert turns[old[0].id] == 3 and turns[no_turns.id] == 0 and len(turns) == 5
        idx = {r[1] for r in con.execute("PRAGMA index_list('transcripts')")}
        assert "ix_transcripts_num_turns" in idx
        cols = {r[1] for r in con.execute("PRAGMA table_info('transcripts')")}
        assert not cols & {"honest_debater", "liar_debater"}  # replaced by transcript_players
        players = con.execute("SELECT transcript_id, player_id, team, role, debater FROM transcript_players "
                              "ORDER BY transcript_id, player_id").fetchall()
        expected = [(t.id, 0, 0, "honest", "honest-bot") for t in old] + [(t.id, 1, 1, "liar", "liar-bot") for t in old]
        expected += [(no_turns.id, 0, 0, "honest", "h")]  # from the old columns (its body is unreadable)
        expected += [(new.id, p, p, r, d) for p, (r, d) in enumerate([("honest", "honest-bot"), ("liar", "liar-bot")])]
        assert sorted(players) == sorted(expected)
        bodies = dict(con.execute("SELECT id, body_json FROM transcripts"))
        assert all(json.loads(bodies[t.id])["schema_version"] == 2 for t in old)  # rewritten as schema 2
        assert json.loads(bodies[old[0].id]) == {**old[0].to_dict(), "experiment": "exp-1"}
        assert bodies[no_turns.id] == "{not json"  # an unreadable body is left as it was
    finally:
        con.close()
    with Store(url) as s:  # opening again changes nothing
        assert s.schema_version == 4 and s.count_transcripts() == 5 and s.count_judgments() == 1
        assert s.count_transcripts(debater="honest-bot") == 4


def test_rows_from_version_1_code_are_still_assignable(sqlite_url):
    """A version-1 process that opened the file before the migration writes num_turns = NULL."""
    db_url, store = sqlite_url, Store(sqlite_url)
    t = make_transcript(1)
    empty = make_transcript(2, n_turns=0)
    store.add_transcripts([t, empty])
    con = sqlite3.connect(db_url[len("sqlite:///"):])
    con.execute("UPDATE transcripts SET num_turns = NULL")
    con.commit()
    con.close()
    ann = store.get_or_create_annotator("ann")["id"]
    assert store.next_assignment(ann).id == t.id
    judge(store, t, ann)
    assert store.next_assignment(ann) is None


# --------------------------------------------------------------------------- export


def _normalise(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if v in ("True", "False"):
        return v == "True"
    return v


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_round_trip(store, tmp_path, fmt):
    pd = pytest.importorskip("pandas")
    e = store.create_experiment("human", "debate", {})
    t1 = make_transcript(1, winner=1)
    t2 = make_transcript(2, claims=[2, None], protocol="debate_no_precommit_honest_first", winner=None)
    store.add_transcripts([t1], experiment_id=e)
    store.add_transcripts([t2])  # no experiment: missing values in the export
    a, b = (store.get_or_create_annotator(n)["id"] for n in ("ann", "Zoë, \"the judge\""))
    judge(store, t1, a, confidence=0.65, explanation='commas, "quotes",\nnewlines and ünïcode')
    judge(store, t1, b, verdict=t1.claims[1], confidence=0.05, seconds_spent=3)
    judge(store, t2, a, verdict=7, mode="live", turns_seen=1)
    expected = store.query_judgments()
    path = tmp_path / f"judgments.{fmt}"
    assert store.export_judgments(path, fmt) == 3
    strings = {k: str for k, t in JUDGMENT_COLUMNS.items() if t == "string"}
    if fmt == "jsonl":
        df = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    elif fmt == "csv":
        df = pd.read_csv(path, dtype=strings)
    else:
        df = pd.read_parquet(path)
    assert list(df.columns) == list(JUDGMENT_COLUMNS)
    back = [{k: _normalise(v) for k, v in row.items()} for row in df.to_dict("records")]
    assert back == expected
    # filters and a format taken from the file name
    assert store.export_judgments(tmp_path / "only_e.parquet", experiment_id=e) == 2
    assert len(pd.read_parquet(tmp_path / "only_e.parquet")) == 2


def test_export_errors(store, tmp_path):
    with pytest.raises(StorageError, match="export format 'xlsx' is not supported; use jsonl, csv, parquet"):
        store.export_judgments(tmp_path / "x.xlsx")
    with pytest.raises(StorageError, match="unknown judgment filter"):
        store.export_judgments(tmp_path / "x.csv", "csv", colour="red")
    with pytest.raises(StorageError, match="check that its directory exists"):
        store.export_judgments(tmp_path / "no" / "dir.jsonl", "jsonl")
    assert store.export_judgments(tmp_path / "empty.csv", "csv") == 0  # header only
    assert (tmp_path / "empty.csv").read_text().startswith("id,transcript_id,")
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


# --------------------------------------------------------------------------- concurrency


def _run_threads(n, fn):
    errors, barrier = [], threading.Barrier(n)

    def work(k):
        try:
            barrier.wait()
            fn(k)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


def test_eight_threads_own_stores_lose_nothing(store, db_url):
    t = [make_transcript(i) for i in range(5)]
    store.add_transcripts(t)
    anns = [store.get_or_create_annotator(f"person-{k}")["id"] for k in range(8)]

    def work(k):
        with Store(db_url) as s:
            for x in t:
                judge(s, x, anns[k], confidence=CONFIDENCE_LEVELS[k])
                s.count_judgments()

    assert _run_threads(8, work) == []
    assert store.count_judgments() == 8 * 5
    assert all(store.count_judgments(annotator_id=a) == 5 for a in anns)


def test_same_judgment_raced_from_two_threads(store, db_url):
    rounds = 4
    t = [make_transcript(i) for i in range(rounds)]
    store.add_transcripts(t)
    ann = store.get_or_create_annotator("double-clicker")["id"]
    stores = [Store(db_url) for _ in range(2)]
    try:
        for x in t:
            results = []

            def work(k, x=x):
                try:
                    results.append(judge(stores[k], x, ann))
                except StorageError as e:
                    results.append(e)

            assert _run_threads(2, work) == []
            ids = [r for r in results if isinstance(r, str)]
            errs = [r for r in results if isinstance(r, StorageError)]
            assert len(ids) == 1 and len(errs) == 1, results
            assert "has already judged" in str(errs[0])
            assert store.count_judgments(transcript_id=x.id) == 1
    finally:
        for s in stores:
            s.close()
    assert store.count_judgments() == rounds


def test_concurrent_assignments_go_to_different_debates(store, db_url):
    t = [make_transcript(i, created_at=ts(i)) for i in range(8)]
    store.add_transcripts(t)
    anns = [store.get_or_create_annotator(f"p{k}")["id"] for k in range(9)]
    got = {}

    def work(k):
        with Store(db_url) as s:
            x = s.next_assignment(anns[k], target_judgments_per_debate=1)
            got[k] = x.id
            judge(s, x, anns[k])

    assert _run_threads(8, work) == []
    assert sorted(got.values()) == sorted(x.id for x in t)  # 8 people, 8 different debates
    assert store.next_assignment(anns[8], 1) is None
    assert store.count_judgments() == 8


def _process_judge(url: str, worker: int, queue) -> None:
    try:
        with Store(url) as s:
            ann = s.get_or_create_annotator(f"process-{worker}")["id"]
            n = 0
            while (t := s.next_assignment(ann, target_judgments_per_debate=2)) is not None:
                s.add_judgment(t.id, ann, t.claims[worker % 2], 0.7, f"worker {worker}", "honest-left", 1.0, 1)
                n += 1
        queue.put(("ok", n))
    except BaseException as e:  # noqa: BLE001
        queue.put(("error", repr(e)))


def test_two_processes_judge_one_file(store, db_url):
    t = [make_transcript(i) for i in range(10)]
    store.add_transcripts(t)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_judge, args=(db_url, w, queue)) for w in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == [("ok", 10), ("ok", 10)], results
    assert store.count_judgments() == 20
    assert all(store.count_judgments(transcript_id=x.id) == 2 for x in t)
    rows = store.query_judgments()
    assert sum(r["verdict_role"] == "honest" for r in rows) == 10
