"""Human judging studies: the design rules (debate.records.study_design) and the Store's study API,
on a simulated 50-person study, on SQLite and (with $DEBATE_TEST_POSTGRES_URL) PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import numpy as np
import pytest

from db_urls import db_url  # noqa: F401  (the fixture: every test here runs on SQLite and PostgreSQL)
from debate.records import study_design as sd
from debate.records.storage import StorageError, Store
from debate.records.transcript import Transcript, Turn


def debate(image: int, lie: int, honest_first: bool, *, precommit: bool = True, turns: int = 2) -> Transcript:
    """A small valid 8x8 debate about image ``image`` (true class image % 10) with one lie. The image
    is one bright column (rows 1..6, all 255): its candidates, brightest first and ties in raster
    order, are those pixels top to bottom, so action ``i`` reveals row ``1 + i``."""
    truth = image % 10
    liar_claim = (truth + 1 + lie) % 10
    img = np.zeros((8, 8), np.uint8)
    img[1:7, 2 + image % 4] = 255
    first = 0 if honest_first else 1
    tt = []
    for i in range(turns):
        tt.append(Turn(i, (first + i) % 2, i,
                       {"row": 1 + i, "col": 2 + image % 4, "value": 255}, [0.6, 0.4], [0.1] * 10))
    kind = "precommit" if precommit else "no_precommit"
    return Transcript(
        task="sparse_pixel", instance_id=f"img:{image}", protocol=f"debate_{kind}_{'honest' if honest_first else 'liar'}_first",
        claims=[truth, liar_claim if precommit else None], roles=["honest", "liar"], debaters=["mcts-8", "mcts-8"],
        judge="j@test", first_player=first, turns=tt, winner=0, verdict_claim=truth, ground_truth=truth,
        seeds={"game": image}, instance={"height": 8, "width": 8, "pixels": img.reshape(-1).tolist()}, meta={},
    )


def quickstart_like(images: int, lies: int = 3) -> list[Transcript]:
    """Like the quickstart database: every image debated with several lies, under both first movers."""
    return [debate(i, lie, hf) for i in range(images) for lie in range(lies) for hf in (True, False)]


@pytest.fixture
def store(db_url):  # noqa: F811
    s = Store(db_url)
    yield s
    s.close()


# --------------------------------------------------------------------------- pure rules


def test_design_validation_names_the_problem():
    with pytest.raises(sd.StudyDesignError, match="overlap_share must be a fraction in 0..1"):
        sd.StudyDesign(overlap_share=1.5)
    with pytest.raises(sd.StudyDesignError, match="quota must be a whole number"):
        sd.StudyDesign(quota=0)
    assert sd.StudyDesign(quota=20, overlap_share=0.2).overlap_size == 4


def test_plan_puts_practice_overlap_and_main_on_disjoint_instances_with_balanced_first_movers():
    pool = [sd.PoolDebate(t.id or f"t{k}", t.instance_id, t.protocol, t.first_player == 0)
            for k, t in enumerate(quickstart_like(30))]
    pool = [sd.PoolDebate(f"t{k}", d.instance_id, d.protocol, d.honest_first) for k, d in enumerate(pool)]
    planned = sd.plan_study(pool, sd.StudyDesign(quota=10, overlap_share=0.4, practice=2, seed=3))
    sets = defaultdict(list)
    for d in planned:
        sets[d.study_set].append(d)
    assert len(sets["practice"]) == 2 and len(sets["overlap"]) == 4
    inst = {s: {d.instance_id for d in v} for s, v in sets.items()}
    assert len(inst["practice"]) == 2 and len(inst["overlap"]) == 4  # distinct instances within a set
    assert not (inst["practice"] & inst["overlap"]) and not (inst["main"] & (inst["practice"] | inst["overlap"]))
    assert Counter(d.honest_first for d in sets["overlap"]) == {True: 2, False: 2}
    aliases = [d.alias for d in planned]
    assert len(set(aliases)) == len(aliases) and all(a.startswith("D-") for a in aliases)
    assert sd.plan_study(pool, sd.StudyDesign(quota=10, overlap_share=0.4, practice=2, seed=3)) == planned  # seeded


def test_plan_refuses_a_pool_too_small_for_the_quota():
    pool = [sd.PoolDebate(f"t{i}", f"img:{i}", "p", i % 2 == 0) for i in range(8)]
    with pytest.raises(sd.StudyDesignError, match="quota of 10 needs 8 main debates of distinct instances"):
        sd.plan_study(pool, sd.StudyDesign(quota=10, overlap_share=0.2, practice=2))


def test_role_cues_flag_a_single_first_mover_and_an_always_lying_open_claim():
    hf_only = [sd.PoolDebate("a", "i1", "p", True), sd.PoolDebate("b", "i2", "p", True)]
    cues = sd.role_cues(hf_only, {})
    assert len(cues) == 1 and "honest debater moves first" in cues[0]
    both = hf_only + [sd.PoolDebate("c", "i3", "p", False)]
    assert sd.role_cues(both, {}) == []
    cues = sd.role_cues(both, {"debate_no_precommit_honest_first": {"liar"}})
    assert len(cues) == 1 and "argues against the other's claim is always the liar" in cues[0]


def test_choose_next_blocks_instances_and_counterbalances():
    rng = random.Random(0)
    cands = [(sd.StudyDebate(f"t{i}{hf}", f"img:{i}", "p", hf, "main", f"D-{i}{hf}"), 0)
             for i in range(40) for hf in (True, False)]
    seen: list[sd.Seen] = []
    for _ in range(20):
        d, side = sd.choose_next(seen, cands, rng, quota_left=20 - len(seen))
        assert d.instance_id not in {s.instance_id for s in seen}
        seen.append(sd.Seen(d.instance_id, d.protocol, d.honest_first, side))
    assert sum(s.honest_first for s in seen) == 10
    for hf in (True, False):
        group = [s.side_order for s in seen if s.honest_first == hf]
        assert Counter(group)["honest-left"] == len(group) // 2 or Counter(group)["honest-right"] == len(group) // 2
    assert sd.choose_next(seen, cands, rng, quota_left=0) is None


# --------------------------------------------------------------------------- the Store, a 50-person study


def run_participant(store: Store, study_id: str, name: str, rng: random.Random) -> list[dict]:
    person = store.sign_in(name, "secret-" + name)
    got = []
    while (a := store.next_study_assignment(study_id, person["id"])) is not None:
        t = a["transcript"]
        if len(got) < 2:  # asking again (a reload) gives the same debate, shown the same way
            again = store.next_study_assignment(study_id, person["id"])
            assert again["transcript"].id == t.id and again["side_order"] == a["side_order"]
        left_honest = a["side_order"] == "honest-left"
        p_a = rng.choice([0.3, 0.7])
        honest_p = p_a if left_honest else 1 - p_a
        verdict = t.claims[0] if honest_p > 0.5 else t.claims[1]
        store.add_judgment(t.id, person["id"], verdict, confidence=max(p_a, 1 - p_a), explanation="test",
                           side_order=a["side_order"], seconds_spent=3.0, turns_seen=len(t.turns),
                           beliefs=[0.5] * (len(t.turns) - 1) + [p_a])
        got.append(a)
    return got


def test_a_simulated_50_person_study_follows_the_design_rules(db_url):  # noqa: F811
    # SQLite in memory: the same SQL without a disk flush per transaction (1,200 of them here)
    store = Store("sqlite://" if db_url.startswith("sqlite") else db_url)
    store.add_transcripts(quickstart_like(60, lies=2))
    design = sd.StudyDesign(quota=10, judgments_per_debate=3, overlap_share=0.2, practice=2, seed=11)
    study = store.create_study("pilot", "sparse_pixel", design=design, instructions="Judge carefully.")
    rng = random.Random(5)
    sequences = {f"p{k:02d}": run_participant(store, study["id"], f"p{k:02d}", rng) for k in range(50)}
    overlap_ids = {d.transcript_id for d in store.study_debates(study["id"]) if d.study_set == "overlap"}
    assert len(overlap_ids) == 2
    for name, seq in sequences.items():
        sets = [a["study_set"] for a in seq]
        assert sets[:2] == ["practice", "practice"] and len(seq) == 12  # practice first, then the quota
        instances = [a["transcript"].instance_id for a in seq]
        assert len(set(instances)) == len(instances), f"{name} saw an instance twice"
        share = sum(a["honest_first"] for a in seq) / len(seq)
        assert 0.4 <= share <= 0.6, f"{name}: honest-first share {share:.2f}"
        left = sum(a["side_order"] == "honest-left" for a in seq) / len(seq)
        assert 0.4 <= left <= 0.6, f"{name}: honest-left share {left:.2f}"
        assert {a["transcript"].id for a in seq if a["study_set"] == "overlap"} == overlap_ids
        assert [a["sequence_index"] for a in seq] == list(range(1, 13))
    # the overlap debates are spread over the sequence, not shown in a block at its start
    first_overlap = Counter(min(i for i, a in enumerate(seq) if a["study_set"] == "overlap")
                            for seq in sequences.values())
    assert first_overlap[2] < 40
    judged = store.query_judgments(study_id=study["id"])
    assert len(judged) == 50 * 10 and not any(j["practice"] for j in judged)  # practice not counted
    assert len(store.query_judgments(study_id=study["id"], include_practice=True)) == 50 * 12
    per_debate = Counter(j["transcript_id"] for j in judged)
    assert all(per_debate[t] == 50 for t in overlap_ids)  # the overlap set is judged by everyone
    assert max(n for t, n in per_debate.items() if t not in overlap_ids) <= 3
    one = judged[0]
    assert one["study_alias"].startswith("D-") and one["sequence_index"] >= 3 and one["honest_first"] in (True, False)
    assert one["beliefs_json"].startswith("[0.5")
    prog = store.study_progress(study["id"], store.sign_in("p00", "secret-p00")["id"])
    assert prog == {"practice_done": 2, "practice_total": 2, "judged": 10, "skipped": 0, "quota": 10}
    store.close()


def test_protocols_are_interleaved_for_each_participant(store):
    ts = [debate(i, 0, hf, precommit=True) for i in range(60) for hf in (True, False)]
    # a second protocol over the same images: different debaters, same rules
    for t in ts[:]:
        d = {k: v for k, v in t.to_dict().items() if k != "id"}  # a new id is assigned
        u = Transcript.from_dict({**d, "protocol": t.protocol.replace("debate_", "debate_v2_")})
        ts.append(u)
    store.add_transcripts(ts)
    study = store.create_study("mix", "sparse_pixel", design=sd.StudyDesign(quota=12, practice=0, overlap_share=0.0))
    seq = run_participant(store, study["id"], "solo", random.Random(0))
    kinds = ["v2" in a["transcript"].protocol for a in seq]
    assert sum(kinds) == 6
    assert all(kinds[i] != kinds[i + 1] or kinds[i] != kinds[i + 2] for i in range(len(kinds) - 2))  # never 3 in a row


def test_create_study_refuses_pools_that_give_the_roles_away(store):
    store.add_transcripts([debate(i, 0, True) for i in range(30)])
    with pytest.raises(StorageError, match="honest debater moves first"):
        store.create_study("leaky", "sparse_pixel", design=sd.StudyDesign(quota=5))
    store.add_transcripts([debate(i, 0, hf, precommit=False) for i in range(30, 60) for hf in (True, False)])
    with pytest.raises(StorageError, match="always the liar"):
        store.create_study("leaky2", "sparse_pixel", design=sd.StudyDesign(quota=5))
    assert store.list_studies() == []  # nothing written
    ok = store.create_study("knowingly", "sparse_pixel", design=sd.StudyDesign(quota=5), allow_role_cues=True)
    assert ok["filter"]["role_cues_allowed"] is True
    with pytest.raises(StorageError, match="exists already"):
        store.create_study("knowingly", "sparse_pixel", design=sd.StudyDesign(quota=5), allow_role_cues=True)


def test_sign_in_passphrases_tokens_and_invitations(store):
    store.add_transcripts(quickstart_like(20))
    alice = store.sign_in("alice", "tulips")
    assert store.sign_in("alice", "tulips")["id"] == alice["id"]
    with pytest.raises(StorageError, match="passphrase for 'alice' does not match"):
        store.sign_in("alice", "roses")
    with pytest.raises(StorageError, match="at least 4 characters"):
        store.sign_in("bob", "x")
    assert store.annotator_for_token(alice["token"])["id"] == alice["id"]  # survives a reload
    assert store.annotator_for_token("forged") is None
    legacy = store.get_or_create_annotator("carol")  # a profile from before passphrases
    assert store.sign_in("carol", "first-one")["id"] == legacy["id"]
    with pytest.raises(StorageError, match="does not match"):
        store.sign_in("carol", "another")
    study = store.create_study("s", "sparse_pixel", design=sd.StudyDesign(quota=4, practice=1))
    codes = store.create_invitations(study["id"], 3)
    assert len(set(codes)) == 3
    who = store.sign_in_with_code(codes[0].lower())
    assert who["study_id"] == study["id"] and who["name"].endswith("P001")
    assert store.sign_in_with_code(codes[0])["id"] == who["id"]
    with pytest.raises(StorageError, match="invitation code is not known"):
        store.sign_in_with_code("NOPE")
    assert store.list_studies()[0]["participants"] == 1


def test_skip_and_undo(store):
    store.add_transcripts(quickstart_like(20))
    study = store.create_study("s", "sparse_pixel", design=sd.StudyDesign(quota=4, practice=0, overlap_share=0))
    me = store.sign_in("dora", "pass-word")
    first = store.next_study_assignment(study["id"], me["id"])
    with pytest.raises(StorageError, match="why you skip"):
        store.skip_debate(study["id"], me["id"], first["transcript"].id, "  ")
    store.skip_debate(study["id"], me["id"], first["transcript"].id, "the board did not load")
    second = store.next_study_assignment(study["id"], me["id"])
    assert second["transcript"].instance_id != first["transcript"].instance_id  # the skipped instance is blocked
    assert second["sequence_index"] == 2
    t = second["transcript"]
    jid = store.add_judgment(t.id, me["id"], t.claims[0], 0.8, "x", second["side_order"], 1.0, len(t.turns))
    assert store.last_judgment(me["id"], study["id"])["id"] == jid
    with pytest.raises(StorageError, match="can be undone for 0 s"):
        store.undo_judgment(me["id"], jid, window_s=0.0)
    assert store.undo_judgment(me["id"], jid) == t.id
    assert store.count_judgments(annotator_id=me["id"]) == 0
    again = store.next_study_assignment(study["id"], me["id"])
    assert again["transcript"].id == t.id and again["sequence_index"] == 2  # the same debate comes back
    with pytest.raises(StorageError, match="no judgment of yours to undo"):
        store.undo_judgment(me["id"], jid)
    assert store.study_progress(study["id"], me["id"])["skipped"] == 1


def test_beliefs_are_checked(store):
    store.add_transcripts(quickstart_like(4))
    me = store.get_or_create_annotator("eve")
    t = store.query_transcripts()[0]
    with pytest.raises(StorageError, match="at most turns_seen"):
        store.add_judgment(t.id, me["id"], t.claims[0], 0.8, "x", "honest-left", 1.0, 1, beliefs=[0.5, 0.6])
    with pytest.raises(StorageError, match="a belief must be a probability"):
        store.add_judgment(t.id, me["id"], t.claims[0], 0.8, "x", "honest-left", 1.0, 1, beliefs=[1.5])
    assert store.count_judgments() == 0
