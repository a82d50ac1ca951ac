"""Property tests: mutations of valid transcripts are either refused with a short TranscriptError or
accepted and then valid, renderable, storable and equal after a round trip (JSON, store, JSONL).

Mutants start from the golden transcripts of every task (tests/golden) and change one thing: a
field set to an out-of-range, huge, non-finite or wrong-typed value, a long string or one with a
lone surrogate, deep nesting, swapped/dropped/duplicated turns, a changed revealed value, claims,
verdict or winner. ``mutate`` is a plain function of a ``random.Random`` so that the numbers in the
report (how many of N mutants each check refuses) come from the same generator::

    python tests/test_transcript_mutations.py 3000
"""

from __future__ import annotations

import copy
import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from debate import tasks
from debate.records import rendering
from debate.records.storage import StorageError, Store
from debate.records.transcript import Transcript, TranscriptError, read_jsonl, task_rules, write_jsonl

GOLDEN = Path(__file__).parent / "golden"
MAX_MESSAGE = 300
DEEP = "\u0000DEEP\u0000"  # a placeholder replaced by deeply nested JSON text


def golden_dicts() -> list[dict]:
    out = []
    for path in sorted(p for p in GOLDEN.rglob("*.json") if "v1" not in p.relative_to(GOLDEN).parts):
        data = json.loads(path.read_text())
        for d in data if isinstance(data, list) else [data]:
            out.append({**d, "id": f"golden{len(out):02d}", "created_at": "2026-01-01T00:00:00Z",
                        "experiment": None})
    return out


SEEDS = golden_dicts()

BAD_VALUES = [-7, -1, 10, 784, 2**31, 2**63, -(2**63) - 1, 2**64, 10**30, float("nan"), float("inf"),
              float("-inf"), 1.5, -0.0, True, None, "", "7", "x" * 100_000, "\ud800", "a\udfffb", [], [1, 2],
              {}, {"k": 1}, DEEP]


