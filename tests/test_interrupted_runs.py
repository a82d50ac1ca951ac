"""Interrupted work: Ctrl-C during judge training or during a reproduction keeps what was done,
leaves nothing half-made in the database, and rerunning resumes to the same results."""

from __future__ import annotations

import os
import signal

import jax
import numpy as np
import pytest

from debate.records.storage import Store
from debate.tasks.sparse_pixel.data import load_sklearn_digits
from judges.sparse_cnn import JudgeConfig
from training import irving2018, judge_training
from training.checkpoints import latest_step
from training.interrupts import Interrupted
from training.judge_training import TrainConfig, train_judge


def ctrl_c_after_saves(patch, count: int) -> None:
    """Ctrl-C right after the ``count``-th finished chunk is kept (``patch``: a monkeypatch context)."""
    from training import partial_run

    real_save, saves = partial_run.ChunkFiles.save, []

    def save_then_ctrl_c(self, index, columns):
        real_save(self, index, columns)
        saves.append(index)
        if len(saves) == count:
            raise KeyboardInterrupt

    patch.setattr(partial_run.ChunkFiles, "save", save_then_ctrl_c)


def _config(steps: int) -> TrainConfig:
    return TrainConfig(judge=JudgeConfig(architecture="small", height=8, width=8, num_classes=10, num_reveals=4),
                       steps=steps, batch_size=16, learning_rate=1e-3, checkpoint_every=1000, seed=3)


def _ctrl_c_at(step_to_interrupt: int, monkeypatch) -> None:
    """Make the training step send this process SIGINT during step ``step_to_interrupt``."""
    real = judge_training.make_train_step
    calls = {"n": 0}

    def make(*args, **kwargs):
        step = real(*args, **kwargs)

        def interrupted_step(*a):
            calls["n"] += 1
            if calls["n"] == step_to_interrupt:
                os.kill(os.getpid(), signal.SIGINT)
            return step(*a)

        return interrupted_step

    monkeypatch.setattr(judge_training, "make_train_step", make)


def _leaves(model):
    from flax import nnx

    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


def test_ctrl_c_saves_the_judge_after_the_step_in_flight_and_a_rerun_matches(tmp_path, monkeypatch):
    data = load_sklearn_digits().subset(0, 200)
    reference, _ = train_judge(data, _config(12), tmp_path / "reference", progress=False, log=lambda *_: None)

    with monkeypatch.context() as m:
        _ctrl_c_at(5, m)
        with pytest.raises(Interrupted, match="saved at step 5 of 12"):
            train_judge(data, _config(12), tmp_path / "run", progress=False, log=lambda *_: None)
    assert latest_step(tmp_path / "run") == 5  # checkpoint_every is 1000: this save came from Ctrl-C
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back

    resumed, summary = train_judge(data, _config(12), tmp_path / "run", progress=False, log=lambda *_: None)
    assert summary["steps_this_run"] == 7
    for a, b in zip(_leaves(reference), _leaves(resumed)):
        np.testing.assert_array_equal(a, b)


def test_training_saves_at_least_every_checkpoint_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(judge_training, "CHECKPOINT_SECONDS", 0.0)  # every step is "a minute later"
    saved = []
    real = judge_training.save_pytree
    monkeypatch.setattr(judge_training, "save_pytree", lambda d, step, tree: saved.append(step) or real(d, step, tree))
    train_judge(load_sklearn_digits().subset(0, 100), _config(4), tmp_path, progress=False, log=lambda *_: None)
    assert saved == [1, 2, 3, 4]


def test_a_judge_trained_longer_than_asked_is_refused(tmp_path):
    data = load_sklearn_digits().subset(0, 100)
    train_judge(data, _config(4), tmp_path, progress=False, log=lambda *_: None)
    with pytest.raises(ValueError, match="trained for 4 steps, more than the 2 asked for"):
        train_judge(data, _config(2), tmp_path, progress=False, log=lambda *_: None)


# ----------------------------------------------------------------------------------- reproduction
CONDITIONS = ["judge_alone", "debate_precommit_honest_first", "debate_no_precommit_liar_first"]


