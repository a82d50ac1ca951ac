"""The learned step checker of the computation task: it learns to check a step, ignores where the
step is, checkpoints and resumes to the same parameters, and refuses a config that does not fit."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from debate.tasks.computation.game import HONEST, LEFT, LIAR, RIGHT, ComputationTask, exact_checker, midpoint, step_examples
from judges.step_checker import StepCheckerConfig, judge_function, make_step_checker
from training.checkpoints import CheckpointError, saved_steps
from training.step_checker_training import (StepCheckerTrainConfig, load_step_checker, read_metrics,
                                            step_checker_accuracy, train_step_checker)
from debate.tasks.computation.game import instances as computation_instances

TASK = ComputationTask(num_steps=64, modulus=7, operators="affine")
CONFIG = StepCheckerConfig(modulus=7)


def short(steps, checkpoint_every, **kw):
    return StepCheckerTrainConfig(steps=steps, checkpoint_every=checkpoint_every, log_every=10, eval_examples=0, **kw)


def params_of(model):
    return jax.tree.leaves(nnx.state(model, nnx.Param))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("checker")
    config = StepCheckerTrainConfig(steps=600, checkpoint_every=600, log_every=50, eval_examples=20_000)
    model, summary = train_step_checker(TASK, CONFIG, config, out, progress=False)
    return model, summary, out


def test_a_short_run_learns_to_check_steps(trained):
    _, summary, out = trained
    losses = [row["loss"] for row in read_metrics(out)]
    assert [row["step"] for row in read_metrics(out)] == list(range(50, 601, 50))
    assert losses[0] > 0.6 and losses[-1] < 0.1, losses  # chance is ln 2 = 0.69
    # measured 0.998 (right steps 1.0, wrong 0.996) on 20k fresh examples; chance is 0.5
    assert summary["eval"]["accuracy"] > 0.95, summary["eval"]
    assert summary["eval"]["right_accuracy"] > 0.95 and summary["eval"]["wrong_accuracy"] > 0.9
    assert summary["steps"] == 600 and saved_steps(out) == [600]


def test_logits_ignore_the_position():
    model = make_step_checker(CONFIG, seed=3)
    views, _ = step_examples(TASK, jax.random.key(0), 256)
    moved = views.at[:, 1].set(jax.random.randint(jax.random.key(1), (256,), 0, 1 << 20))
    np.testing.assert_array_equal(model(views), model(moved))
    changed = views.at[:, 5].set((views[:, 5] + 1) % 7)  # but it does read the claimed result
    assert not np.allclose(model(views), model(changed))


def test_judge_function_checks_the_final_step_of_real_games(trained):
    """The learned checker as the engine's judge (jitted, on judge views of finished bisections): it
    accepts an honest claimer's last step and rejects a lying claimer's."""
    model, _, _ = trained
    judge_fn, params = judge_function(model)
    task = ComputationTask(num_steps=16, modulus=7)
    seeds = jnp.arange(64, dtype=jnp.uint32)
    verdicts = {}
    for claimer in (HONEST, LIAR):
        state = task.init(computation_instances(seeds), claimer)
        while not bool(state.terminated.all()):  # claimer: true midpoints; challenger: the half that is wrong
            truth = task.true_value(state, midpoint(state.lo, state.hi))
            dispute = jnp.where(state.pending == truth, RIGHT, LEFT)
            state = task.step(state, jnp.where(state.pending < 0, truth, dispute))
        view = task.judge_view(state)
        assert bool((view[:, 0] == 1).all())
        logits = jax.jit(judge_fn)(params, view)
        assert logits.shape == (64, 2)
        np.testing.assert_array_equal(logits.argmax(-1), exact_checker(task)(None, view).argmax(-1))
        verdicts[claimer] = np.asarray(logits.argmax(-1))
    assert verdicts[HONEST].all() and not verdicts[LIAR].any()


def test_accuracy_of_the_exact_checker_is_one():
    result = step_checker_accuracy(TASK, exact_checker(TASK), None, jax.random.key(0), 10_000)
    assert result["accuracy"] == result["right_accuracy"] == result["wrong_accuracy"] == 1.0
    assert result["n"] == 10_000 == result["n_right"] + result["n_wrong"]
    assert 4_500 < result["n_right"] < 5_500


def test_resume_after_a_kill_reaches_the_same_step_and_params(tmp_path):
    straight, summary = train_step_checker(TASK, CONFIG, short(40, 20), tmp_path / "a", progress=False)
    # "killed" after step 30: the last checkpoint is 20, metric lines 21..30 were written
    train_step_checker(TASK, CONFIG, short(40, 20), tmp_path / "b", progress=False, stop_at=30)
    assert saved_steps(tmp_path / "b") == [20]
    assert read_metrics(tmp_path / "b")[-1]["step"] == 30
    logs = []
    resumed, resumed_summary = train_step_checker(TASK, CONFIG, short(40, 20), tmp_path / "b", progress=False,
                                                  log=logs.append)
    assert logs == [f"resuming {tmp_path / 'b'} from step 20"]
    assert resumed_summary["steps_this_run"] == 20 and resumed_summary["steps"] == summary["steps"] == 40
    for a, b in zip(params_of(straight), params_of(resumed)):
        np.testing.assert_array_equal(a, b)
    assert resumed_summary["final_loss"] == summary["final_loss"]
    assert read_metrics(tmp_path / "b") == read_metrics(tmp_path / "a")  # steps 10..40, once each
    assert saved_steps(tmp_path / "b") == [20, 40]


def test_load_step_checker_round_trip(tmp_path):
    model, _ = train_step_checker(TASK, CONFIG, short(20, 20), tmp_path / "c", progress=False)
    loaded, info = load_step_checker(tmp_path / "c")
    assert info["task"] == TASK and info["config"] == CONFIG and info["train"] == short(20, 20) and info["step"] == 20
    for a, b in zip(params_of(model), params_of(loaded)):
        np.testing.assert_array_equal(a, b)
    stored = json.loads((tmp_path / "c" / "config.json").read_text())
    assert stored["model"] == CONFIG.to_dict() and stored["task"]["modulus"] == 7
    views, _ = step_examples(TASK, jax.random.key(5), 128)
    np.testing.assert_array_equal(model(views), loaded(views))


def test_a_modulus_that_does_not_match_the_task_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"modulus 31 but the task's modulus is 7; build the StepCheckerConfig "
                                         r"with modulus=7\."):
        train_step_checker(TASK, StepCheckerConfig(modulus=31), short(10, 10), tmp_path, progress=False)
    with pytest.raises(ValueError, match="operators need 3"):
        train_step_checker(TASK, StepCheckerConfig(modulus=7, num_opcodes=2), short(10, 10), tmp_path, progress=False)
    with pytest.raises(ValueError, match="wrong_fraction"):
        train_step_checker(TASK, CONFIG, short(10, 10, wrong_fraction=1.0), tmp_path, progress=False)
    with pytest.raises(ValueError, match="at least 1"):
        StepCheckerConfig(modulus=7, depth=0)
    assert not (tmp_path / "config.json").exists()  # nothing written for a refused config


def test_another_checker_in_the_same_directory_is_refused_and_missing_ones_are_clear(tmp_path):
    train_step_checker(TASK, CONFIG, short(10, 10), tmp_path / "d", progress=False)
    with pytest.raises(CheckpointError, match="another task, model or training configuration"):
        train_step_checker(TASK, StepCheckerConfig(modulus=7, hidden=64), short(10, 10), tmp_path / "d", progress=False)
    assert saved_steps(tmp_path / "d") == [10]
    with pytest.raises(CheckpointError, match="no step checker"):
        load_step_checker(tmp_path / "nowhere")