def _paths(value, prefix=()):
    """Every path (tuple of keys/indices) into a JSON value, the root's children first."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value[:40]))  # not every one of 784 pixels
    else:
        return
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


def _set(d, path, value):
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


def _get(d, path):
    for k in path:
        d = d[k]
    return d


def mutate(d: dict, rng: random.Random) -> tuple[str, dict]:
    """One mutant of transcript dict ``d``: (what was done, the mutated dict)."""
    d = copy.deepcopy(d)
    kind = rng.choice(["field", "field", "field", "swap_turns", "drop_turn", "duplicate_turn", "revealed_value",
                       "claims", "verdict", "winner", "delete_key", "add_key", "pixel", "action", "player"])
    turns = d["turns"]
    if kind == "field":
        path = rng.choice(list(_paths(d)))
        value = rng.choice(BAD_VALUES)
        if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.3:
            old = _get(d, path)
            if isinstance(old, int) and not isinstance(old, bool):
                value = old + rng.choice([-1, 1, 2, 2**32])
        _set(d, path, value)
        return f"field {'.'.join(map(str, path))}={str(value)[:20]!r}", d
    if kind == "swap_turns" and len(turns) >= 2:
        i, j = rng.sample(range(len(turns)), 2)
        turns[i], turns[j] = turns[j], turns[i]
        if rng.random() < 0.5:  # renumber too: only the order is wrong
            for k, t in enumerate(turns):
                t["index"] = k
    elif kind == "drop_turn" and turns:
        del turns[rng.randrange(len(turns))]
        if rng.random() < 0.5:
            for k, t in enumerate(turns):
                t["index"] = k
    elif kind == "duplicate_turn" and turns:
        i = rng.randrange(len(turns))
        turns.insert(i, copy.deepcopy(turns[i]))
        for k, t in enumerate(turns):
            t["index"] = k
    elif kind == "revealed_value" and turns:
        t = rng.choice(turns)
        key = rng.choice(sorted(t["revealed"]))
        v = t["revealed"][key]
        t["revealed"][key] = v + rng.choice([-1, 1, 255]) if isinstance(v, int) else rng.choice(["left", "right", 3])
    elif kind == "claims":
        d["claims"][rng.randrange(len(d["claims"]))] = rng.choice([None, -1, 0, 1, 2, 9, 10, 30, 31, 2**63])
    elif kind == "verdict":
        d["verdict_claim"] = rng.choice([None, -7, 0, 1, 2, 3, 9, 10, 16, 2**63])
    elif kind == "winner":
        d["winner"] = rng.choice([None, 0, 1, 2, -1])
    elif kind == "delete_key":
        path = rng.choice(list(_paths(d)))
        parent = _get(d, path[:-1])
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            del parent[path[-1]]
    elif kind == "add_key":
        path = rng.choice([p for p in _paths(d) if isinstance(_get(d, p), dict)] or [()])
        target = _get(d, path)
        target[rng.choice(["extra", "\ud800", "x" * 5000])] = rng.choice(BAD_VALUES)
    elif kind == "pixel" and "pixels" in d["instance"]:
        pixels = d["instance"]["pixels"]
        pixels[rng.randrange(len(pixels))] = rng.choice([-1, 0, 1, 256, 2**63, 1.5])
    elif kind == "action" and turns:
        rng.choice(turns)["action"] = rng.choice([-7, -1, 0, 1, 2, 5, 31, 63, 64, 784, 2**40])
    elif kind == "player" and turns:
        t = rng.choice(turns)
        t["player"] = rng.choice([0, 1, 2, -1])
    return kind, d


def to_text(d: dict, rng: random.Random) -> str:
    """The mutant as JSON text (NaN/Infinity as the literals Python writes; DEEP as nested lists)."""
    text = json.dumps(d, allow_nan=True)
    depth = rng.choice([40, 3000, 100_000])
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)


def _store_round_trip(t: Transcript, tmp: Path) -> None:
    """Store it (a fresh in-memory store, about 20 ms), read it back, export it and read the file.
    The store checks the task's rules on writing: a mutant that only the types accept (``rules=False``)
    is refused there with the rule's own message, exactly when ``validate()`` refuses it."""
    expected = t.to_dict()
    try:
        t.validate()
        rule_break = None
    except TranscriptError as e:
        rule_break = str(e)
    with Store("sqlite://") as store:
        try:
            store.add_transcript(t)
        except StorageError as e:  # the store's own refusal: only an experiment that does not exist
            assert "does not exist" in str(e), e
            return
        except TranscriptError as e:
            assert rule_break is not None and str(e) == rule_break, (str(e), rule_break)
            return
        assert rule_break is None, rule_break
        assert store.get_transcript(t.id).to_dict() == expected
        path = tmp / "export.jsonl"
        assert store.export_jsonl(path) == 1
        assert [b.to_dict() for b in read_jsonl(path)] == [expected]
        path.unlink()


def _render(t: Transcript, strict: bool) -> None:
    """Render everything; ``strict``: a rule-checked transcript of a task with a renderer must render,
    else only the renderers' own refusal (a ValueError naming the transcript) is allowed."""
    try:
        rendering.describe_transcript(t)
        for i in range(len(t.turns)):
            rendering.turn_text(t, i)
            rendering.turn_text(t, i, names={p: f"Debater {p}" for p in range(len(t.players))})
        rendering.judge_question(t)
        rendering.final_evidence(t)
        rendering.evidence_check(t)
        for p in range(len(t.players)):
            rendering.claim_text(t, p)
    except rendering.UnknownTaskError:
        return  # a task without a renderer (a mutated task name) says so in one sentence
    except ValueError as e:
        if strict:
            raise
        assert "is not a readable" in str(e) or "regenerate it" in str(e), e


def check_mutant(text: str, tmp: Path, rules: bool) -> bool:
    """The property; True if the mutant was accepted."""
    try:
        t = Transcript.from_json(text, rules=rules)
    except TranscriptError as e:
        msg = str(e)
        assert len(msg) < MAX_MESSAGE and "\n" not in msg, msg[:400]
        msg.encode("utf-8")  # printable: no lone surrogate echoed
        return False
    t.validate(rules=rules)
    assert Transcript.from_json(t.to_json(), rules=rules) == t
    assert t.to_dict() == Transcript.from_dict(json.loads(t.to_json()), rules=rules).to_dict()
    _render(t, strict=rules and task_rules(t.task) is not None)
    _store_round_trip(t, tmp)
    return True


