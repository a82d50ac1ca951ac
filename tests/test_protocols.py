"""Scoring of every condition, checked on hand-built judges whose verdicts are known in advance."""

import jax
import numpy as np
import pytest

from conftest import bias_judge_fn
from debate.core.runner import Runner
from debate.tasks.sparse_pixel import protocols
from debate.core.debaters import random_debater
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask

N = 12


@pytest.fixture(scope="module")
def data(digits):
    return digits.images[:N], digits.labels[:N]


def runner_for(judge):
    judge_fn, params = judge
    task = SparsePixelTask(num_reveals=2, height=8, width=8, num_classes=10, max_candidates=16)
    return Runner(task, judge_fn, params, [random_debater(), random_debater()], batch_size=64)


def test_precommit_liar_wins_the_image_if_any_lie_wins(data):
    images, labels = data
    # The judge ranks classes by a fixed bias, class 7 on top: the liar wins every image not
    # labelled 7 (by claiming any class ranked above the truth) and no image labelled 7.
    bias = np.arange(10.0)
    bias[7] = 20.0
    judge = bias_judge_fn(bias)
    for first in (HONEST, LIAR):
        result = protocols.precommit_debate(runner_for(judge), images, labels, first, 1, jax.random.key(0), 10)
        np.testing.assert_array_equal(result.honest_wins, (labels == 7).astype(float))
        games = result.games
        assert len(games.honest_margin) == N * 9
        # the lies that win are exactly the classes ranked above the truth
        lost = (~games.honest_won).reshape(N, 9)
        np.testing.assert_array_equal(lost.sum(1), (bias[None, :] > bias[labels][:, None]).sum(1))
        assert (bias[games.liar_claim[~games.honest_won]] > bias[labels[games.image_index[~games.honest_won]]]).all()
        # each image faced every wrong class exactly once
        for i in range(N):
            assert sorted(games.liar_claim[games.image_index == i]) == [c for c in range(10) if c != labels[i]]


def test_precommit_seeds_average_per_seed_outcomes(data):
    images, labels = data
    result = protocols.precommit_debate(runner_for(bias_judge_fn(np.arange(10.0))), images, labels, HONEST, 3,
                                        jax.random.key(1), 10)
    assert len(result.games.honest_margin) == N * 9 * 3
    np.testing.assert_array_equal(result.honest_wins, (labels == 9).astype(float))
    row = result.row()
    assert row["condition"] == "debate_precommit_honest_first" and row["n"] == N
    assert row["accuracy"] == float(np.mean(labels == 9))
    assert row["ci95"][0] <= row["accuracy"] <= row["ci95"][1]


def test_no_precommit_needs_the_true_class_on_top(data):
    images, labels = data
    bias = np.zeros(10)
    bias[labels[0]] = 1.0
    result = protocols.no_precommit_debate(runner_for(bias_judge_fn(bias)), images, labels, LIAR, 1, jax.random.key(0))
    np.testing.assert_array_equal(result.honest_wins, (labels == labels[0]).astype(float))
    assert result.condition == "debate_no_precommit_liar_first"


def test_judge_alone_and_controls(data):
    images, labels = data
    bias = np.arange(10.0)  # class 9 always wins; ties impossible
    judge_fn, params = bias_judge_fn(bias)
    alone = protocols.judge_alone(judge_fn, params, images, labels, 2, jax.random.key(0))
    np.testing.assert_array_equal(alone.honest_wins, labels == 9)
    random_lie = protocols.control_random_lie(judge_fn, params, images, labels, 2, 10, jax.random.key(0))
    lies = np.array(random_lie.extra["lies"])
    assert (lies != labels).all() and lies.min() >= 0 and lies.max() <= 9
    np.testing.assert_array_equal(random_lie.honest_wins, labels > lies)
    adversarial = protocols.control_adversarial_lie(judge_fn, params, images, labels, 2, 10, jax.random.key(0), 4)
    chosen = np.array(adversarial.extra["lies"])
    np.testing.assert_array_equal(chosen, np.where(labels == 9, 8, 9))  # the strongest wrong class
    np.testing.assert_array_equal(adversarial.honest_wins, labels == 9)


def test_condition_names_are_the_published_ones():
    assert protocols.CONDITIONS == (
        "judge_alone", "debate_precommit_honest_first", "debate_precommit_liar_first",
        "debate_no_precommit_honest_first", "debate_no_precommit_liar_first",
        "control_precommit_random_lie", "control_precommit_adversarial_lie")