def _reproduction(**overrides) -> irving2018.ReproductionConfig:
    settings = dict(pixels=[4], images=6, simulations=4, judge_steps=30, judge_architecture="small",
                    dataset="sklearn-digits", max_candidates=16, batch_size=64, seed=1, conditions=CONDITIONS)
    settings.update(overrides)
    return irving2018.ReproductionConfig(**settings)


def _rows(results):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results["by_k"]["4"]["rows"]]


def test_an_interrupted_reproduction_stores_nothing_and_a_rerun_resumes_to_the_same_results(tmp_path, monkeypatch):
    quiet = dict(log=lambda *_: None, progress=False)
    reference_store = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    reference = irving2018.run_reproduction(_reproduction(), tmp_path / "reference", store=reference_store, **quiet)

    store = Store(f"sqlite:///{tmp_path / 'run.db'}")
    real = irving2018.protocols.no_precommit_debate
    with monkeypatch.context() as m:
        def ctrl_c(*args, **kwargs):
            raise KeyboardInterrupt

        m.setattr(irving2018.protocols, "no_precommit_debate", ctrl_c)
        with pytest.raises(Interrupted, match="2 finished condition"):
            irving2018.run_reproduction(_reproduction(), tmp_path / "run", store=store, **quiet)
    assert store.list_experiments() == [] and store.count_transcripts() == 0  # nothing half-made
    assert not (tmp_path / "run" / "results.json").exists()
    assert irving2018.protocols.no_precommit_debate is real

    calls = []
    monkeypatch.setattr(irving2018.protocols, "precommit_debate",
                        lambda *a, **k: calls.append(1) or pytest.fail("a finished condition was played again"))
    resumed = irving2018.run_reproduction(_reproduction(), tmp_path / "run", store=store, **quiet)
    assert resumed["resumed_conditions"] == 2 and calls == []
    assert _rows(resumed) == _rows(reference)
    assert not (tmp_path / "run" / "partial").exists()
    (experiment,) = store.list_experiments()
    assert experiment["id"] == resumed["experiment_id"]
    expected = reference_store.count_transcripts()
    assert expected == 6 * 9 + 6 and store.count_transcripts(experiment_id=experiment["id"]) == expected
    assert sorted(t.protocol for t in store.query_transcripts()) == sorted(
        t.protocol for t in reference_store.query_transcripts())


