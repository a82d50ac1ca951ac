"""Recursive reward modeling (training/rrm.py, `debate rrm`): a level's judge is trained on exactly the
verdicts of the debates before the previous judge, finished levels are not redone on a rerun, and
impossible configurations stop with one sentence.

Fast by design: one tiny run through the command line (sklearn's 8x8 digits, a 40-label budget, a
pool of 24 images, 16 test images, 4 simulations per move, 10 training steps per judge) is shared by
the module; the debate search compiles once per process (one play function for both first movers).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import app
from debate.records.storage import Store
from training import rrm
from training.judge_training import load_judge

WIDE = {"COLUMNS": "240", "TERMINAL_WIDTH": "240"}
TINY = ["--data", "sklearn-digits", "--budget", "40", "--pool", "24", "--test", "16", "--pixels", "4",
        "--simulations", "4", "--judge-steps", "10", "--seed", "3"]


def invoke(*args):
    return CliRunner().invoke(app, ["rrm", *[str(a) for a in args]], env=WIDE)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DEBATE_DB", f"sqlite:///{tmp_path / 'env-default.db'}")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """`debate rrm` on the tiny config, one level, transcripts stored in a SQLite file."""
    tmp = tmp_path_factory.mktemp("rrm")
    out, url = tmp / "out", f"sqlite:///{tmp / 'rrm.db'}"
    result = invoke(*TINY, "--levels", "1", "--out", out, "--db", url)
    assert result.exit_code == 0, (result.output, result.exception)
    return out, url, json.loads((out / "results.json").read_text()), result.stdout


def tiny_config(levels=1):
    return rrm.RRMConfig.for_dataset("sklearn-digits", levels=levels, budget=40, pool=24, test=16, pixels=4,
                                     simulations=4, judge_steps=10, seed=3)


def test_cli_writes_results_with_a_row_per_level(tiny_run):
    out, _, results, stdout = tiny_run
    assert [row["level"] for row in results["rows"]] == [0, 1]
    assert (out / "results.md").is_file() and (out / "results.png").stat().st_size > 0
    for key in ("config", "seeds", "wall_seconds", "provenance", "upper_bound", "target"):
        assert key in results, key
    assert results["config"]["budget"] == 40 and results["config"]["lies"] == "plausible"
    assert results["provenance"]["packages"]["jax"]
    row = results["rows"][1]
    for chain in ("rrm", "self"):
        for condition in ("alone", "debate"):
            rate = row[chain][condition]
            assert rate["n"] == 16 and rate["ci95"][0] <= rate["accuracy"] <= rate["ci95"][1]
        assert row[chain]["labels"]["n"] == 24
    # Level 0 is J0 in both chains; the table names every reference judge.
    assert results["rows"][0]["rrm"] == results["rows"][0]["self"]
    assert "upper bound" in stdout and "| 1 |" in stdout


def test_level_judge_is_trained_on_the_stored_debate_verdicts(tiny_run):
    out, url, results, _ = tiny_run
    config = tiny_config()
    data = rrm.load_rrm_data(config)
    stored = rrm.load_labels(out / "rrm" / "level1" / rrm.LABELS_FILE)
    verdict, margins, claims = stored["labels"], stored["honest_margin"], stored["liar_claims"]
    truth = data.pool.labels
    np.testing.assert_array_equal(stored["true_label"], truth)
    assert (claims[:, 0] != truth).all()  # the liar never claims the truth
    # The verdict is the winning claim of each debate: the truth if honest won, else the lie.
    np.testing.assert_array_equal(verdict, np.where(margins[:, 0] > 0, truth, claims[:, 0]))
    # J1 was trained on the budget's ground truth followed by exactly those verdicts.
    np.testing.assert_array_equal(stored["train_labels"], np.concatenate([data.budget.labels, verdict]))
    _, train_config = load_judge(out / "rrm" / "level1" / "judge")
    assert train_config.steps == 10 and "debate verdicts before J0" in train_config.data
    # Every debate is stored, and each stored verdict is the label J1 learnt for that image.
    transcripts = Store(url).query_transcripts(experiment_id=str(stored["experiment_id"]))
    assert len(transcripts) == 24
    by_image = {int(t.instance_id.rsplit(":", 1)[1]) - 40: t for t in transcripts}
    assert [by_image[i].verdict_claim for i in range(24)] == verdict.tolist()
    assert [by_image[i].first_player for i in range(24)] == stored["first_player"].tolist()
    assert results["rows"][1]["rrm"]["labels"]["accuracy"] == pytest.approx(float(np.mean(verdict == truth)), abs=1e-4)
    # Replaying the debates before J0 (loaded from its checkpoint) gives the same outcomes.
    j0, _ = load_judge(out / "level0" / "judge")
    engine = rrm.engine_for(config, data)
    replay = rrm.debate_labels(engine, rrm.judge_params(j0), data.pool.images, truth, "plausible", 10,
                               rrm.stage_key(config.seed, "pool_debates", 1))
    np.testing.assert_array_equal(replay.verdict, verdict)
    np.testing.assert_allclose(replay.honest_margin, margins, rtol=1e-5, atol=1e-5)


def test_rerun_skips_finished_levels_and_adds_new_ones(tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(tiny_run[0], out)
    before = {p: p.stat().st_mtime_ns for p in (out / "rrm" / "level1" / rrm.LABELS_FILE,
                                                out / "self" / "level1" / rrm.LABELS_FILE)}
    calls = []
    real = rrm.debate_labels
    monkeypatch.setattr(rrm, "debate_labels", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    result = invoke(*TINY, "--levels", "2", "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    results = json.loads((out / "results.json").read_text())
    resumed = results["resumed"]
    for name in ("J0", "J1", "S1", "upper"):
        assert resumed[name]["judge_steps_this_run"] == 0, (name, resumed[name])
        assert resumed[name]["eval_loaded"], name
    assert resumed["J1"]["labels_loaded"] and resumed["S1"]["labels_loaded"]
    assert not resumed["J2"]["labels_loaded"] and resumed["J2"]["judge_steps_this_run"] == 10
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    assert len(calls) == 3  # the level-2 pool debates and the test debates of J2 and S2, nothing else
    assert [row["level"] for row in results["rows"]] == [0, 1, 2]
    for chain in ("rrm", "self"):  # level 1 as the first run measured it (only the folder moved)
        for part in ("alone", "debate", "labels"):
            assert results["rows"][1][chain][part] == tiny_run[2]["rows"][1][chain][part], (chain, part)
    level2 = results["rows"][2]["rrm"]["labels"]["persisting_from_previous_level"]
    assert level2["errors_before"] == tiny_run[2]["rows"][1]["rrm"]["labels"]["errors"]


@pytest.mark.parametrize("args, fragments", [
    (["--budget", "2000"], ["--budget 2000 + --pool 24 + --test 16", "1797 images", "lower --budget"]),
    (["--levels", "0"], ["--levels 0 is out of range", "between 1 and 100"]),
    (["--pixels", "99"], ["--pixels 99 is more than the 64 pixels", "K <= 64"]),
])
def test_impossible_configs_are_refused_with_one_sentence(args, fragments, tmp_path):
    out = tmp_path / "out"
    result = invoke(*TINY, *args, "--out", out)
    assert_one_line_error(result, *fragments)
    assert not out.exists()  # nothing was started


def test_library_refuses_bad_configs():
    with pytest.raises(ValueError, match="levels must be at least 1"):
        tiny_config(levels=0).validate()
    with pytest.raises(ValueError, match="more than the 1797 images"):
        rrm.load_rrm_data(rrm.RRMConfig.for_dataset("sklearn-digits", budget=1797))


def test_another_config_in_the_same_folder_is_refused(tiny_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(tiny_run[0], out)
    result = invoke(*[a if a != "24" else "20" for a in TINY], "--levels", "1", "--out", out)
    assert_one_line_error(result, "another configuration", "pool 24 -> 20")


def test_human_judgments_flag_without_judgments_is_a_clear_error(tmp_path):
    result = invoke(*TINY, "--levels", "1", "--human-judgments", "--db", f"sqlite:///{tmp_path / 'empty.db'}",
                    "--out", tmp_path / "out")
    assert_one_line_error(result, "no human judgments")


def test_human_examples_join_the_judge_batches(tmp_path):
    """A judge seeded from (synthetic) human judgments: every human view says class 7."""
    from debate.tasks.sparse_pixel.data import load_sklearn_digits
    from judges.sparse_cnn import JudgeConfig
    from training.judge_training import TrainConfig

    digits = load_sklearn_digits()
    views = np.zeros((4, 8, 8, 2), np.float32)
    human = (views, np.full(4, 7, np.int32), np.ones(4, np.float32))
    config = TrainConfig(judge=JudgeConfig(architecture="small", height=8, width=8, num_reveals=4), steps=60,
                         batch_size=32, learning_rate=1e-2, checkpoint_every=60, data="digits + human")
    model, summary = rrm.train_rrm_judge(digits.images[:40], digits.labels[:40], config, tmp_path / "j", human,
                                         human_fraction=0.5, progress=False)
    assert summary["steps"] == 60
    # The empty view is what the people saw; the judge learnt their verdict for it.
    assert int(np.asarray(model(views[:1])).argmax()) == 7
    with pytest.raises(ValueError, match="human judgments show views"):
        rrm.train_rrm_judge(digits.images[:40], digits.labels[:40], config, tmp_path / "k",
                            (np.zeros((2, 28, 28, 2)), np.zeros(2), np.ones(2)), progress=False)


def test_every_option_has_help():
    import typer

    command = typer.main.get_command(app).commands["rrm"]
    for param in command.params:
        assert param.help and param.help.strip(), param.name
    names = {name for p in command.params for name in p.opts}
    for needed in ("--out", "--levels", "--budget", "--pool", "--pixels", "--simulations", "--judge-steps",
                   "--architecture", "--data", "--seed", "--db"):
        assert needed in names, needed


def test_confident_share_keeps_the_most_decisive_labels(tmp_path):
    keep = rrm.confident_subset(np.array([0.5, 3.0, 0.1, 2.0, 2.0]), 0.6)
    np.testing.assert_array_equal(keep, [False, True, False, True, True])
    assert rrm.confident_subset(np.zeros(4), 1.0).all()
    labels = rrm.DebateLabels(verdict=np.zeros(3, np.int32), liar_claims=np.zeros((3, 2), np.int32),
                              honest_margin=np.array([[2.0, 0.5], [-1.5, 0.3], [4.0, -0.2]]),
                              first_player=np.zeros(3, np.int32), games=None)
    # honest won: the closest lie decides; a lie won: by how much the strongest lie beat the truth
    np.testing.assert_allclose(labels.confidence, [0.5, 1.5, 0.2])
    # runs without the option keep their fingerprint (their directories still resume)
    assert "confident_share" not in rrm.RRMConfig().fingerprint()
    assert rrm.RRMConfig(confident_share=0.7).fingerprint()["confident_share"] == 0.7
    assert_one_line_error(invoke(*TINY, "--confident-share", "0", "--out", tmp_path / "bad"),
                          "confident_share must be in (0, 1]")


def test_level_judge_trains_on_the_confident_share_only(tmp_path):
    out = tmp_path / "out"
    result = invoke(*TINY, "--levels", "1", "--confident-share", "0.5", "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    data = rrm.load_rrm_data(rrm.RRMConfig.for_dataset("sklearn-digits", levels=1, budget=40, pool=24, test=16,
                                                       pixels=4, simulations=4, judge_steps=10, seed=3,
                                                       confident_share=0.5))
    for chain, name in (("rrm", "debate verdicts before J0"), ("self", "self-training labels of J0")):
        stored = rrm.load_labels(out / chain / "level1" / rrm.LABELS_FILE)
        keep = stored["kept"]
        assert keep.sum() == 12
        # the kept labels are the 12 most confident ones, and exactly those follow the budget
        assert stored["confidence"][keep].min() >= stored["confidence"][~keep].max()
        np.testing.assert_array_equal(stored["train_labels"],
                                      np.concatenate([data.budget.labels, stored["labels"][keep]]))
        _, train_config = load_judge(out / chain / "level1" / "judge")
        assert f"12 (the most confident) {name}" in train_config.data
    results = json.loads((out / "results.json").read_text())
    assert results["rows"][1]["rrm"]["labels"]["kept"]["n"] == 12
    assert "kept 12" in (out / "results.md").read_text()


def test_ctrl_c_in_the_pool_debates_keeps_the_finished_batches_and_the_rerun_matches(tiny_run, tmp_path, monkeypatch):
    from training import partial_run

    out = tmp_path / "out"
    real_save, real_load = partial_run.ChunkFiles.save, partial_run.ChunkFiles.load
    with monkeypatch.context() as m:
        def save_then_ctrl_c(self, index, columns):
            real_save(self, index, columns)
            raise KeyboardInterrupt

        m.setattr(partial_run.ChunkFiles, "save", save_then_ctrl_c)
        result = invoke(*TINY, "--levels", "1", "--out", out, "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert result.exit_code == 130 and "error: interrupted" in result.stderr, result.output
    kept = out / "rrm" / "level1" / "debate_chunks"
    assert len(list(kept.glob("0*.npz"))) == 1

    found = []
    monkeypatch.setattr(partial_run.ChunkFiles, "load",
                        lambda self, i, n: (lambda c: found.append(c is not None) or c)(real_load(self, i, n)))
    result = invoke(*TINY, "--levels", "1", "--out", out, "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert result.exit_code == 0, (result.output, result.exception)
    assert found[0] is True and not kept.exists()  # the kept batch was used, then removed with the labels
    ours = rrm.load_labels(out / "rrm" / "level1" / rrm.LABELS_FILE)
    theirs = rrm.load_labels(tiny_run[0] / "rrm" / "level1" / rrm.LABELS_FILE)
    np.testing.assert_array_equal(ours["labels"], theirs["labels"])
    np.testing.assert_array_equal(ours["honest_margin"], theirs["honest_margin"])
