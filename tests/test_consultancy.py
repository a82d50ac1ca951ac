"""Consultancy: one debater argues alone (debate.core.consultancy)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from debate.tasks.computation.game import ComputationTask, exact_checker
from debate.core.runner import Runner
from debate.tasks.computation.protocols import (play_computations, computation_consultancy, expert_debater,
                                                random_lies)
from debate.core.consultancy import ConsultancyResult
from debate.tasks.sparse_pixel.consultancy import PixelConsultancyTask, consultancy_margins, consultancy_runner
from debate.core.debaters import greedy_debater, mcts_debater, random_debater
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask
from debate.tasks.sparse_pixel.game import instances as pixel_instances


def _digits_batch(digits, n=16, start=1500):
    images = digits.images[start:start + n]
    labels = digits.labels[start:start + n].astype(np.int32)
    lies = ((labels + 1 + np.arange(n) % 9) % 10).astype(np.int32)
    return images, labels, lies


def _best_margin(task, weights, images, labels, lies, role):
    """With a linear judge every revealed pixel adds (w[true] - w[lie]) * value to the honest margin,
    so the consultant's best K reveals are the K candidates with the largest contribution to its side."""
    state = task.init(pixel_instances(images, labels, lies), role)
    flat = np.asarray(state.image).reshape(len(labels), -1)
    w = np.asarray(weights).reshape(10, -1)
    out = []
    for i in range(len(labels)):
        cand = np.asarray(state.candidates[i])
        cand = cand[cand >= 0]
        contribution = (w[labels[i], cand] - w[lies[i], cand]) * flat[i, cand]
        sign = 1.0 if role == HONEST else -1.0
        best = np.sort(sign * contribution)[::-1][: task.num_reveals]
        out.append(sign * best.sum())
    return np.array(out)


def test_consultant_makes_every_move(digits):
    task = PixelConsultancyTask.of(SparsePixelTask(num_reveals=3, height=8, width=8))
    images, labels, lies = _digits_batch(digits, 4)
    for role in (HONEST, LIAR):
        state = task.init(pixel_instances(images, labels, lies), role)
        for _ in range(3):
            state = task.step(state, jnp.argmax(state.legal_action_mask, axis=1))
            assert np.all(np.asarray(state.current_player) == role)
        revealed = np.asarray(state.revealed_by)
        assert np.all((revealed == role).sum(axis=1) == 3) and np.all((revealed >= 0).sum(axis=1) == 3)
        assert np.all(np.asarray(state.terminated))


def test_greedy_and_search_consultants_reach_the_best_reveals(digits, linear_judge):
    judge_fn, weights = linear_judge
    task = SparsePixelTask(num_reveals=2, height=8, width=8)
    images, labels, lies = _digits_batch(digits, 16)
    key = jax.random.key(0)
    for role in (HONEST, LIAR):
        best = _best_margin(task, weights, images, labels, lies, role)
        greedy = consultancy_runner(task, judge_fn, weights, greedy_debater(task, judge_fn), 16)
        np.testing.assert_allclose(consultancy_margins(greedy, images, labels, lies, role, key), best, rtol=1e-4, atol=1e-4)
        # Search must treat the consultant's next move as its own (discount +1): with -1 it would
        # pick the first pixel as if an opponent chose the second.
        consultancy = PixelConsultancyTask.of(task)  # the search's model: the consultant moves again
        search = consultancy_runner(task, judge_fn, weights, mcts_debater(consultancy, judge_fn, 128), 16)
        searched = consultancy_margins(search, images, labels, lies, role, key)
        at_random = consultancy_margins(consultancy_runner(task, judge_fn, weights, random_debater(), 16),
                                        images, labels, lies, role, key)
        sign = 1.0 if role == HONEST else -1.0
        gap_search = np.mean(sign * (best - searched))
        gap_random = np.mean(sign * (best - at_random))
        assert gap_search >= -1e-4 and gap_search < 0.1 * gap_random


def test_consultancy_accuracy_counts_both_consultants():
    result = ConsultancyResult(honest_won=np.array([True, True, False, True]),
                               liar_won=np.array([True, False, False, False]))
    assert result.accuracy == pytest.approx(0.5 * 0.75 + 0.5 * 0.75)
    row = result.row()
    assert row["verdicts"] == 8 and row["honest_consultant_win_rate"] == 0.75
    assert row["lying_consultant_win_rate"] == 0.25
    # A judge that always believes the consultant is at chance.
    believer = ConsultancyResult(np.ones(10, bool), np.ones(10, bool))
    assert believer.accuracy == 0.5


def test_expert_liar_survives_a_random_challenger_with_probability_one_minus_one_over_T():
    task = ComputationTask(num_steps=8, modulus=31)
    judge_fn = exact_checker(task)
    seeds = np.arange(600, dtype=np.uint32)
    lies = random_lies(task, seeds, jax.random.key(1))

    def runner(honest, liar):
        return Runner(task, judge_fn, {}, [honest, liar], batch_size=200)

    result = computation_consultancy(runner, expert_debater(task), seeds, lies, jax.random.key(2))
    assert result.honest_won.all()  # an honest expert claimer never loses before an exact checker
    # The lie sits in one half at every round; a random challenger follows it all the way with
    # probability 2^-log2(T) = 1/8.
    assert abs(result.liar_won.mean() - 7 / 8) < 0.05
    assert abs(result.accuracy - (0.5 + 0.5 / 8)) < 0.03
    # In debate an expert challenger always finds the lie.
    expert_debate = play_computations(runner(expert_debater(task), expert_debater(task)), seeds, lies, LIAR, jax.random.key(3))
    assert expert_debate.honest_won.all()