def test_a_rerun_with_other_settings_starts_afresh(tmp_path, monkeypatch):
    quiet = dict(log=lambda *_: None, progress=False)
    with monkeypatch.context() as m:
        m.setattr(irving2018.protocols, "precommit_debate", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(Interrupted, match="1 finished condition"):
            irving2018.run_reproduction(_reproduction(), tmp_path, **quiet)
    notes = []
    results = irving2018.run_reproduction(_reproduction(images=5, conditions=["judge_alone"]), tmp_path,
                                          log=notes.append, progress=False)
    assert results["resumed_conditions"] == 0 and results["by_k"]["4"]["rows"][0]["n"] == 5
    assert any("other settings" in n for n in notes)


def test_ctrl_c_mid_condition_keeps_its_finished_batches_and_a_rerun_plays_only_the_rest(tmp_path, monkeypatch):
    """The condition in flight loses at most the batch being played: 6 images x 9 lies = 54 games
    are 4 batches of 16; Ctrl-C after the second is kept replays 2 batches, to the same results."""
    from training import partial_run

    quiet = dict(log=lambda *_: None, progress=False)
    config = _reproduction(batch_size=16, conditions=["debate_precommit_honest_first"])
    reference_store = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    reference = irving2018.run_reproduction(config, tmp_path / "reference", store=reference_store, **quiet)

    store = Store(f"sqlite:///{tmp_path / 'run.db'}")
    real_save = partial_run.ChunkFiles.save
    with monkeypatch.context() as m:
        def save_then_ctrl_c(self, index, columns):
            real_save(self, index, columns)
            if index == 1:
                raise KeyboardInterrupt

        m.setattr(partial_run.ChunkFiles, "save", save_then_ctrl_c)
        with pytest.raises(Interrupted, match="0 finished condition.*2 finished batch"):
            irving2018.run_reproduction(config, tmp_path / "run", store=store, **quiet)
    assert store.count_transcripts() == 0

    loaded = []
    real_load = partial_run.ChunkFiles.load
    monkeypatch.setattr(partial_run.ChunkFiles, "load",
                        lambda self, i, n: loaded.append(i) or real_load(self, i, n))
    resumed = irving2018.run_reproduction(config, tmp_path / "run", store=store, **quiet)
    assert loaded == [0, 1, 2, 3]  # every batch is looked up; 0 and 1 were found
    assert resumed["by_k"]["4"]["games"] == 54
    assert _rows(resumed) == _rows(reference)
    assert not (tmp_path / "run" / "partial").exists()
    ours = sorted(json_of(t) for t in store.query_transcripts())
    theirs = sorted(json_of(t) for t in reference_store.query_transcripts())
    assert ours == theirs  # the same debates, move for move


def json_of(transcript) -> str:
    """A stored debate without the fields that differ between two runs (ids, times, folders)."""
    import json

    data = transcript.to_dict()
    for key in ("id", "created_at", "experiment", "judge"):  # the judge: same weights, another folder
        data.pop(key, None)
    return json.dumps(data, sort_keys=True)


def test_kept_chunks_of_a_run_with_other_settings_are_never_reused(tmp_path):
    from training.partial_run import PartialRun

    first = PartialRun(tmp_path, {"seed": 1})
    first.chunks("K=4 debate").save(0, {"honest_margin": np.ones(3)})
    assert PartialRun(tmp_path, {"seed": 1}, log=lambda *_: None).chunks("K=4 debate").load(0, 3) is not None
    assert PartialRun(tmp_path, {"seed": 1}).chunks("K=4 debate").load(0, 4) is None  # another batch size
    notes = []
    other = PartialRun(tmp_path, {"seed": 2}, log=notes.append)
    assert other.chunks("K=4 debate").load(0, 3) is None and notes
    (tmp_path / "partial" / "run.json").unlink()  # chunks whose settings are unknown
    PartialRun(tmp_path, {"seed": 2}).chunks("x").save(0, {"a": np.ones(1)})
    (tmp_path / "partial" / "run.json").write_text("{not json")
    assert PartialRun(tmp_path, {"seed": 2}).chunks("x").load(0, 1) is None


def test_an_interrupted_tournament_stores_nothing_and_resumes_to_the_same_games(tmp_path, monkeypatch):
    from training import partial_run
    from training.tournament import TournamentConfig, run_tournament

    config = TournamentConfig(debaters=["random", "greedy"], games=4, pixels=2, bootstrap=20, batch_size=1)
    reference = run_tournament(config, tmp_path / "reference", log=lambda *_: None, progress=False)

    store = Store(f"sqlite:///{tmp_path / 'run.db'}")
    real_save = partial_run.ChunkFiles.save
    with monkeypatch.context() as m:
        ctrl_c_after_saves(m, 5)  # inside the third of four (pairing, first player) sets
        with pytest.raises(Interrupted, match="finished batches of games are kept"):
            run_tournament(config, tmp_path / "run", store=store, log=lambda *_: None, progress=False)
    assert store.list_experiments() == [] and store.count_transcripts() == 0

    played_again = []
    monkeypatch.setattr(partial_run.ChunkFiles, "save",
                        lambda self, i, c: played_again.append(i) or real_save(self, i, c))
    resumed = run_tournament(config, tmp_path / "run", store=store, log=lambda *_: None, progress=False)
    assert len(played_again) == 8 - 5  # 4 games x 2 ordered pairs, one per batch; 5 were kept
    strip = lambda games: [{k: v for k, v in g.items() if k != "transcript_id"} for g in games]  # noqa: E731
    assert strip(resumed["games"]) == strip(reference["games"])
    assert resumed["ratings"]["overall"] == reference["ratings"]["overall"]
    assert store.count_transcripts(experiment_id=resumed["experiment_id"]) == 8
    assert not (tmp_path / "run" / "partial").exists()


def test_an_interrupted_computation_run_stores_nothing_and_resumes_to_the_same_results(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from app.cli import app
    from training import partial_run

    def computation(out, db):
        args = ["computation", "--steps", "16", "--instances", "6", "--batch-size", "2", "--honest", "mcts",
                "--liar", "mcts", "--simulations", "4", "--show", "0", "--out", str(out), "--db", db]
        return CliRunner().invoke(app, args, env={"COLUMNS": "200"})

    reference = computation(tmp_path / "reference", f"sqlite:///{tmp_path / 'reference.db'}")
    assert reference.exit_code == 0, reference.output
    db = f"sqlite:///{tmp_path / 'run.db'}"
    real_save = partial_run.ChunkFiles.save
    with monkeypatch.context() as m:
        ctrl_c_after_saves(m, 4)  # the first of three batches of the second role
        interrupted = computation(tmp_path / "run", db)
    assert interrupted.exit_code == 130 and "finished batches of debates are kept" in interrupted.output
    assert Store(db).list_experiments() == [] and not (tmp_path / "run" / "results.json").exists()

    played_again = []
    monkeypatch.setattr(partial_run.ChunkFiles, "save", lambda self, i, c: played_again.append(i) or real_save(self, i, c))
    resumed = computation(tmp_path / "run", db)
    assert resumed.exit_code == 0, resumed.output
    assert len(played_again) == 6 - 4  # 3 batches per role, 4 were kept
    rows = lambda out: json.loads((out / "results.json").read_text())["rows"]  # noqa: E731
    assert rows(tmp_path / "run") == rows(tmp_path / "reference")
    moves = lambda url: sorted(json.dumps([t.instance_id, t.protocol, t.turns, t.honest_won], default=str)  # noqa: E731
                               for t in Store(url).iter_transcripts())
    assert len(moves(db)) == 12
    assert moves(db) == moves(f"sqlite:///{tmp_path / 'reference.db'}")
    assert not (tmp_path / "run" / "partial").exists()


def test_an_interrupted_text_debate_condition_resumes_to_the_same_games(tmp_path, monkeypatch):
    """The text study's conditions (``experiments/text_debate/run.py``) keep each finished batch."""
    from debate.core.debaters import mcts_debater
    from debate.tasks.quote import api, protocols
    from judges.quote_judge import QuoteJudgeConfig, make_quote_judge, quote_judge_function
    from training import partial_run
    from training.partial_run import PartialRun

    task, instance = api.example(jax.random.key(3), 8)
    judge_fn, params = quote_judge_function(make_quote_judge(QuoteJudgeConfig(dim=task.dim, num_quotes=task.num_quotes, encoder="minilm", max_sentences=task.max_sentences)))  # frozen embeddings
    debater = mcts_debater(task, judge_fn, 4)

    def play(chunks=None):
        return protocols.debate(task, judge_fn, params, debater, debater, instance, jax.random.key(5), batch_size=2,
                                chunks=chunks)

    reference = play()
    partial = PartialRun(tmp_path, {"study": 1})
    real_save = partial_run.ChunkFiles.save
    with monkeypatch.context() as m:
        ctrl_c_after_saves(m, 3)  # the first of two batches of the liar-first half
        with pytest.raises(KeyboardInterrupt):
            play(partial.chunks)
    played_again = []
    monkeypatch.setattr(partial_run.ChunkFiles, "save", lambda self, i, c: played_again.append(i) or real_save(self, i, c))
    resumed = play(PartialRun(tmp_path, {"study": 1}).chunks)
    assert len(played_again) == 1  # 2 halves x 2 batches of 2 questions; 3 were kept
    np.testing.assert_array_equal(resumed.correct, reference.correct)
    for a, b in zip(resumed.games, reference.games):
        np.testing.assert_array_equal(a.actions, b.actions)
