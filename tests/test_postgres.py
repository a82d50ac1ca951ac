"""The key behaviours of tests/test_storage.py and tests/test_judgments.py, on SQLite and PostgreSQL.

Every test runs twice through the ``db_url`` fixture of tests/db_urls.py: on a fresh SQLite file and
on a fresh PostgreSQL database (created per test on the server named by $DEBATE_TEST_POSTGRES_URL,
dropped afterwards). Without that variable the PostgreSQL runs are skipped, or fail under CI, where
.ci/run starts the server. The transcripts and helpers are those of the SQLite-only test files.
"""

from __future__ import annotations

import json
import threading

import pytest
from db_urls import db_url  # noqa: F401  (the fixture: sqlite and postgresql)
from test_judgments import GOOD, _run_threads, judge, make_transcript, ts
from test_storage import assert_same
from test_storage import make_transcript as make_stored

from debate.storage import CONFIDENCE_LEVELS, JUDGMENT_COLUMNS, STORE_SCHEMA_VERSION, StorageError, Store
from debate.transcript import read_jsonl


@pytest.fixture
def store(db_url):  # noqa: F811
    s = Store(db_url)
    yield s
    s.close()


# --------------------------------------------------------------------------- transcripts


def test_round_trip_and_reopen(store, db_url):  # noqa: F811
    ts_ = [make_stored(i, winner=[0, 1, None][i % 3]) for i in range(5)]
    assert store.add_transcripts(ts_) == 5
    for t in ts_:
        assert_same(store.get_transcript(t.id), t)
    assert store.get_transcript("no-such-id") is None
    assert sorted(x.id for x in store.query_transcripts()) == sorted(t.id for t in ts_)
    with Store(db_url) as again:  # a second Store on the same database: schema kept, nothing migrated twice
        assert again.schema_version == STORE_SCHEMA_VERSION
        assert again.count_transcripts() == 5
        assert_same(again.get_transcript(ts_[3].id), ts_[3])


def test_filters_and_counts(store):
    e1 = store.create_experiment("a", "debate", {"k": 6, "sims": [16, 128]})
    e2 = store.create_experiment("b", "debate", {})
    a = [make_stored(i, winner=i % 2) for i in range(6)]
    b = [make_stored(100 + i, task="other_task", protocol="debate_no_precommit", winner=None) for i in range(4)]
    c = [make_stored(200 + i) for i in range(3)]
    assert store.add_transcripts(a, experiment_id=e1) == 6
    assert store.add_transcripts(b, experiment_id=e2) == 4
    assert store.add_transcripts(c) == 3
    assert [e["id"] for e in store.list_experiments()] == [e1, e2]
    assert store.get_experiment(e1)["config"] == {"k": 6, "sims": [16, 128]}
    assert store.get_transcript(a[0].id).experiment == e1 and store.get_transcript(c[0].id).experiment is None
    assert store.count_transcripts() == 13
    assert store.count_transcripts(experiment_id=e1) == 6 and store.count_transcripts(experiment_id=e2) == 4
    assert store.count_transcripts(task="other_task") == 4
    assert store.count_transcripts(protocol="debate_precommit_honest_first") == 9
    assert store.count_transcripts(winner_role="honest") == 6 and store.count_transcripts(winner_role="liar") == 3
    assert store.count_transcripts(experiment_id=e1, winner_role="liar") == 3
    got = store.query_transcripts(experiment_id=e1, winner_role="honest")
    assert sorted(t.id for t in got) == sorted(t.id for t in a if t.honest_won)
    assert len(store.query_transcripts(limit=5)) == 5 and store.query_transcripts(limit=0) == []
    with pytest.raises(StorageError, match="does not exist"):
        store.add_transcripts([make_stored(300)], experiment_id="nope")
    assert store.count_transcripts() == 13


def test_failed_batch_writes_nothing(store):
    first = [make_stored(i) for i in range(3)]
    store.add_transcripts(first)
    batch = [make_stored(10), make_stored(11), first[1]]
    with pytest.raises(StorageError, match=f"transcript id {first[1].id} is already stored"):
        store.add_transcripts(batch)
    assert store.count_transcripts() == 3 and store.get_transcript(batch[0].id) is None
    assert store.add_transcripts(batch, skip_existing=True) == 2
    assert store.count_transcripts() == 5


