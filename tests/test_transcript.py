"""Tests for debate.records.transcript: round-trips, validation, the pinned JSON schema, JSONL files."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys

import pytest

from debate.records.transcript import (
    SCHEMA_VERSION,
    Player,
    Transcript,
    TranscriptError,
    Turn,
    iter_jsonl,
    migrate_transcript_dict,
    players_from_roles,
    read_jsonl,
    write_jsonl,
)


def candidates(pixels: list[int]) -> list[int]:
    """The sparse-pixel action space of a flat image in plain Python (``records.candidate_order``):
    its nonzero pixels, brightest first, ties in raster order; action ``a`` reveals ``candidates[a]``."""
    return sorted((i for i, v in enumerate(pixels) if v > 0), key=lambda i: (-pixels[i], i))


def make_transcript(seed: int = 0, n_turns: int = 3, **overrides) -> Transcript:
    """A small, valid two-player sparse-pixel transcript (no numpy needed): each action is a candidate
    index of the 4x4 image and reveals that pixel; ``ground_truth`` is the honest claim and
    ``verdict_claim`` the winner's (both follow ``claims``/``winner`` overrides unless given)."""
    pixels = [(seed * 31 + i * 7) % 256 for i in range(16)]
    order = candidates(pixels)
    turns = []
    for i in range(n_turns):
        action = (seed + 5 * i) % len(order)  # distinct for i < 3 (at least 15 candidates)
        pixel = order[action]
        turns.append(Turn(
            index=i,
            player=i % 2,
            action=action,
            revealed={"row": pixel // 4, "col": pixel % 4, "value": pixels[pixel]},
            judge_probs=[0.5 + 0.1 * (i % 3), 0.5 - 0.1 * (i % 3)],
            judge_class_probs=[0.1] * 10 if i == n_turns - 1 else None,
        ))
    claims = overrides.get("claims", [seed % 10, (seed + 1) % 10])
    winner = overrides.get("winner", seed % 2)
    verdict = None if winner is None else claims[winner]
    if verdict is None and winner is not None:  # the liar without a claim wins with another class
        verdict = (claims[0] + 1) % 10
    kw = dict(
        task="sparse_pixel",
        instance_id=f"mnist-test:{seed}",
        protocol="debate_precommit_honest_first",
        claims=claims,
        roles=["honest", "liar"],
        debaters=["mcts-gumbel-128", "random"],
        judge="sparse-cnn-k6@ckpt/abc123",
        first_player=0,
        turns=turns,
        winner=winner,
        verdict_claim=verdict,
        ground_truth=claims[0],
        seeds={"game": 100 + seed, "lie_seed": seed},
        instance={"height": 4, "width": 4, "pixels": pixels},
        experiment=None,
        meta={"note": "unit test", "nested": {"a": [1, 2.5, None]}},
    )
    kw.update(overrides)
    return Transcript(**kw)


def assert_same(a: Transcript, b: Transcript) -> None:
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert a == b
    for f in dataclasses.fields(Transcript):
        assert getattr(a, f.name) == getattr(b, f.name), f.name


# --------------------------------------------------------------------------- construction & round trips


def test_creation_fills_id_and_created_at():
    t = make_transcript()
    assert len(t.id) == 32 and int(t.id, 16) >= 0
    assert t.created_at.endswith("Z") and "T" in t.created_at
    assert t.schema_version == SCHEMA_VERSION == 2
    assert make_transcript().id != t.id
    t2 = make_transcript(id="fixed", created_at="2024-01-01T00:00:00Z")
    assert (t2.id, t2.created_at) == ("fixed", "2024-01-01T00:00:00Z")


def test_dict_round_trip():
    t = make_transcript(3)
    d = t.to_dict()
    json.dumps(d)  # JSON-able
    assert_same(Transcript.from_dict(d), t)
    assert_same(Transcript.from_dict(copy.deepcopy(d)), t)


def test_json_round_trip():
    t = make_transcript(4, experiment="exp-1")
    s = t.to_json()
    assert isinstance(s, str) and "\n" not in s
    back = Transcript.from_json(s)
    assert_same(back, t)
    assert back.to_json() == s


def test_jsonl_round_trip(tmp_path):
    ts = [make_transcript(i, n_turns=i % 4) for i in range(7)]
    p = tmp_path / "runs.jsonl"
    assert write_jsonl(p, ts) == 7
    assert len(p.read_text().splitlines()) == 7
    back = read_jsonl(p)
    assert len(back) == 7
    for a, b in zip(back, ts):
        assert_same(a, b)
    assert [t.id for t in iter_jsonl(str(p))] == [t.id for t in ts]
    # append mode and blank lines
    write_jsonl(p, [make_transcript(9)], append=True)
    with open(p, "a") as f:
        f.write("\n\n")
    assert len(read_jsonl(p)) == 8
    # no temp files left behind
    assert sorted(x.name for x in tmp_path.iterdir()) == ["runs.jsonl"]


def test_no_turns_and_no_winner_control():
    t = make_transcript(n_turns=0, winner=None, verdict_claim=None, protocol="judge_alone")
    assert not t.honest_won
    assert_same(Transcript.from_json(t.to_json()), t)


def test_uncommitted_claim_allowed():
    t = make_transcript(claims=[3, None], protocol="debate_no_precommit")
    assert Transcript.from_json(t.to_json()).claims == [3, None]


def test_turns_as_dicts_are_converted():
    t = make_transcript()
    t2 = make_transcript(turns=[x.to_dict() for x in t.turns], id=t.id, created_at=t.created_at)
    assert all(isinstance(x, Turn) for x in t2.turns)
    assert t2 == t


def test_numpy_values_serialise():
    np = pytest.importorskip("numpy")
    t = make_transcript(instance={"height": 4, "width": 4, "pixels": np.arange(16, dtype=np.uint8)},
                        seeds={"game": np.int64(5)})
    t.turns[0].judge_probs = [np.float32(0.25), np.float64(0.75)]
    d = json.loads(t.to_json())
    assert d["instance"]["pixels"] == list(range(16))
    assert d["seeds"] == {"game": 5}
    assert d["turns"][0]["judge_probs"] == [0.25, 0.75]


def test_honest_won():
    assert make_transcript(0).honest_won  # winner 0 is honest
    assert not make_transcript(1).honest_won  # winner 1 is liar
    t = make_transcript(1, roles=["liar", "honest"])
    assert t.honest_won
    assert t.winner_role == "honest"
    assert t.debater_of_role("liar") == "mcts-gumbel-128"
    assert make_transcript(winner=None).winner_role is None


def test_validate_returns_self():
    t = make_transcript()
    assert t.validate() is t


def test_task_rules_are_checked_by_default(tmp_path):
    """``validate``, ``from_dict``/``from_json`` and JSONL files check the task's rules unless told
    ``rules=False`` (what the store uses to read its own rows); the message names the first bad turn."""
    t = make_transcript(1)
    t.turns[2].revealed = {**t.turns[2].revealed, "value": (t.turns[2].revealed["value"] + 1) % 256}
    rule = r"transcript \w+\.\.: turn 2 records .* but its action \d+ reveals"
    with pytest.raises(TranscriptError, match=rule):
        t.validate()
    assert t.validate(rules=False) is t
    with pytest.raises(TranscriptError, match=rule):
        Transcript.from_json(t.to_json())
    with pytest.raises(TranscriptError, match=rule):
        Transcript.from_dict(t.to_dict())
    assert Transcript.from_json(t.to_json(), rules=False) == t
    p = tmp_path / "bad.jsonl"
    with pytest.raises(TranscriptError, match=rule):
        write_jsonl(p, [t])
    assert not p.exists()
    write_jsonl(p, [make_transcript(0), t], rules=False)
    with pytest.raises(TranscriptError, match="line 2: " + rule):
        read_jsonl(p)
    assert [x.id for x in read_jsonl(p, rules=False)][1] == t.id
    # the verdict must be the one the turns replay to
    with pytest.raises(TranscriptError, match="verdict_claim is 0 but team 1 won, whose claim is 2"):
        make_transcript(1, verdict_claim=0).validate()


# --------------------------------------------------------------------------- golden JSON (pins schemas v1 and v2)

# A 2x2 image [0, 255, 17, 3]: the candidates (brightest first) are pixels 1, 2 and 3, so action 0
# reveals (0, 1) = 255 and action 1 reveals (1, 0) = 17; the debate keeps the sparse-pixel rules.

GOLDEN_V1 = (
    '{"schema_version":1,"id":"3f2a9c0e5b6d4e7f8a9b0c1d2e3f4a5b","created_at":"2024-05-01T12:00:00.000000Z",'
    '"experiment":"exp-golden","task":"sparse_pixel","instance_id":"mnist-test:17",'
    '"protocol":"debate_precommit_honest_first","claims":[7,1],"roles":["honest","liar"],'
    '"debaters":["mcts-gumbel-128","mcts-gumbel-128"],"judge":"sparse-cnn-k6@ckpt/judge.msgpack",'
    '"first_player":0,"turns":['
    '{"index":0,"player":0,"action":0,"revealed":{"row":0,"col":1,"value":255},"judge_probs":[0.6,0.4],'
    '"judge_class_probs":null},'
    '{"index":1,"player":1,"action":1,"revealed":{"row":1,"col":0,"value":17},"judge_probs":[0.55,0.45],'
    '"judge_class_probs":[0.0,0.45,0.0,0.0,0.0,0.0,0.0,0.55,0.0,0.0]}],'
    '"winner":0,"verdict_claim":7,"ground_truth":7,"seeds":{"game":123,"lie_seed":0},'
    '"instance":{"height":2,"width":2,"pixels":[0,255,17,3]},"meta":{"k":6}}'
)

# the same debate in schema 2: players (id, team, role, debater) where roles and debaters were
GOLDEN_V2 = (
    '{"schema_version":2,"id":"3f2a9c0e5b6d4e7f8a9b0c1d2e3f4a5b","created_at":"2024-05-01T12:00:00.000000Z",'
    '"experiment":"exp-golden","task":"sparse_pixel","instance_id":"mnist-test:17",'
    '"protocol":"debate_precommit_honest_first","claims":[7,1],"players":['
    '{"id":0,"team":0,"role":"honest","debater":"mcts-gumbel-128"},'
    '{"id":1,"team":1,"role":"liar","debater":"mcts-gumbel-128"}],"judge":"sparse-cnn-k6@ckpt/judge.msgpack",'
    '"first_player":0,"turns":['
    '{"index":0,"player":0,"action":0,"revealed":{"row":0,"col":1,"value":255},"judge_probs":[0.6,0.4],'
    '"judge_class_probs":null},'
    '{"index":1,"player":1,"action":1,"revealed":{"row":1,"col":0,"value":17},"judge_probs":[0.55,0.45],'
    '"judge_class_probs":[0.0,0.45,0.0,0.0,0.0,0.0,0.0,0.55,0.0,0.0]}],'
    '"winner":0,"verdict_claim":7,"ground_truth":7,"seeds":{"game":123,"lie_seed":0},'
    '"instance":{"height":2,"width":2,"pixels":[0,255,17,3]},"meta":{"k":6}}'
)


@pytest.mark.parametrize("golden", [GOLDEN_V1, GOLDEN_V2], ids=["v1", "v2"])
def test_golden_json_loads(golden):
    t = Transcript.from_json(golden)
    assert t.schema_version == 2  # a version-1 file is migrated on reading
    assert t.id == "3f2a9c0e5b6d4e7f8a9b0c1d2e3f4a5b"
    assert t.created_at == "2024-05-01T12:00:00.000000Z"
    assert t.experiment == "exp-golden"
    assert (t.task, t.instance_id, t.protocol) == ("sparse_pixel", "mnist-test:17", "debate_precommit_honest_first")
    assert t.claims == [7, 1] and t.roles == ["honest", "liar"] and t.teams == [0, 1]
    assert t.players == [Player(0, 0, "honest", "mcts-gumbel-128"), Player(1, 1, "liar", "mcts-gumbel-128")]
    assert t.debaters == ["mcts-gumbel-128", "mcts-gumbel-128"]
    assert t.judge == "sparse-cnn-k6@ckpt/judge.msgpack"
    assert t.first_player == 0 and t.winner == 0 and t.verdict_claim == 7 and t.ground_truth == 7
    assert t.honest_won
    assert len(t.turns) == 2
    assert t.turns[0] == Turn(0, 0, 0, {"row": 0, "col": 1, "value": 255}, [0.6, 0.4], None)
    assert t.turns[1].judge_class_probs[7] == 0.55
    assert t.seeds == {"game": 123, "lie_seed": 0}
    assert t.instance == {"height": 2, "width": 2, "pixels": [0, 255, 17, 3]}
    assert t.meta == {"k": 6}
    # writing it back gives exactly the schema-2 JSON (field names and order pinned)
    assert t.to_json() == GOLDEN_V2


@pytest.mark.parametrize("golden", [GOLDEN_V1, GOLDEN_V2], ids=["v1", "v2"])
def test_golden_without_optional_fields_loads(golden):
    d = json.loads(golden)
    for k in ("experiment", "meta"):
        del d[k]
    del d["turns"][0]["judge_class_probs"]
    t = Transcript.from_dict(d)
    assert t.experiment is None and t.meta == {} and t.turns[0].judge_class_probs is None


# --------------------------------------------------------------------------- validation errors


def _bad(mutate, *fragments, golden=GOLDEN_V2):
    d = json.loads(golden)
    mutate(d)
    with pytest.raises(TranscriptError) as ei:
        Transcript.from_dict(d)
    msg = str(ei.value)
    assert isinstance(ei.value, ValueError)
    assert "\n" not in msg
    assert msg.startswith("transcript 3f2a9c0e..")
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


def test_newer_schema_version_refused():
    msg = _bad(lambda d: d.update(schema_version=SCHEMA_VERSION + 1, future_field=1), "schema_version 3", "upgrade")
    assert "newer" in msg


def test_newer_schema_version_refused_by_validate():
    t = make_transcript(schema_version=99)
    with pytest.raises(TranscriptError, match="upgrade the debate package"):
        t.validate()


def test_unknown_schema_version_refused():
    _bad(lambda d: d.update(schema_version=0), "schema_version 0", "unknown")


def test_missing_schema_version():
    _bad(lambda d: d.pop("schema_version"), "schema_version", "missing")


@pytest.mark.parametrize(
    "mutate, fragments",
    [
        (lambda d: d["turns"][1].update(judge_probs=[0.5]), ("turn 1", "1 judge probabilities", "2 claims")),
        (lambda d: d["turns"][0].update(judge_probs=[1.5, 0.4]), ("turn 0", "judge_probs[0]", "[0, 1]")),
        (lambda d: d["turns"][0].update(judge_probs=[-0.1, 0.4]), ("judge_probs[0]",)),
        (lambda d: d["turns"][0].update(judge_probs=["a", 0.4]), ("judge_probs[0]",)),
        (lambda d: d["turns"][1].update(judge_class_probs=[2.0] * 10), ("turn 1", "judge_class_probs[0]")),
        (lambda d: d["turns"][1].update(player=2), ("turn 1", "player 2", "0..1")),
        (lambda d: d["turns"][1].update(player=-1), ("turn 1", "player -1")),
        (lambda d: d["turns"][1].update(index=5), ("turn 1", "index 5", "in order")),
        (lambda d: d["turns"].reverse(), ("turn 0", "index 1", "in order")),
        (lambda d: d["turns"][0].update(action="x"), ("turn 0", "action")),
        (lambda d: d["turns"][0].update(revealed=[1]), ("turn 0", "revealed")),
        (lambda d: d["turns"][0].pop("judge_probs"), ("turn 0", "missing", "judge_probs")),
        (lambda d: d["turns"][0].update(bogus=1), ("turn 0", "unknown", "bogus")),
        (lambda d: d.update(claims=[]), ("claims",)),
        (lambda d: d.update(claims=[7, "1"]), ("claims[1]",)),
        (lambda d: d.update(claims=[7]), ("player 1 has team 1", "teams must be in 0..0")),
        (lambda d: d.update(players=[]), ("players is empty",)),
        (lambda d: d.update(players={}), ("players must be a list",)),
        (lambda d: d["players"].reverse(), ("players[0] has id 1", "0..1 in order")),
        (lambda d: d["players"][1].update(id=5), ("players[1] has id 5",)),
        (lambda d: d["players"][1].update(team=2), ("player 1 has team 2", "teams must be in 0..1")),
        (lambda d: d["players"][1].update(team=-1), ("player 1 has team -1",)),
        (lambda d: d["players"][1].update(team="1"), ("player 1 has team '1'",)),
        (lambda d: d["players"][1].update(team=0), ("players 0 and 1 are both on team 0", "'honest' and 'liar'")),
        (lambda d: d["players"][1].update(role=3), ("player 1 role",)),
        (lambda d: d["players"][1].update(role=""), ("player 1 role", "non-empty")),
        (lambda d: d["players"][0].update(debater=None), ("player 0 debater",)),
        (lambda d: d["players"][0].pop("team"), ("players[0]", "missing", "team")),
        (lambda d: d["players"][0].update(seat=1), ("players[0]", "unknown", "seat")),
        (lambda d: d["players"].__setitem__(0, "honest"), ("players[0]", "JSON object")),
        (lambda d: d.update(roles=["honest", "liar"]), ("unknown", "roles")),
        (lambda d: d.update(winner=2), ("winner is 2", "team id in 0..1")),
        (lambda d: d.update(winner=True), ("winner",)),
        (lambda d: d.update(first_player=5), ("first_player is 5",)),
        (lambda d: d.update(first_player=None), ("first_player",)),
        (lambda d: d.update(ground_truth=None), ("ground_truth",)),
        (lambda d: d.update(verdict_claim=7.0), ("verdict_claim",)),
        (lambda d: d.update(task=3), ("task must be a string",)),
        (lambda d: d.update(task=""), ("task must not be empty",)),
        (lambda d: d.update(seeds=[1]), ("seeds must be a dict",)),
        (lambda d: d.update(instance=None), ("instance must be a dict",)),
        (lambda d: d.update(meta=None), ("meta must be a dict",)),
        (lambda d: d.update(experiment=5), ("experiment",)),
        (lambda d: d.update(turns={}), ("turns must be a list",)),
        (lambda d: d.pop("ground_truth"), ("missing", "ground_truth")),
        (lambda d: d.pop("players"), ("missing", "players")),
        (lambda d: d.update(extra_field=1), ("unknown", "extra_field", "upgrade")),
    ],
)
def test_validation_errors_name_the_field(mutate, fragments):
    _bad(mutate, *fragments)


@pytest.mark.parametrize(
    "mutate, fragments",
    [
        (lambda d: d.update(roles=["honest"]), ("claims, roles and debaters", "2, 1 and 2")),
        (lambda d: d.update(debaters=["a", "b", "c"]), ("claims, roles and debaters", "2, 2 and 3")),
        (lambda d: d.update(claims=[7]), ("claims, roles and debaters", "1, 2 and 2")),
        (lambda d: d.update(roles=["honest", 3]), ("roles[1]",)),
        (lambda d: d.update(roles="honest"), ("roles must be a list",)),
        (lambda d: d.update(debaters=["a", None]), ("debaters[1]",)),
        (lambda d: d.pop("roles"), ("missing", "roles")),
        (lambda d: d.update(players=[]), ("schema_version 1 has no field players",)),
        (lambda d: d.update(winner=2), ("winner is 2", "0..1")),
        (lambda d: d["turns"][1].update(player=2), ("turn 1", "player 2", "0..1")),
        (lambda d: d["turns"][1].update(judge_probs=[0.5]), ("turn 1", "1 judge probabilities", "2 claims")),
    ],
)
def test_schema_1_validation_errors_name_the_field(mutate, fragments):
    _bad(mutate, *fragments, golden=GOLDEN_V1)


def test_validation_message_is_one_sentence_with_fix():
    msg = _bad(lambda d: d["turns"][1].update(judge_probs=[0.5]))
    assert msg == (
        "transcript 3f2a9c0e..: turn 1 has 1 judge probabilities but the transcript has 2 claims; "
        "regenerate it or fix the file"
    )


def test_from_dict_rejects_non_dict():
    with pytest.raises(TranscriptError, match="JSON object"):
        Transcript.from_dict([1, 2])
    with pytest.raises(TranscriptError, match="not valid JSON"):
        Transcript.from_json("{nope")


def test_write_jsonl_validates_first(tmp_path):
    good = make_transcript(1)
    bad = make_transcript(2)
    bad.turns[0].judge_probs = [0.5]
    p = tmp_path / "out.jsonl"
    write_jsonl(p, [good])
    with pytest.raises(TranscriptError, match="turn 0"):
        write_jsonl(p, [good, bad])
    # the failed write left the previous file intact
    assert [t.id for t in read_jsonl(p)] == [good.id]


# --------------------------------------------------------------------------- JSONL errors carry line numbers


def test_bad_json_line_number(tmp_path):
    p = tmp_path / "bad.jsonl"
    lines = [make_transcript(i).to_json() for i in range(3)]
    lines.insert(2, "{this is not json")
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(TranscriptError) as ei:
        read_jsonl(p)
    assert "line 3" in str(ei.value) and str(p) in str(ei.value)


def test_invalid_transcript_line_number(tmp_path):
    p = tmp_path / "bad.jsonl"
    ts = [make_transcript(i) for i in range(4)]
    d = ts[3].to_dict()
    d["turns"][0]["judge_probs"] = [0.1]
    lines = [t.to_json() for t in ts[:3]] + ["", json.dumps(d)]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(TranscriptError) as ei:
        read_jsonl(p)
    msg = str(ei.value)
    assert "line 5" in msg and "turn 0" in msg and "judge probabilities" in msg
    # iter_jsonl yields the good ones before failing
    it = iter_jsonl(p)
    assert [next(it).id for _ in range(3)] == [t.id for t in ts[:3]]
    with pytest.raises(TranscriptError, match="line 5"):
        next(it)


def test_newer_version_in_jsonl(tmp_path):
    p = tmp_path / "new.jsonl"
    d = make_transcript().to_dict()
    d["schema_version"] = SCHEMA_VERSION + 1
    p.write_text(make_transcript().to_json() + "\n" + json.dumps(d) + "\n")
    with pytest.raises(TranscriptError, match=r"line 2: .*upgrade the debate package"):
        read_jsonl(p)


# --------------------------------------------------------------------------- schema 2: players and teams


def test_migrate_transcript_dict_is_pure():
    v1 = json.loads(GOLDEN_V1)
    before = copy.deepcopy(v1)
    v2 = migrate_transcript_dict(v1)
    assert v1 == before  # the input is not changed
    assert v2 == json.loads(GOLDEN_V2) and list(v2) == list(json.loads(GOLDEN_V2))  # same keys, same order
    assert migrate_transcript_dict(v1) == v2  # and it gives the same answer every time
    again = migrate_transcript_dict(v2)  # an up-to-date dict comes back as an equal copy
    assert again == v2 and again is not v2


def test_migrate_keeps_player_order_and_winner():
    d = json.loads(GOLDEN_V1)
    d.update(roles=["liar", "honest"], debaters=["a", "b"], winner=1, verdict_claim=1)
    v2 = migrate_transcript_dict(d)
    assert v2["players"] == [{"id": 0, "team": 0, "role": "liar", "debater": "a"},
                             {"id": 1, "team": 1, "role": "honest", "debater": "b"}]
    assert v2["winner"] == 1 and "roles" not in v2 and "debaters" not in v2
    t = Transcript.from_dict(d)
    assert t.honest_won and t.winner_role == "honest" and t.debater_of_role("liar") == "a"


@pytest.mark.parametrize("version, fragment", [(None, "missing"), (0, "unknown"), (3, "newer"), ("1", "integer")])
def test_migrate_refuses_bad_versions(version, fragment):
    d = json.loads(GOLDEN_V1)
    d["schema_version"] = version
    with pytest.raises(TranscriptError, match=fragment):
        migrate_transcript_dict(d)
    with pytest.raises(TranscriptError, match="JSON object"):
        migrate_transcript_dict([d])


def test_players_helper_and_constructor_paths():
    players = players_from_roles(["honest", "liar"], ["x", "y"])
    assert players == [Player(0, 0, "honest", "x"), Player(1, 1, "liar", "y")]
    assert players_from_roles(["honest", "liar", "honest"], ["x", "y", "z"], teams=[0, 1, 0])[2].team == 0
    with pytest.raises(TranscriptError, match="same length"):
        players_from_roles(["honest"], ["x", "y"])
    old = make_transcript(2)  # roles= and debaters=
    new = make_transcript(2, roles=None, debaters=None, id=old.id, created_at=old.created_at,
                          players=players_from_roles(old.roles, old.debaters))
    as_dicts = make_transcript(2, roles=None, debaters=None, id=old.id, created_at=old.created_at,
                               players=[p.to_dict() for p in old.players])
    assert old == new == as_dicts
    with pytest.raises(TypeError, match="not both"):
        make_transcript(players=old.players)
    with pytest.raises(TypeError, match="needs players="):
        make_transcript(roles=None, debaters=None)


#: a task name no task package registers: ``task_rules`` finds no rules, so ``validate`` checks the schema only
NO_RULES_TASK = "schema_only_game"


def test_no_rules_task_is_unregistered():
    from debate.records.transcript import task_rules

    assert task_rules(NO_RULES_TASK) is None and task_rules("sparse_pixel") is not None


def test_teams_and_several_claims():
    """Three teams (three claims); team 0 has two players who take turns; winner is a team id. The
    schema allows any teams; the task is one with no rules registered (the sparse-pixel game has two
    players), so only the types are checked."""
    turns = [Turn(i, p, i, {"row": i, "col": 0, "value": 1}, [0.5, 0.3, 0.2]) for i, p in enumerate([0, 1, 2, 3])]
    t = make_transcript(
        task=NO_RULES_TASK, roles=None, debaters=None, claims=[4, 7, 1], turns=turns, winner=2, verdict_claim=1, first_player=0,
        players=players_from_roles(["honest", "liar", "liar", "honest"], ["a", "b", "c", "d"], teams=[0, 1, 2, 0]),
    )
    assert t.validate() is t
    assert t.roles == ["honest", "liar", "liar", "honest"] and t.teams == [0, 1, 2, 0]
    assert t.debaters == ["a", "b", "c", "d"]
    assert t.players_of_team(0) == [0, 3] and t.players_of_team(2) == [2] and t.players_of_team(5) == []
    assert [t.claim_of(p) for p in range(4)] == [4, 7, 1, 4] and t.claim_of(9) is None
    assert t.winner_role == "liar" and not t.honest_won and t.role_of_team(0) == "honest"
    assert t.player_of_role("liar") == 1 and t.debater_of_role("honest") == "a"
    back = Transcript.from_json(t.to_json())
    assert_same(back, t)
    assert json.loads(t.to_json())["players"][3] == {"id": 3, "team": 0, "role": "honest", "debater": "d"}
    t.roles.append("x")  # the lists by player id are copies: the transcript is unchanged
    assert len(t.roles) == 4


def test_consultancy_one_player_two_claims():
    """One player (the consultant, team 1) moving every turn; no player argues claim 0 (a task with
    no rules registered: the schema alone)."""
    turns = [Turn(i, 0, i, {"row": i, "col": 0, "value": 1}, [0.5, 0.5]) for i in range(3)]
    t = make_transcript(task=NO_RULES_TASK, roles=None, debaters=None, players=[Player(0, 1, "liar", "consultant")], turns=turns,
                        winner=1, first_player=0)
    assert t.validate() is t and t.winner_role == "liar" and t.role_of_team(0) is None
    t.winner = 0
    assert t.winner_role is None and not t.honest_won


def test_in_memory_schema_1_refused_by_validate():
    t = make_transcript(schema_version=1)
    with pytest.raises(TranscriptError, match="old file format that Transcript.from_dict migrates"):
        t.validate()


def test_turn_player_must_be_a_player_id():
    t = make_transcript(roles=None, debaters=None, players=[Player(0, 0, "honest", "a")], claims=[1, 2], n_turns=2,
                        winner=0, verdict_claim=1)
    with pytest.raises(TranscriptError, match="turn 1 has player 1 but player ids must be in 0..0"):
        t.validate()


# --------------------------------------------------------------------------- import hygiene


def test_import_does_not_pull_jax():
    code = "import sys, debate.records.transcript; assert 'jax' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_repo_root())


def _repo_root():
    import pathlib

    return str(pathlib.Path(__file__).resolve().parents[1])
