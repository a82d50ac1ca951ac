"""Learned computation debaters (debate.tasks.computation.network, training.self_play on the computation task)."""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from debate.tasks.computation.game import HONEST, LIAR, ComputationTask, exact_checker
from debate.tasks.computation.network import NetworkConfig, encode_state, make_network, network_function
from training.self_play import SelfPlayConfig, SelfPlayRun, evaluate, load_learned_debater, train_self_play
from training.checkpoints import CheckpointError
from debate.tasks.computation.game import instances as computation_instances

sys.path.insert(0, str(Path(__file__).parent))
from forced_devices import run_with_devices  # noqa: E402

SMALL = dict(num_steps=4, modulus=7, games_per_iteration=64, num_simulations=16, hidden=64, eval_games=64,
             eval_simulations=16, checkpoint_every=100)


def test_features_hold_the_experts_numbers():
    task = ComputationTask(num_steps=8, modulus=31)
    seeds = jnp.arange(5, dtype=jnp.uint32)
    state = task.init(computation_instances(seeds), HONEST)
    features = np.asarray(encode_state(task, state))
    p1 = task.modulus + 1
    mid = jnp.full((5,), 4)
    # one-hot blocks: v_lo, v_hi, pending (none = index p), forward, backward, true midpoint
    assert np.all(features[:, :p1].argmax(1) == np.asarray(state.v_lo))
    assert np.all(features[:, 2 * p1:3 * p1].argmax(1) == task.modulus)
    assert np.all(features[:, 3 * p1:4 * p1].argmax(1) == np.asarray(task.true_value(state, mid)))
    assert np.all(features[:, 5 * p1:6 * p1].argmax(1) == np.asarray(task.true_value(state, mid)))
    assert features.shape[1] == NetworkConfig(modulus=31).num_inputs
    with pytest.raises(ValueError, match="p = 7"):
        network_function(task, make_network(NetworkConfig(modulus=7)))


def _policy_vs_random(run):
    result = evaluate(run.task, run.judge_fn, run.judge_params, run.network_fn, run.params, run.eval_instances(128),
                      num_simulations=8, opponents=("random",))["policy_vs_random"]
    return 0.5 * (result["as_honest"]["learned_win_rate"] + result["as_liar"]["learned_win_rate"])


@pytest.mark.slow  # over 45 s on 2 cores: `python -m pytest -m slow` (docs/tests.md)
def test_short_training_lowers_the_loss_and_beats_random_more_often(tmp_path):
    config = SelfPlayConfig("computation", **SMALL)
    run = SelfPlayRun(config, tmp_path / "run")
    before = _policy_vs_random(run)
    records = [run.run_iteration() for _ in range(20)]
    after = _policy_vs_random(run)
    assert np.mean([r["policy_loss"] for r in records[-3:]]) < np.mean([r["policy_loss"] for r in records[:3]]) - 0.1
    assert after > before + 0.1, (before, after)


@pytest.mark.slow  # over 45 s on 2 cores: `python -m pytest -m slow` (docs/tests.md)
def test_resumed_run_reaches_the_same_parameters(tmp_path):
    config = SelfPlayConfig("computation", **{**SMALL, "games_per_iteration": 16, "train_steps_per_iteration": 4})
    straight = train_self_play(config, tmp_path / "a", iterations=3, final_eval=False, progress=False)["run"]
    train_self_play(config, tmp_path / "b", iterations=2, final_eval=False, progress=False)
    resumed = train_self_play(config, tmp_path / "b", iterations=3, final_eval=False, progress=False)
    assert resumed["iterations_this_run"] == 1
    for x, y in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed["run"].params)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    metrics = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in metrics] == [1, 2, 3]
    # another config in the same directory is refused, naming the difference
    with pytest.raises(ValueError, match="num_simulations"):
        SelfPlayRun(SelfPlayConfig("computation", **{**SMALL, "num_simulations": 4}), tmp_path / "b")
    # the checkpoint plays as a debater, with and without search
    task = config.settings.task()
    debater, params = load_learned_debater(tmp_path / "b", task, exact_checker(task), num_simulations=4)
    state = task.init(computation_instances(jnp.arange(3, dtype=jnp.uint32)), LIAR)
    action = debater.select((None, params), jax.random.key(0), state)
    assert action.shape == (3,) and bool(jnp.all(state.legal_action_mask[jnp.arange(3), action]))
    with pytest.raises(CheckpointError, match="no computation self-play run"):
        load_learned_debater(tmp_path / "nothing", task, exact_checker(task))



@pytest.mark.slow  # over 45 s on 2 cores: `python -m pytest -m slow` (docs/tests.md)
def test_sharded_run_equals_single_device_run():
    script = Path(__file__).parent / "sharded_computation_self_play.py"
    one, four = run_with_devices(script, 1), run_with_devices(script, 4)
    assert (one["devices"], one["shards"], four["devices"], four["shards"]) == (1, 1, 4, 4)
    # the same games (positions, search targets, outcomes) ...
    assert four["pending"] == one["pending"]
    np.testing.assert_array_equal(four["value"], one["value"])
    np.testing.assert_allclose(four["policy"], one["policy"], atol=2e-3)
    # ... and the same training up to the order of float sums across devices
    np.testing.assert_allclose(four["losses"], one["losses"], rtol=1e-4)
    for a, b in zip(four["params"], one["params"]):
        np.testing.assert_allclose(a, b, atol=5e-3)
