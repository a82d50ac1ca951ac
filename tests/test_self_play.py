"""AlphaZero-style self-play (training/self_play.py) on tiny settings: learning, resuming, sharding,
and the learned debater inside ``debate.core.runner.Runner``.

The judge is the fixed linear judge of conftest (no judge training); the games are 8x8 digits with
K=2 among the 16 brightest pixels (``self_play_setup.TINY``)."""

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from debate.core.debaters import debater_params, learned_debater, mcts_debater, random_debater
from debate.core.runner import Runner
from debate.tasks.sparse_pixel.protocols import play_images
from debate.tasks.sparse_pixel.game import HONEST, LIAR
from training.checkpoints import CheckpointError, latest_step
from debate.tasks.sparse_pixel.network import make_network, network_function
from training.self_play import (Evaluator, SelfPlayConfig, elo_from_rate, load_learned_debater, summarize_match,
                                train_self_play)

sys.path.insert(0, str(Path(__file__).parent))
from forced_devices import run_with_devices  # noqa: E402
from self_play_setup import TINY, linear_judge  # noqa: E402
from debate.tasks.sparse_pixel.game import instances as pixel_instances

SCRIPT = Path(__file__).parent / "sharded_self_play.py"
# Enough updates per game for the tiny network to learn within seconds (measured: the bare policy
# scores ~0.70 against a random debater over both roles after 50 iterations, from ~0.49 untrained).
LEARN = dataclasses.replace(TINY, games_per_iteration=32, num_simulations=16, max_num_considered_actions=16,
                            eval_max_num_considered_actions=16,
                            train_steps_per_iteration=16, replay_size=2048, checkpoint_every=25)
LEARN_ITERATIONS = 50


def _arrays(instances):
    return instances.image, instances.label, instances.liar_claim


def _metrics(out) -> list[dict]:
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("self_play")
    summary = train_self_play(LEARN, out, iterations=LEARN_ITERATIONS, progress=False, judge=linear_judge(),
                              log=lambda *a: None)
    return out, summary["run"]


def test_short_training_lowers_the_loss_and_beats_a_random_debater(trained):
    out, run = trained
    train = [m for m in _metrics(out) if m["kind"] == "train"]
    assert [m["iteration"] for m in train] == list(range(1, LEARN_ITERATIONS + 1))
    first = np.mean([m["loss"] for m in train[:3]])
    last = np.mean([m["loss"] for m in train[-3:]])
    assert last < first - 0.5  # measured 3.10 -> 2.15
    assert all(m["games_per_s"] > 0 and m["train_steps_per_s"] > 0 for m in train)
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "sparse_pixel_self_play" and config["config"] == LEARN.to_dict()
    assert latest_step(out) == LEARN_ITERATIONS

    # The bare policy (no search) against a random debater, both roles, before and after training.
    judge_fn, judge_params = run.judge_fn, run.judge_params
    evaluator = Evaluator(run.task, judge_fn, judge_params, run.network_fn, num_simulations=0,
                          opponent=random_debater(), batch_size=64)
    instances = run.eval_instances(64)
    _, untrained = network_function(run.task, make_network(run.network_config, seed=LEARN.seed))
    before = evaluator.evaluate(untrained, instances)
    after = evaluator.evaluate(run.params, instances)
    assert before["pooled"]["score"] < 0.58  # measured 0.49
    assert after["pooled"]["score"] >= 0.6  # measured 0.70
    assert after["pooled"]["score"] >= before["pooled"]["score"] + 0.1
    assert after["as_honest"]["elo"] > 0 and after["as_liar"]["elo"] > 0


def test_resume_after_a_kill_reaches_the_same_next_step(tmp_path):
    config = dataclasses.replace(TINY, checkpoint_every=2)
    judge = linear_judge()  # one judge function: the runs share their compiled steps
    straight = train_self_play(config, tmp_path / "straight", iterations=4, progress=False, judge=judge,
                               log=lambda *a: None)["run"]
    killed = tmp_path / "killed"
    train_self_play(config, killed, iterations=3, progress=False, judge=judge, log=lambda *a: None)
    # A kill after iteration 3 but before its checkpoint: only iteration 2 is on disk, metrics go to 3.
    shutil.rmtree(killed / "checkpoints" / "3")
    assert latest_step(killed) == 2 and _metrics(killed)[-1]["iteration"] == 3
    logs = []
    resumed = train_self_play(config, killed, iterations=4, progress=False, judge=judge,
                              log=logs.append)["run"]
    assert logs == [f"resuming {killed} from iteration 2"]
    assert (resumed.iteration, resumed.train_steps, resumed.games) == (straight.iteration, straight.train_steps,
                                                                       straight.games) == (4, 8, 64)
    for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for name, array in straight.replay.state_dict().items():
        np.testing.assert_array_equal(array, resumed.replay.state_dict()[name])
    assert [m["iteration"] for m in _metrics(killed)] == [1, 2, 3, 4]
    assert [m["loss"] for m in _metrics(killed)] == [m["loss"] for m in _metrics(tmp_path / "straight")]
    # Another configuration in the same directory is refused with one sentence.
    with pytest.raises(CheckpointError, match="different configuration"):
        train_self_play(dataclasses.replace(config, learning_rate=1e-2), killed, iterations=5, progress=False,
                        judge=judge)


