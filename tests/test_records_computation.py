"""Transcripts of computation (bisection) debates: made from real games, checked by hand, stored, rendered.

The golden transcript pins the game rules and the record format end to end; regenerate it (after an
intended change only) with ``PYTHONPATH=. python tests/test_records_computation.py --write`` and review the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from debate.tasks.computation import game as computation

from debate.records import rendering
from debate.tasks.computation.game import HONEST, LIAR, ComputationTask, exact_checker
from debate.core.runner import Games, Runner
from debate.tasks.computation.protocols import expert_debater, play_computations
from debate.tasks.computation.records import computation_games_to_transcripts, instance_id
from debate.tasks.sparse_pixel.records import describe_transcript as records_describe
from debate.records.storage import Store
from debate.records.transcript import Transcript, TranscriptError, read_jsonl, write_jsonl

GOLDEN = Path(__file__).parent / "golden" / "computation_liar_claimer.json"
VOLATILE = ("id", "created_at")
T, P = 8, 31
SEEDS = np.arange(8)
GOLDEN_SEED = 5
NAMES = {0: "Debater A", 1: "Debater B"}


def make_runner(num_steps: int) -> tuple[ComputationTask, Runner]:
    task = ComputationTask(num_steps=num_steps, modulus=P)
    expert = expert_debater(task)
    return task, Runner(task, exact_checker(task), None, [expert, expert], batch_size=8)


def lies(task: ComputationTask, seeds) -> np.ndarray:
    """A fixed wrong final value per instance: the truth + 5 (mod p)."""
    return (task.trace(seeds)[:, -1] + 5) % task.modulus


def play(task, runner, claimer: int, seeds=SEEDS):
    games = play_computations(runner, seeds, lies(task, seeds), claimer, jax.random.key(0))
    protocol = "debate_honest_claimer" if claimer == HONEST else "debate_liar_claimer"
    return games, computation_games_to_transcripts(games, task, protocol, ("expert", "expert"), "exact-checker", 0,
                                                   experiment="exp-1")


def golden_transcript() -> Transcript:
    """The liar claims x_8 of instance seed 5; expert against expert; the exact checker judges."""
    task, runner = make_runner(T)
    _, transcripts = play(task, runner, LIAR)
    return transcripts[GOLDEN_SEED]


def stable(t: Transcript) -> dict:
    d = t.to_dict()
    for key in VOLATILE:
        d.pop(key)
    return d


def assert_close(actual, expected, where="transcript"):
    if isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1e-5), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for k in expected:
            assert_close(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{where}[{i}]")
    else:
        assert actual == expected and type(actual) is type(expected), where


@pytest.fixture(scope="module")
def task_and_runner():
    return make_runner(T)


@pytest.fixture(scope="module")
def played(task_and_runner):
    task, runner = task_and_runner
    return {claimer: play(task, runner, claimer) for claimer in (HONEST, LIAR)}


@pytest.fixture(scope="module")
def trace(task_and_runner):
    return task_and_runner[0].trace(SEEDS)


# ------------------------------------------------------------------------------ the records


def test_operator_names_in_rendering_match_the_task():
    from debate.tasks.computation import rendering as computation_rendering

    assert computation_rendering.OPERATOR_NAMES == computation.OPERATOR_NAMES
    assert set(computation_rendering.OPERATOR_SETS) == set(computation.OPERATOR_SETS)


@pytest.mark.parametrize("claimer", [HONEST, LIAR])
def test_transcripts_record_each_game(played, trace, task_and_runner, claimer):
    task = task_and_runner[0]
    games, transcripts = played[claimer]
    assert len(transcripts) == len(SEEDS)
    for g, t in enumerate(transcripts):
        t.validate()
        truth = int(trace[g, -1])
        assert t.task == "computation" and t.instance_id == instance_id(task, g) == f"computation-affine-T8-mod31:{g}"
        assert t.claims == [truth, (truth + 5) % P] and t.ground_truth == truth
        assert t.roles == ["honest", "liar"] and t.first_player == claimer and t.experiment == "exp-1"
        assert t.winner == HONEST and t.verdict_claim == truth  # an exact checker never lets the liar win
        assert t.seeds == {"experiment_seed": 0, "instance_seed": g}
        assert len(t.turns) == int(games.num_moves[g]) == 6
        assert [tr.player for tr in t.turns] == [claimer, 1 - claimer] * 3
        for tr in t.turns:
            assert tr.judge_probs == pytest.approx(games.claim_probs[g, tr.index].tolist())
            assert tr.judge_class_probs is None
        inst = t.instance
        assert (inst["num_steps"], inst["modulus"], inst["operators"], inst["seed"], inst["claimer"]) == (
            T, P, "affine", g, claimer)
        assert inst["start"] == int(trace[g, 0])
        view = games.checked_view[g].tolist()
        assert view[0] == 1
        assert inst["checked_step"] == dict(zip(("position", "v_lo", "opcode", "operand", "v_hi"), view[1:]))
        assert t.meta["honest_margin"] == pytest.approx(10.0)


def test_an_honest_claimers_game_by_hand(played, trace, task_and_runner):
    """An honest claimer states true values; the (expert) liar then always disputes the right half."""
    task = task_and_runner[0]
    g = 0
    t = played[HONEST][1][g]
    x = trace[g]
    assert [tr.revealed for tr in t.turns] == [
        {"kind": "midpoint", "position": 4, "value": int(x[4])},
        {"kind": "dispute", "half": "right", "lo": 4, "hi": 8},
        {"kind": "midpoint", "position": 6, "value": int(x[6])},
        {"kind": "dispute", "half": "right", "lo": 6, "hi": 8},
        {"kind": "midpoint", "position": 7, "value": int(x[7])},
        {"kind": "dispute", "half": "right", "lo": 7, "hi": 8},
    ]
    assert [tr.action for tr in t.turns] == [int(x[4]), 1, int(x[6]), 1, int(x[7]), 1]
    assert [rendering.turn_text(t, i) for i in range(6)] == [
        f"Claimer (honest) says x_4 = {x[4]}", "Challenger (liar) disputes steps 4..8 (right half)",
        f"Claimer (honest) says x_6 = {x[6]}", "Challenger (liar) disputes steps 6..8 (right half)",
        f"Claimer (honest) says x_7 = {x[7]}", "Challenger (liar) disputes steps 7..8 (right half)",
    ]
    opcode, operand = (int(v[0]) for v in task.operations(np.uint32([g]), np.array([7])))
    assert int(task.apply(opcode, operand, int(x[7]))) == int(x[8])
    name = computation.OPERATOR_NAMES[opcode]
    assert rendering.final_evidence(t) == f"step 7: x_7 = {x[7]}, {name} {operand} (mod 31) -> claimed x_8 = {x[8]}"
    assert rendering.evidence_check(t).startswith(f"the step is right (x_8 = {x[8]})")
    # the judge's view: neutral names, the claimer's part in the game but not its role
    assert rendering.turn_text(t, 0, names=NAMES) == f"Debater A (claimer) says x_4 = {x[4]}"
    assert rendering.turn_text(t, t.turns[1], names=NAMES) == "Debater B (challenger) disputes steps 4..8 (right half)"
    assert rendering.judge_question(t) == (f"Start from x_0 = {x[0]} and apply 8 steps of arithmetic mod 31 (each "
                                           "step adds, subtracts or multiplies by a number, fixed by the instance). "
                                           "What is x_8?")
    assert rendering.claim_text(t, HONEST) == f"x_8 = {x[8]}" and rendering.value_text(t, 3) == "x_8 = 3"


def test_a_lying_claimer_is_bisected_down_to_a_wrong_step(played, trace):
    """Against the honest challenger each dispute picks the half whose claimed end value is false,
    so the checked step starts at a true value and ends at a false one."""
    for g, t in enumerate(played[LIAR][1]):
        x = trace[g]
        lo, hi, v_lo, v_hi = 0, T, int(x[0]), t.claims[LIAR]
        for claim, dispute in zip(t.turns[0::2], t.turns[1::2]):
            mid = lo + (hi - lo) // 2
            assert claim.revealed["kind"] == "midpoint" and claim.revealed["position"] == mid
            value = claim.revealed["value"]
            half = "left" if value != x[mid] else "right"
            assert dispute.revealed["half"] == half
            lo, hi, v_lo, v_hi = (lo, mid, v_lo, value) if half == "left" else (mid, hi, value, v_hi)
            assert (dispute.revealed["lo"], dispute.revealed["hi"]) == (lo, hi)
            assert rendering.turn_text(t, dispute) == f"Challenger (honest) disputes steps {lo}..{hi} ({half} half)"
        assert hi - lo == 1 and v_lo == x[lo] and v_hi != x[hi]
        step = t.instance["checked_step"]
        assert (step["position"], step["v_lo"], step["v_hi"]) == (lo, v_lo, v_hi)
        assert rendering.final_evidence(t).startswith(f"step {lo}: x_{lo} = {v_lo}, ")
        assert rendering.final_evidence(t).endswith(f"(mod 31) -> claimed x_{hi} = {v_hi}")
        assert rendering.evidence_check(t).startswith(f"the step is wrong (x_{hi} would be {x[hi]}, not {v_hi})")


def test_turns_stop_at_the_moves_played_when_T_is_not_a_power_of_two():
    task, runner = make_runner(6)
    games, transcripts = play(task, runner, LIAR)
    assert games.actions.shape[1] == 6
    moves = games.num_moves.tolist()
    assert 4 in moves and 6 in moves  # both branch lengths of a 6-step bisection occur
    for g, t in enumerate(transcripts):
        assert len(t.turns) == moves[g]
        last = t.turns[-1].revealed
        assert last["kind"] == "dispute" and last["hi"] - last["lo"] == 1
        assert t.instance["checked_step"]["position"] == last["lo"]
        assert t.winner == HONEST


def test_records_refuse_games_they_cannot_describe(played, task_and_runner):
    task = task_and_runner[0]
    games = played[HONEST][0]
    claims = games.claims.copy()
    claims[:, 1] = games.truth
    truthful_liar = Games({**games.columns, "claims": claims})
    with pytest.raises(ValueError, match="liar claims the true value"):
        computation_games_to_transcripts(truthful_liar, task, "p", ("a", "b"), "j", 0)
    wrong_task = ComputationTask(num_steps=16, modulus=P)
    with pytest.raises(ValueError, match="do not match"):
        computation_games_to_transcripts(games, wrong_task, "p", ("a", "b"), "j", 0)


# ------------------------------------------------------------------------------ storage


def test_jsonl_and_store_round_trips_are_exact(played, tmp_path):
    transcripts = played[HONEST][1] + played[LIAR][1]
    path = tmp_path / "computation.jsonl"
    assert write_jsonl(path, transcripts) == 16
    back = read_jsonl(path)
    assert [t.to_dict() for t in back] == [t.to_dict() for t in transcripts]
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        exp = store.create_experiment("computation", "debate", {"T": T})
        store.add_transcripts(transcripts, experiment_id=exp)
        for t in transcripts:
            stored = store.get_transcript(t.id).to_dict()
            assert stored == {**t.to_dict(), "experiment": exp}
        assert store.count_transcripts(task="computation") == 16
        assert {t.id for t in store.query_transcripts(task="computation", protocol="debate_liar_claimer")} == {
            t.id for t in played[LIAR][1]}
    finally:
        store.close()


# ------------------------------------------------------------------------------ rendering


def test_describe_transcript_reads_turn_by_turn(played, trace):
    t = played[LIAR][1][GOLDEN_SEED]
    text = rendering.describe_transcript(t)
    lines = text.splitlines()
    assert lines[0].startswith("debate_liar_claimer: Start from x_0 = ")
    assert [line.split(":")[0] for line in lines if line.startswith("turn ")] == [f"turn {i}" for i in range(1, 7)]
    assert f"checked {rendering.final_evidence(t)}" in lines
    assert lines[-1] == f"verdict: x_8 = {trace[GOLDEN_SEED, -1]}; the honest player wins."
    assert records_describe(t) == text  # the old entry point renders any task too


def test_unknown_tasks_and_broken_instances_stop_with_one_sentence(played):
    t = played[HONEST][1][0]
    other = Transcript.from_dict({**t.to_dict(), "task": "text_debate"})
    for fn in (rendering.describe_transcript, rendering.judge_question, rendering.final_evidence):
        with pytest.raises(rendering.UnknownTaskError, match="no people-facing rendering for task 'text_debate'"):
            fn(other)
    # an instance without its modulus breaks the computation rules, so importing it is refused; a row
    # already stored is read type-checked only, and the renderer then refuses it in one sentence
    with pytest.raises(TranscriptError, match="instance modulus is None but must be a prime"):
        Transcript.from_dict({**t.to_dict(), "instance": {"num_steps": 8}})
    broken = Transcript.from_dict({**t.to_dict(), "instance": {"num_steps": 8}}, rules=False)
    with pytest.raises(ValueError, match="is not a readable computation debate: its instance lacks modulus"):
        rendering.final_evidence(broken)
    with pytest.raises(ValueError, match="outside 0..5"):
        rendering.turn_text(t, 6)
    assert rendering.supported_tasks() == ["computation", "quote", "sparse_pixel"]


def test_rendering_imports_without_jax():
    import subprocess

    code = "import sys, debate.records.rendering; print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------ golden


def test_golden_computation_transcript(played):
    expected = json.loads(GOLDEN.read_text())
    actual = stable(played[LIAR][1][GOLDEN_SEED])
    assert_close(actual, expected, "computation_liar_claimer")
    # the file itself is a valid transcript of the current schema
    Transcript.from_dict({**expected, "id": "x", "created_at": "2026-01-01T00:00:00Z"})


if __name__ == "__main__" and "--write" in sys.argv:
    transcript = golden_transcript()
    GOLDEN.write_text(json.dumps(stable(transcript), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
    print(rendering.describe_transcript(transcript))
