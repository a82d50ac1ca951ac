"""Shared by tests/test_self_play.py and its subprocess script: tiny self-play settings."""

import numpy as np
from conftest import linear_judge_fn

from training.self_play import SelfPlayConfig

# 8x8 digits, K=2 among the 16 brightest pixels, a tiny network: a few seconds per run.
TINY = SelfPlayConfig("sparse_pixel", dataset="sklearn-digits", num_reveals=2, max_candidates=16, precommit=True,
                      data_shuffle_seed=-1, judge_images=0, eval_images=64, channels=8, num_layers=2, hidden=16,
                      stride=1, games_per_iteration=16, num_simulations=4, max_num_considered_actions=4,
                      network_value=True, replay_size=256, batch_size=32, train_steps_per_iteration=2,
                      learning_rate=3e-3, checkpoint_every=2, eval_max_num_considered_actions=4, seed=0)


def linear_judge():
    return linear_judge_fn(np.random.default_rng(0).normal(size=(10, 8, 8)).astype(np.float32))