@pytest.mark.slow  # over 45 s on 2 cores: `python -m pytest -m slow` (docs/tests.md)
def test_sharded_self_play_equals_single_device_run():
    one, four = run_with_devices(SCRIPT, 1), run_with_devices(SCRIPT, 4)
    assert one["devices"] == 1 and one["shards"] == 1
    assert four["devices"] == 4 and four["shards"] == 4
    # Same games (the first iteration's weights are identical; keys do not depend on sharding) ...
    assert four["revealed_by"] == one["revealed_by"]
    np.testing.assert_array_equal(four["value"], one["value"])
    np.testing.assert_allclose(four["policy"], one["policy"], atol=2e-3)
    # ... and the same training up to the order of float sums across devices (Adam turns tiny
    # gradient differences into differences of up to ~lr per step; measured 5e-3 after 4 steps).
    np.testing.assert_allclose(four["losses"], one["losses"], rtol=1e-4)
    for a, b in zip(four["params"], one["params"]):
        np.testing.assert_allclose(a, b, atol=2e-2)


def test_learned_debater_plugs_into_debate_runner_with_and_without_search(trained):
    out, run = trained
    task, judge_fn, judge_params = run.task, run.judge_fn, run.judge_params
    images, labels, lies = _arrays(run.eval_instances(16))
    bare, net_params = load_learned_debater(out, task, judge_fn)
    searching, _ = load_learned_debater(out, task, judge_fn, num_simulations=8)
    for a, b in zip(jax.tree.leaves(net_params), jax.tree.leaves(run.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    pair = debater_params(judge_params, net_params)
    # with search as honest, without as liar (each side gets its own params; the other the judge's)
    for learned, side, first in ((searching, HONEST, HONEST), (bare, LIAR, LIAR)):
        honest, liar = (learned, random_debater()) if side == HONEST else (random_debater(), learned)
        runner = Runner(task, judge_fn, judge_params, [honest, liar], batch_size=16,
                        debater_params=[pair, None] if side == HONEST else [None, pair])
        games = play_images(runner, images, labels, lies, first, jax.random.key(0))
        assert games.actions.shape == (16, task.num_reveals)
        assert (games.players[:, 0] == first).all()
        for g in range(16):  # legal: distinct nonzero pixels
            pixels = {tuple(p) for p in games.pixels[g]}
            assert len(pixels) == task.num_reveals and all(images[g][r, c] > 0 for r, c in pixels)
    # Without search the debater plays the argmax of the network's prior over legal moves.
    state = task.init(pixel_instances(images, labels, lies), HONEST)
    logits, _ = run.network_fn(net_params, state)
    expected = jnp.argmax(jnp.where(state.legal_action_mask, logits, -jnp.inf), axis=1)
    np.testing.assert_array_equal(bare.select(pair, jax.random.key(0), state), expected)
    assert learned_debater(run.network_fn).name == "learned-policy"
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_learned_debater(out / "nowhere", task, judge_fn)


def test_learned_checkpoint_plays_in_a_compiled_league(trained):
    """A tournament binds the network weights into each debater's ``select`` (constants of the
    compiled league): with and without search it must trace, and play what it plays unbound."""
    from training.tournament import build_debater, parse_debater_spec

    out, run = trained
    task, judge_fn, judge_params = run.task, run.judge_fn, run.judge_params
    images, labels, lies = _arrays(run.eval_instances(8))
    debaters = [build_debater(parse_debater_spec(s), task, judge_fn)
                for s in ("random", f"learned:{out}", f"learned-mcts-4:{out}")]
    league = Runner(task, judge_fn, judge_params, debaters, batch_size=8)
    games = play_images(league, images, labels, lies, HONEST, jax.random.key(0), seating=(1, 2))
    bare, net_params = load_learned_debater(out, task, judge_fn)
    state = task.init(pixel_instances(images, labels, lies), HONEST)
    first_moves = bare.select(debater_params(judge_params, net_params), jax.random.key(0), state)
    np.testing.assert_array_equal(games.actions[:, 0], np.asarray(first_moves))


def test_network_search_is_the_same_with_compact_and_full_trees(trained):
    _, run = trained
    images, labels, lies = _arrays(run.eval_instances(8))
    state = run.task.init(pixel_instances(images, labels, lies), HONEST)
    params = debater_params(run.judge_params, run.params)
    outputs = [jax.jit(mcts_debater(run.task, run.judge_fn, 8, network_fn=run.network_fn, compact_tree=compact,
                                    max_num_considered_actions=8).search)(params, jax.random.key(1), state)
               for compact in (True, False)]
    np.testing.assert_array_equal(outputs[0].action, outputs[1].action)
    np.testing.assert_allclose(outputs[0].action_weights, outputs[1].action_weights, atol=1e-6)
    # the network's prior is what the root sees: illegal actions get no weight
    assert float(jnp.max(jnp.where(state.legal_action_mask, 0.0, outputs[0].action_weights))) == 0.0


def test_elo_and_match_summary_arithmetic():
    assert elo_from_rate(0.5) == 0.0
    assert abs(elo_from_rate(0.64) - 100.0) < 0.5  # 100 Elo is a 64% win rate
    assert np.isfinite(elo_from_rate(1.0, n=10))
    won = {(m, f): np.array(v, bool) for (m, f), v in {
        ("as_honest", HONEST): [1, 1, 1, 1], ("as_honest", LIAR): [1, 1, 1, 0],
        ("as_liar", HONEST): [1, 0, 0, 0], ("as_liar", LIAR): [0, 0, 1, 0],
        ("baseline", HONEST): [1, 1, 0, 0], ("baseline", LIAR): [1, 0, 1, 0]}.items()}
    out = summarize_match(won)
    assert out["as_honest"]["learned_win_rate"] == 7 / 8 and out["as_honest"]["baseline_win_rate"] == 0.5
    assert out["as_liar"]["learned_win_rate"] == 6 / 8 and out["as_liar"]["baseline_win_rate"] == 0.5
    assert abs(out["as_honest"]["elo"] - elo_from_rate(7 / 8, 8)) < 1e-9
    lo, hi = out["as_honest"]["elo_ci95"]
    assert lo < out["as_honest"]["elo"] < hi
    assert out["pooled"]["score"] == (7 + 6) / 16


def test_bad_configurations_are_refused(tmp_path):
    with pytest.raises(ValueError, match="value_target"):
        SelfPlayConfig(value_target="margin")
    with pytest.raises(ValueError, match="leave none for self-play"):
        train_self_play(dataclasses.replace(TINY, judge_images=1700, eval_images=200), tmp_path, iterations=1,
                        progress=False, judge=linear_judge())
    with pytest.raises(ValueError, match="iterations, minutes"):
        train_self_play(TINY, tmp_path, progress=False)


# Both tasks through the one entry point: tiny runs with a final evaluation, then the checkpoint as a debater.
ONE_LOOP = {
    "sparse_pixel": dict(dataset="sklearn-digits", num_reveals=2, max_candidates=16, precommit=True,
                         data_shuffle_seed=-1, judge_images=0, eval_images=64, channels=8, num_layers=2, hidden=16,
                         stride=1, eval_simulations=4, eval_max_num_considered_actions=4),
    "computation": dict(num_steps=4, modulus=7, hidden=16, eval_games=8, eval_simulations=4),
}


@pytest.mark.parametrize("task", [pytest.param(t, marks=pytest.mark.slow) if t == "computation" else t
                                  for t in sorted(ONE_LOOP)])  # computation: 135 s (docs/tests.md)
def test_one_loop_trains_every_task_through_the_same_entry_point(task, tmp_path):
    from debate import tasks
    from training.self_play import SelfPlayRun, task_interface

    config = SelfPlayConfig(task, games_per_iteration=8, num_simulations=4, max_num_considered_actions=4,
                            replay_size=256, batch_size=16, train_steps_per_iteration=2, **ONE_LOOP[task])
    judge = linear_judge() if task == "sparse_pixel" else None  # the computation task's checker is its own
    summary = train_self_play(config, tmp_path, iterations=2, progress=False, final_eval=True, final_eval_instances=4,
                              judge=judge, log=lambda *a: None)
    run: SelfPlayRun = summary["run"]
    train = [m for m in _metrics(tmp_path) if m["kind"] == "train"]
    assert [m["iteration"] for m in train] == [1, 2] and all(np.isfinite(m["loss"]) for m in train)
    stored = json.loads((tmp_path / "config.json").read_text())
    assert (stored["kind"], stored["task"], stored["config"]) == (f"{task}_self_play", task, config.to_dict())
    plan = task_interface(task).EVAL
    result = json.loads((tmp_path / "eval.json").read_text())
    assert {k for k in result if "_vs_" in k} == {f"{a}_vs_{b}" for a in plan["learned"] for b in plan["final"]}
    assert all(match["games_per_matchup"] == result["games_per_matchup"] for k, match in result.items() if "_vs_" in k)
    # the checkpoint plays as a debater of its task, with and without search
    for simulations in (0, 4):
        debater, params = load_learned_debater(tmp_path, run.task, run.judge_fn, num_simulations=simulations)
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(run.params)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        state = run.task.init(run.eval_instances(4), 0)
        action = debater.select(debater_params(run.judge_params, params), jax.random.key(0), state)
        assert bool(jnp.all(state.legal_action_mask[jnp.arange(len(action)), action]))
    # a network trained on one task is refused by the other in one sentence
    other = next(n for n in ONE_LOOP if n != task)
    other_task = tasks.api(other).example(jax.random.key(0), 1)[0]
    with pytest.raises(CheckpointError, match=f"holds a {task} self-play run"):
        load_learned_debater(tmp_path, other_task, run.judge_fn)
