"""Debaters against a fixed, hand-built judge: search must beat random play from either side."""

import jax
import numpy as np
import pytest

from debate.core.debaters import greedy_debater, mcts_debater, random_debater
from debate.core.runner import Runner
from debate.tasks.sparse_pixel.protocols import play_images
from debate.tasks.sparse_pixel.game import HONEST, LIAR, SparsePixelTask
from debate.tasks.sparse_pixel.game import instances as pixel_instances

NUM_GAMES = 64
K = 4


@pytest.fixture(scope="module")
def setup(digits, linear_judge):
    judge_fn, params = linear_judge
    task = SparsePixelTask(num_reveals=K, height=8, width=8, num_classes=10, max_candidates=32)
    images, labels = digits.images[:NUM_GAMES], digits.labels[:NUM_GAMES]
    lies = (labels + 1 + np.arange(NUM_GAMES) % 9) % 10
    return task, judge_fn, params, images, labels, lies


def honest_rate(setup, honest, liar, first=HONEST, seed=0):
    task, judge_fn, params, images, labels, lies = setup
    runner = Runner(task, judge_fn, params, [honest, liar], batch_size=NUM_GAMES)
    games = play_images(runner, images, labels, lies, first, jax.random.key(seed))
    return games.honest_won.mean(), games


def test_random_vs_random_is_near_even(setup):
    rate, games = honest_rate(setup, random_debater(), random_debater())
    assert 0.2 < rate < 0.8
    # the recorded players alternate, honest first
    assert (games.players == np.array([0, 1, 0, 1])).all()


# PUCT with a uniform prior is the weaker search at small budgets (see debaters.mcts_debater).
@pytest.mark.parametrize("algorithm,gain,bound", [("gumbel", 0.3, 0.85), ("muzero", 0.15, 0.7)])
def test_mcts_beats_random_as_either_player(setup, algorithm, gain, bound):
    task, judge_fn = setup[0], setup[1]
    mcts = mcts_debater(task, judge_fn, num_simulations=32, algorithm=algorithm)
    baseline, _ = honest_rate(setup, random_debater(), random_debater())
    as_honest, _ = honest_rate(setup, mcts, random_debater())
    as_liar, _ = honest_rate(setup, random_debater(), mcts, first=LIAR)
    assert as_honest >= baseline + gain and as_honest >= bound
    assert as_liar <= baseline - gain and as_liar <= 1 - bound


def test_greedy_beats_random(setup):
    task, judge_fn = setup[0], setup[1]
    baseline, _ = honest_rate(setup, random_debater(), random_debater())
    greedy, _ = honest_rate(setup, greedy_debater(task, judge_fn), random_debater())
    assert greedy >= baseline + 0.25


def test_mcts_plays_only_legal_distinct_nonzero_pixels(setup):
    task, judge_fn = setup[0], setup[1]
    images = setup[3]
    mcts = mcts_debater(task, judge_fn, num_simulations=32)
    _, games = honest_rate(setup, mcts, mcts)
    for g in range(NUM_GAMES):
        pixels = {tuple(p) for p in games.pixels[g]}
        assert len(pixels) == K
        assert all(images[g][r, c] > 0 for r, c in pixels)


def test_unknown_algorithm_is_refused(setup):
    with pytest.raises(ValueError, match="unknown search algorithm"):
        mcts_debater(setup[0], setup[1], 8, algorithm="alphabeta")


def test_a_whole_batch_of_debates_compiles_once(setup):
    task, judge_fn, params, images, labels, lies = setup
    mcts = mcts_debater(task, judge_fn, num_simulations=8)
    runner = Runner(task, judge_fn, params, [mcts, random_debater()], batch_size=16)
    games = play_images(runner, images[:40], labels[:40], lies[:40], HONEST, jax.random.key(0))  # 3 chunks, one padded
    assert games.actions.shape == (40, K)
    assert runner._play._cache_size() == 1


@pytest.mark.parametrize("algorithm", ["gumbel", "muzero"])
def test_compact_tree_searches_exactly_like_full_states(setup, algorithm):
    task, judge_fn, params, images, labels, lies = setup
    state = task.init(pixel_instances(images[:8], labels[:8], lies[:8]), HONEST)
    outputs = [jax.jit(mcts_debater(task, judge_fn, 24, algorithm, compact_tree=compact).search)(
        params, jax.random.key(5), state) for compact in (True, False)]
    np.testing.assert_array_equal(outputs[0].action, outputs[1].action)
    np.testing.assert_allclose(outputs[0].action_weights, outputs[1].action_weights, atol=1e-6)
    np.testing.assert_allclose(outputs[0].search_tree.node_values, outputs[1].search_tree.node_values, atol=1e-5)
    # and the compact round trip rebuilds the state exactly
    moved = task.step(state, outputs[0].action)
    rebuilt = task.merge_static(state, task.split_static(moved)[1])
    for a, b in zip(jax.tree.leaves(moved), jax.tree.leaves(rebuilt)):
        np.testing.assert_array_equal(a, b)