def test_export_jsonl(store, tmp_path):
    e = store.create_experiment("a", "debate", {})
    ts_ = [make_stored(i, winner=i % 2) for i in range(8)]
    store.add_transcripts(ts_, experiment_id=e)
    store.add_transcripts([make_stored(50)])
    p = tmp_path / "out.jsonl"
    assert store.export_jsonl(p, experiment_id=e) == 8
    stored = {t.id: t for t in store.query_transcripts(experiment_id=e)}
    back = read_jsonl(p)
    assert len(back) == 8
    for t in back:
        assert_same(t, stored[t.id])
    assert store.export_jsonl(p, experiment_id=e, winner_role="liar") == 4
    assert store.export_jsonl(tmp_path / "all.jsonl") == 9


def test_many_threads_own_stores_add_transcripts(store, db_url):  # noqa: F811
    n_threads, per_thread = 4, 10

    def work(k):
        with Store(db_url) as s:
            for i in range(per_thread):
                s.add_transcripts([make_stored(k * 1000 + i)])

    assert _run_threads(n_threads, work) == []
    assert store.count_transcripts() == n_threads * per_thread


def test_stores_opened_at_once_on_an_empty_database(db_url):  # noqa: F811
    """Like two processes creating one SQLite file: the tables are created exactly once, no error."""
    def work(k):
        with Store(db_url) as s:
            s.add_transcripts([make_stored(k)])

    assert _run_threads(4, work) == []
    with Store(db_url) as s:
        assert s.count_transcripts() == 4 and s.schema_version == STORE_SCHEMA_VERSION


# --------------------------------------------------------------------------- annotators


def test_annotators(store):
    a = store.get_or_create_annotator("  alice ")
    assert a["name"] == "alice" and len(a["id"]) == 32 and a["created_at"].endswith("Z")
    assert store.get_or_create_annotator("alice") == a
    b = store.get_or_create_annotator("Alice")  # case-sensitive
    assert b["id"] != a["id"]
    assert store.get_annotator(a["id"]) == a and store.get_annotator("nope") is None
    t = make_transcript(1)
    store.add_transcript(t)
    judge(store, t, a["id"])
    assert [(x["name"], x["n_judgments"]) for x in store.list_annotators()] == [("alice", 1), ("Alice", 0)]
    assert store.get_or_create_annotator("x" * 64)["name"] == "x" * 64
    for bad in ("", "   ", "x" * 65, None):
        with pytest.raises(StorageError, match="annotator name"):
            store.get_or_create_annotator(bad)
    assert len(store.list_annotators()) == 3


def test_same_annotator_created_from_many_threads(store, db_url):  # noqa: F811
    got = {}

    def work(k):
        with Store(db_url) as s:
            got[k] = s.get_or_create_annotator("same-person")["id"]

    assert _run_threads(6, work) == []
    assert len(set(got.values())) == 1
    assert [a["name"] for a in store.list_annotators()] == ["same-person"]


# --------------------------------------------------------------------------- assignments


def test_assignment_order_target_and_done(store):
    empty = make_transcript(0, n_turns=0, created_at=ts(0))  # oldest, but no turns: never assigned
    t = [make_transcript(i + 1, created_at=ts(i + 1)) for i in range(4)]
    store.add_transcripts([empty, *t])
    A, B, C = (store.get_or_create_annotator(n)["id"] for n in "ABC")

    def nxt(a):
        got = store.next_assignment(a, target_judgments_per_debate=2)
        return None if got is None else got.id

    assert nxt(A) == t[0].id and nxt(A) == t[0].id  # asking again gives the same debate
    judge(store, t[0], A)
    assert nxt(A) == t[1].id
    judge(store, t[1], A)
    assert nxt(B) == t[2].id
    judge(store, t[2], B)
    assert nxt(B) == t[3].id
    judge(store, t[3], B)
    assert nxt(B) == t[0].id
    judge(store, t[0], B)
    assert nxt(B) == t[1].id
    judge(store, t[1], B)
    assert nxt(B) is None
    assert nxt(C) == t[2].id
    judge(store, t[2], C)
    assert nxt(C) == t[3].id
    judge(store, t[3], C)
    assert nxt(C) is None and nxt(A) is None
    assert all(store.count_judgments(transcript_id=x.id) == 2 for x in t)
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
    with pytest.raises(StorageError, match="target_judgments_per_debate must be an integer >= 1"):
        store.next_assignment(ann, target_judgments_per_debate=0)