def test_every_golden_transcript_passes_its_tasks_rules():
    assert {d["task"] for d in SEEDS} >= {name for name in tasks.names() if task_rules(name) is not None}
    for d in SEEDS:
        assert task_rules(d["task"]) is not None
        t = Transcript.from_dict(d, rules=True)
        assert rendering.describe_transcript(t)


@pytest.mark.parametrize("rules", [True, False], ids=["rules", "types-only"])
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.integers(0, len(SEEDS) - 1), seed=st.integers(0, 2**32 - 1))
def test_mutants_are_refused_or_round_trip(tmp_path, rules, which, seed):
    rng = random.Random(seed)
    _, d = mutate(SEEDS[which], rng)
    check_mutant(to_text(d, rng), tmp_path, rules)


def test_the_unmutated_seeds_round_trip(tmp_path):
    for d in SEEDS:
        assert check_mutant(json.dumps(d), tmp_path, rules=True)


if __name__ == "__main__":  # the numbers: how many of N mutants are refused, with and without rules
    import collections
    import tempfile
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with tempfile.TemporaryDirectory() as tmp:
        for rules in (True, False):
            counts, start = collections.Counter(), time.perf_counter()
            for i in range(n):
                rng = random.Random(i)
                kind, d = mutate(SEEDS[i % len(SEEDS)], rng)
                counts["accepted" if check_mutant(to_text(d, rng), Path(tmp), rules) else "refused"] += 1
            print(f"rules={rules}: {dict(counts)} of {n} in {time.perf_counter() - start:.1f} s")


def test_the_jax_replay_agrees_with_the_rules():
    """Every golden transcript replays (debate.core.replay) and passes the numpy rules; a turn that
    records another pixel / half than its action gives is refused by both; the numpy copies of the
    games' constants and hash agree with the jax games."""
    import numpy as np

    from debate.core.replay import replay_transcript
    from debate.tasks.computation import game as computation_game, records as computation_records
    from debate.tasks.sparse_pixel import game as sparse_game, records as sparse_records

    for d in SEEDS:
        t = Transcript.from_dict(d, rules=True)
        replay_transcript(t)
        bad = copy.deepcopy(d)
        turn = bad["turns"][1]
        if "row" in turn["revealed"]:
            turn["action"] = bad["turns"][0]["action"] if turn["action"] != bad["turns"][0]["action"] else 0
        else:
            turn["action"] = 1 - turn["action"]
        with pytest.raises(TranscriptError, match="turn 1 "):
            Transcript.from_dict(bad, rules=True)
        with pytest.raises(ValueError, match="turn 2 of transcript"):
            replay_transcript(Transcript.from_dict(bad, rules=False))
    assert (sparse_records.HONEST, sparse_records.LIAR, sparse_records.NO_CLAIM,
            sparse_records.DEFAULT_MAX_CANDIDATES) == (sparse_game.HONEST, sparse_game.LIAR, sparse_game.NO_CLAIM,
                                                       sparse_game.DEFAULT_MAX_CANDIDATES)
    assert computation_records.OPERATOR_SETS == computation_game.OPERATOR_SETS
    assert (computation_records.LEFT, computation_records.RIGHT, computation_records.MAX_MODULUS,
            computation_records.MAX_STEPS) == (computation_game.LEFT, computation_game.RIGHT,
                                               computation_game.MAX_MODULUS, computation_game.MAX_STEPS)
    task = computation_game.ComputationTask(num_steps=37, modulus=31, operators="affine")
    seeds = np.asarray([0, 5, 2**32 - 1], np.uint32)
    opcode, operand = (np.asarray(v) for v in task.operations(seeds[:, None], np.arange(37)[None, :]))
    for i, seed in enumerate(seeds.tolist()):
        assert computation_records.start_value(seed, 31) == int(task.start_value(seeds)[i])
        ours = computation_records.operations(seed, np.arange(37), 31, "affine")
        assert ours[0].tolist() == opcode[i].tolist() and ours[1].tolist() == operand[i].tolist()
        assert computation_records.final_value(seed, 37, 31, "affine") == int(task.trace(seeds)[i, -1])
    image = np.asarray([[0, 9, 9], [3, 0, 200]], np.uint8)
    jax_order = np.asarray(sparse_game.candidate_pixels(image[None].astype(np.float32) / 255, 6))[0]
    assert sparse_records.candidate_order(image.reshape(-1).astype(np.int64), 6).tolist() == jax_order.tolist()
