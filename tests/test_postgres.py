"""Transcript storage (the key behaviours of tests/test_storage.py) and a few concurrency and type
checks, on SQLite and PostgreSQL. tests/test_judgments.py runs on both backends itself.

Every test runs twice through the ``db_url`` fixture of tests/db_urls.py: on a fresh SQLite file and
on a fresh PostgreSQL database (created per test on the server named by $DEBATE_TEST_POSTGRES_URL,
dropped afterwards). Without that variable the PostgreSQL runs are skipped, or fail under CI, where
.ci/run starts the server. Transcripts and helpers come from tests/test_storage.py and tests/test_judgments.py.
"""

from __future__ import annotations

import pytest
from db_urls import db_url  # noqa: F401  (the fixture: sqlite and postgresql)
from test_judgments import _run_threads, judge, make_transcript
from test_storage import assert_same
from test_storage import make_transcript as make_stored

from debate.records.storage import JUDGMENT_COLUMNS, STORE_SCHEMA_VERSION, StorageError, Store
from debate.records.transcript import read_jsonl


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


def test_same_annotator_created_from_many_threads(store, db_url):  # noqa: F811
    got = {}

    def work(k):
        with Store(db_url) as s:
            got[k] = s.get_or_create_annotator("same-person")["id"]

    assert _run_threads(6, work) == []
    assert len(set(got.values())) == 1
    assert [a["name"] for a in store.list_annotators()] == ["same-person"]


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