def test_reservations_spread_people_and_lapse(store, db_url):  # noqa: F811
    t = [make_transcript(i, created_at=ts(i)) for i in range(2)]
    store.add_transcripts(t)
    A, B, C = (store.get_or_create_annotator(n)["id"] for n in "ABC")
    assert store.next_assignment(A, 1).id == t[0].id
    assert store.next_assignment(B, 1).id == t[1].id
    assert store.next_assignment(C, 1) is None
    assert store.release_assignment(A) == 1
    assert store.next_assignment(C, 1).id == t[0].id
    judge(store, t[0], C)
    assert store.release_assignment(C) == 0
    assert store.next_assignment(A, 1) is None
    with Store(db_url, assignment_ttl_s=0) as lapsing:  # reservations lapse at once
        D, E = (lapsing.get_or_create_annotator(n)["id"] for n in "DE")
        lapsing.release_assignment(B)
        assert lapsing.next_assignment(D, 1).id == t[1].id
        assert lapsing.next_assignment(E, 1).id == t[1].id


def test_concurrent_assignments_go_to_different_debates(store, db_url):  # noqa: F811
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


# --------------------------------------------------------------------------- judgments


BAD_JUDGMENTS = [
    ({"confidence": 0.5}, "confidence 0.5 is not allowed: pick a side"),
    ({"confidence": 0.97}, "confidence 0.97 is not allowed"),
    ({"confidence": float("nan")}, "confidence must be a number"),
    ({"explanation": "   \n "}, "explanation must not be blank"),
    ({"explanation": "x" * 2001}, "explanation is 2001 characters long; shorten it to at most 2000"),
    ({"verdict_claim": 5}, "verdict_claim 5 is not one of this debate's claims; choose 1 or 4"),
    ({"side_order": "left"}, "side_order 'left' is not allowed"),
    ({"mode": "auto"}, "mode 'auto' is not allowed"),
    ({"seconds_spent": -1}, "seconds_spent must be a finite number >= 0"),
    ({"turns_seen": 4}, "turns_seen 4 is more than this debate's 3 turns"),
    ({"transcript_id": "nope"}, "transcript 'nope' does not exist in this database"),
    ({"annotator_id": "ghost"}, "annotator 'ghost' does not exist in this database"),
]


def test_add_judgment_validation_writes_nothing(store):
    t = make_transcript(1)  # claims 1 (honest) and 4 (liar), 3 turns
    store.add_transcript(t)
    ann = store.get_or_create_annotator("ann")["id"]
    for change, message in BAD_JUDGMENTS:
        args = {**GOOD, "transcript_id": t.id, "annotator_id": ann, "verdict_claim": t.claims[0], **change}
        with pytest.raises(StorageError) as ei:
            store.add_judgment(**args)
        assert message in str(ei.value) and "\n" not in str(ei.value), (change, str(ei.value))
    assert store.count_judgments() == 0
    judge(store, t, ann)  # the store is still usable after every refusal
    assert store.count_judgments() == 1


def test_confidence_grid_round_trip(store):
    t = [make_transcript(i) for i in range(len(CONFIDENCE_LEVELS) + 1)]
    store.add_transcripts(t)
    ann = store.get_or_create_annotator("ann")["id"]
    for x, c in zip(t, CONFIDENCE_LEVELS):
        judge(store, x, ann, confidence=c)
    judge(store, t[-1], ann, confidence=0.1 + 0.05, explanation="  " + "y" * 2000 + "\n", turns_seen=0,
          mode="live", side_order="honest-right", seconds_spent=0)
    rows = store.query_judgments(annotator_id=ann)
    assert [r["confidence"] for r in rows[:-1]] == list(CONFIDENCE_LEVELS)
    last = rows[-1]
    assert last["confidence"] == 0.15 and last["explanation"] == "y" * 2000
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
    assert len(rows) == 1 and rows[0]["id"] == jid and rows[0]["confidence"] == 0.9


