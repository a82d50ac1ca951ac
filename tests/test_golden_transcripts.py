"""Golden transcripts pin the game rules end to end: the same debate must give the same record.

Regenerate (after an intended rule change only) with
``python tests/test_golden_transcripts.py --write`` and review the diff. ``golden/v1/`` keeps the
files as first written (transcript schema 1); ``--migrate`` rewrites every golden file as its v1
original migrated to the current schema, which ``test_golden_files_are_the_migrated_v1_files`` checks.
"""

import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import linear_judge_fn  # noqa: E402

from debate.tasks.sparse_pixel.data import load_sklearn_digits  # noqa: E402
from debate.core.debaters import greedy_debater  # noqa: E402
from debate.core.runner import Runner  # noqa: E402
from debate.tasks.sparse_pixel.protocols import no_precommit_debate, precommit_debate  # noqa: E402
from debate.tasks.sparse_pixel.records import describe_transcript, games_to_transcripts  # noqa: E402
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask  # noqa: E402
from debate.records.transcript import SCHEMA_VERSION, Transcript, migrate_transcript_dict  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_V1 = GOLDEN / "v1"  # the same files in transcript schema 1, as first written
VOLATILE = ("id", "created_at")


def golden_transcripts() -> dict[str, list[Transcript]]:
    digits = load_sklearn_digits()
    judge_fn, params = linear_judge_fn(np.random.default_rng(0).normal(size=(10, 8, 8)).astype(np.float32))
    task = SparsePixelTask(num_reveals=4, height=8, width=8, num_classes=10, max_candidates=32)
    greedy = greedy_debater(task, judge_fn)
    runner = Runner(task, judge_fn, params, [greedy, greedy], batch_size=32)
    images, labels = digits.images[:2], digits.labels[:2]
    ids = [f"sklearn-digits:{i}" for i in range(2)]
    out = {}
    pre = precommit_debate(runner, images, labels, HONEST, 1, jax.random.key(0), 10)
    keep = pre.games.liar_claim == (labels[pre.games.image_index] + 1) % 10  # one lie per image
    transcripts = games_to_transcripts(pre.games, images, labels, ids, pre.condition, ("greedy", "greedy"),
                                       "linear-test-judge", 0)
    out["precommit_honest_first"] = [t for t, k in zip(transcripts, keep) if k]
    nop = no_precommit_debate(runner, images, labels, LIAR, 1, jax.random.key(0))
    out["no_precommit_liar_first"] = games_to_transcripts(nop.games, images, labels, ids, nop.condition,
                                                          ("greedy", "greedy"), "linear-test-judge", 0)
    return out


def stable(t: Transcript) -> dict:
    d = t.to_dict()
    for key in VOLATILE:
        d.pop(key)
    return d


def assert_close(actual, expected, where="transcript"):
    if isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1e-4), where
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for k in expected:
            assert_close(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, where


@pytest.fixture(scope="module")
def played():
    return golden_transcripts()


@pytest.mark.parametrize("name", ["precommit_honest_first", "no_precommit_liar_first"])
def test_golden(played, name):
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    actual = [stable(t) for t in played[name]]
    assert_close(actual, expected, name)
    for d in expected:  # the golden files are valid transcripts of the current schema
        Transcript.from_dict({**d, "id": "x", "created_at": "2026-01-01T00:00:00Z"})


def migrated_golden_text(v1_file: Path) -> str:
    """A schema-1 golden file migrated to the current schema, as the golden files are written."""
    d = json.loads(v1_file.read_text())
    migrated = [migrate_transcript_dict(t) for t in d] if isinstance(d, list) else migrate_transcript_dict(d)
    return json.dumps(migrated, indent=1) + "\n"


def test_golden_files_are_the_migrated_v1_files():
    """Every golden file is its schema-1 original migrated (nothing else changed), byte for byte."""
    v1_files = sorted(GOLDEN_V1.glob("*.json"))
    assert [f.name for f in v1_files] == sorted(f.name for f in GOLDEN.glob("*.json"))
    assert len(v1_files) == 3
    for v1_file in v1_files:
        v1 = json.loads(v1_file.read_text())
        for t in v1 if isinstance(v1, list) else [v1]:
            assert t["schema_version"] == 1 and "roles" in t and "players" not in t
        current = (GOLDEN / v1_file.name).read_text()
        assert migrated_golden_text(v1_file) == current, v1_file.name
        for t in (lambda d: d if isinstance(d, list) else [d])(json.loads(current)):
            assert t["schema_version"] == SCHEMA_VERSION and [p["team"] for p in t["players"]] == [0, 1]
            v2 = Transcript.from_dict({**t, "id": "x", "created_at": "2026-01-01T00:00:00Z"})
            assert v2.roles == ["honest", "liar"]


def test_describe_transcript_shows_each_turn(played):
    t = played["precommit_honest_first"][0]
    text = describe_transcript(t)
    assert text.count("\nturn ") == 4
    assert "verdict: class" in text
    board = text.split("turn 4:")[1].split("\n")[1:9]
    assert sum(row.count("H") + row.count("L") for row in board) == 4


if __name__ == "__main__" and "--migrate" in sys.argv:
    # after a transcript schema change: every golden file is its golden/v1 original, migrated
    for v1_file in sorted(GOLDEN_V1.glob("*.json")):
        (GOLDEN / v1_file.name).write_text(migrated_golden_text(v1_file))
        print(f"migrated {v1_file.name}")

if __name__ == "__main__" and "--write" in sys.argv:
    GOLDEN.mkdir(exist_ok=True)
    for name, ts in golden_transcripts().items():
        (GOLDEN / f"{name}.json").write_text(json.dumps([stable(t) for t in ts], indent=1) + "\n")
        print(f"wrote {name}: {len(ts)} transcripts")
        print(describe_transcript(ts[0]))