def test_derived_fields_and_types(store):
    e = store.create_experiment("human", "debate", {})
    t = make_transcript(1, claims=[3, 7], winner=1)  # the model judge chose the lie
    open_ = make_transcript(2, claims=[3, None], protocol="debate_no_precommit_honest_first", winner=None)
    store.add_transcripts([t], experiment_id=e)
    store.add_transcripts([open_])
    a, b = (store.get_or_create_annotator(n)["id"] for n in "ab")
    judge(store, t, a, verdict=3)
    judge(store, t, b, verdict=7)
    judge(store, open_, a, verdict=5)
    got = {(r["transcript_id"], r["annotator_id"]): r for r in store.query_judgments()}
    r = got[t.id, a]
    assert list(r) == list(JUDGMENT_COLUMNS)
    assert (r["verdict_role"], r["correct"], r["model_verdict_claim"], r["model_correct"]) == ("honest", True, 7, False)
    assert (r["task"], r["protocol"], r["experiment_id"], r["ground_truth"], r["annotator_name"]) == (
        "sparse_pixel", "debate_precommit_honest_first", e, 3, "a")
    assert (got[t.id, b]["verdict_role"], got[t.id, b]["correct"]) == ("liar", False)
    o = got[open_.id, a]
    assert (o["verdict_role"], o["correct"], o["model_verdict_claim"], o["model_correct"], o["experiment_id"]) == (
        "liar", False, None, None, None)
    for row in got.values():  # plain Python values whatever the backend
        assert type(row["correct"]) is bool and type(row["confidence"]) is float
        assert type(row["verdict_claim"]) is int and type(row["turns_seen"]) is int


def test_query_and_count_filters(store):
    e1, e2 = store.create_experiment("a", "debate", {}), store.create_experiment("b", "debate", {})
    t1, t2, t3 = make_transcript(1), make_transcript(2, protocol="debate_precommit_liar_first"), make_transcript(3)
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
    rows = store.query_judgments(experiment_id=e1, protocol="debate_precommit_honest_first")
    assert {(r["transcript_id"], r["annotator_name"]) for r in rows} == {(t1.id, "a"), (t1.id, "b")}
    assert store.query_judgments(annotator_id="nobody") == []


def test_export_judgments_jsonl(store, tmp_path):
    t1 = make_transcript(1, winner=1)
    t2 = make_transcript(2, claims=[2, None], protocol="debate_no_precommit_honest_first", winner=None)
    store.add_transcripts([t1, t2])
    a, b = (store.get_or_create_annotator(n)["id"] for n in ("ann", "Zoë, \"the judge\""))
    judge(store, t1, a, confidence=0.65, explanation='commas, "quotes",\nnewlines and ünïcode')
    judge(store, t1, b, verdict=t1.claims[1], confidence=0.05, seconds_spent=3)
    judge(store, t2, a, verdict=7, mode="live", turns_seen=1)
    path = tmp_path / "judgments.jsonl"
    assert store.export_judgments(path) == 3
    back = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert back == store.query_judgments()
    assert store.export_judgments(tmp_path / "ann.jsonl", annotator_id=a) == 2


# --------------------------------------------------------------------------- concurrent judging


def test_eight_threads_own_stores_lose_nothing(store, db_url):  # noqa: F811
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
    rows = store.query_judgments()
    assert len({(r["transcript_id"], r["annotator_id"]) for r in rows}) == 40


def test_same_judgment_raced_from_two_threads(store, db_url):  # noqa: F811
    rounds = 4
    t = [make_transcript(i) for i in range(rounds)]
    store.add_transcripts(t)
    ann = store.get_or_create_annotator("double-clicker")["id"]
    stores = [Store(db_url) for _ in range(2)]
    try:
        for x in t:
            results, lock = [], threading.Lock()

            def work(k, x=x):
                try:
                    r = judge(stores[k], x, ann)
                except StorageError as e:
                    r = e
                with lock:
                    results.append(r)

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

