"""Rules of the computation task and its bisection debate, checked against plain replays."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from debate.tasks.computation.solver import BisectionTooLargeError, solve_bisection
from debate.tasks.computation.game import (HONEST, LEFT, LIAR, OP_ADD, OP_MUL, OP_SUB, RIGHT, ComputationTask, checker_params,
                                exact_checker, midpoint, noisy_checker, step_examples)
from debate.core.runner import Runner
from debate.tasks.computation.protocols import (play_computations, consultancy, debate, expert_debater, judge_alone,
                                          random_lies)
from debate.core.debaters import random_debater
from debate.tasks.computation.game import instances as computation_instances

SEEDS = np.arange(32)


def test_instance_matches_a_plain_replay_of_its_operations():
    task = ComputationTask(num_steps=37, modulus=31)
    state = task.init(computation_instances(SEEDS))
    opcode, operand = (np.asarray(v) for v in task.operations(jnp.asarray(SEEDS, jnp.uint32)[:, None], jnp.arange(37)[None]))
    x = np.asarray(task.start_value(jnp.asarray(SEEDS, jnp.uint32))).astype(np.int64)
    trace = [x]
    for t in range(37):  # replay with Python integers, independent of task.apply
        a, b = opcode[:, t], operand[:, t]
        x = np.where(a == OP_ADD, x + b, np.where(a == OP_SUB, x - b, x * b)) % 31
        trace.append(x)
    trace = np.stack(trace, 1)
    np.testing.assert_array_equal(task.trace(SEEDS), trace)
    np.testing.assert_array_equal(np.asarray(state.claims[:, HONEST]), trace[:, -1])
    for position in (0, 1, 18, 36, 37):
        np.testing.assert_array_equal(np.asarray(task.true_value(state, jnp.full(len(SEEDS), position))), trace[:, position])
    assert set(np.unique(opcode)) == {OP_ADD, OP_SUB, OP_MUL}
    assert (operand[opcode == OP_MUL] > 0).all() and (operand < 31).all()


def test_run_from_and_run_back_restart_the_computation_anywhere():
    task = ComputationTask(num_steps=50, modulus=13)
    state = task.init(computation_instances(SEEDS[:8]))
    opcode, operand = (np.asarray(v) for v in task.operations(jnp.asarray(SEEDS[:8], jnp.uint32)[:, None], jnp.arange(50)[None]))
    start, end, value = 7, 41, np.arange(8) % 13
    x = value.copy()
    for t in range(start, end):
        x = np.asarray(task.apply(opcode[:, t], operand[:, t], x))
    forward = task.run_from(state, jnp.full(8, start), jnp.asarray(value), jnp.full(8, end))
    np.testing.assert_array_equal(np.asarray(forward), x)
    np.testing.assert_array_equal(np.asarray(task.run_back(state, jnp.full(8, end), forward, jnp.full(8, start))), value)


def test_bisection_moves_on_a_hand_made_trace():
    # "sum" instances: every step adds; check the interval bookkeeping move by move.
    task = ComputationTask(num_steps=4, modulus=31, operators="sum")
    state = task.init(computation_instances(np.array([5])), LIAR)
    trace = task.trace(np.array([5]))[0]
    assert int(state.v_hi[0]) == (trace[4] + 1) % 31  # the default lie
    assert int(state.current_player[0]) == LIAR and bool(state.legal_action_mask[0].all())
    state = task.step(state, jnp.array([trace[2]]))  # the liar states the true x_2
    assert int(state.pending[0]) == trace[2] and int(state.current_player[0]) == HONEST
    assert np.asarray(state.legal_action_mask[0]).tolist() == [True, True] + [False] * 29
    state = task.step(state, jnp.array([RIGHT]))  # dispute [2, 4]
    assert (int(state.lo[0]), int(state.hi[0]), int(state.v_lo[0])) == (2, 4, trace[2])
    state = task.step(state, jnp.array([(trace[3] + 5) % 31]))  # a false x_3
    state = task.step(state, jnp.array([LEFT]))  # dispute [2, 3]
    assert bool(state.terminated[0]) and int(state.turn[0]) == 4
    view = np.asarray(task.judge_view(state))[0]
    assert view[:3].tolist() == [1, 2, trace[2]] and view[5] == (trace[3] + 5) % 31
    assert not bool(task.step_is_correct(task.judge_view(state))[0])
    logits = exact_checker(task)(None, task.judge_view(state))
    assert float(task.honest_margin(state, logits)[0]) > 0  # the liar claimed, the step is wrong
    # A finished game ignores further moves.
    after = task.step(state, jnp.array([3]))
    chex.assert_trees_all_equal(after, state)


def test_illegal_challenger_action_is_a_no_op():
    task = ComputationTask(num_steps=8, modulus=31)
    state = task.step(task.init(computation_instances(SEEDS[:2])), jnp.array([4, 4]))
    chex.assert_trees_all_equal(task.step(state, jnp.array([7, 9])), state)


@pytest.mark.parametrize("num_steps", [2, 3, 7, 64])
def test_lying_claimer_always_loses_and_honest_claimer_never_loses_with_an_exact_checker(num_steps):
    task = ComputationTask(num_steps=num_steps, modulus=31)
    judge = exact_checker(task)
    key = jax.random.key(0)
    lies = random_lies(task, SEEDS, key)
    expert, rand = expert_debater(task), random_debater()
    # Any strategy of the liar (random or expert) against an expert challenger/claimer.
    for liar in (rand, expert):
        runner = Runner(task, judge, None, [expert, liar], batch_size=32)
        assert debate(runner, SEEDS, lies, LIAR, key).accuracy == 1.0
        assert debate(runner, SEEDS, lies, HONEST, key).accuracy == 1.0
    games = play_computations(Runner(task, judge, None, [expert, expert], batch_size=32), SEEDS, lies, HONEST, key)
    assert (games.num_moves <= task.num_turns).all() and (games.num_moves >= 2).all()
    # The checked step is one real step of the instance.
    assert (games.checked_view[:, 0] == 1).all() and (games.checked_view[:, 1] < num_steps).all()


def test_a_million_steps_and_the_judge_still_reads_one_step():
    small, huge = ComputationTask(num_steps=2, modulus=31), ComputationTask(num_steps=1 << 20, modulus=31)
    seeds = np.arange(2)
    key = jax.random.key(1)
    for task in (small, huge):
        state = task.init(computation_instances(seeds))
        assert task.judge_view(state).shape == (2, 6)
    expert = expert_debater(huge)
    runner = Runner(huge, exact_checker(huge), None, [expert, expert], batch_size=2)
    games = play_computations(runner, seeds, random_lies(huge, seeds, key), LIAR, key)
    assert huge.num_turns == 40 and (games.num_moves == 40).all()
    assert games.honest_won.all()
    # The judge saw one real step of the million.
    assert (games.checked_view[:, 0] == 1).all() and (games.checked_view[:, 1] < huge.num_steps).all()


def test_step_compiles_once_per_shape():
    task = ComputationTask(num_steps=16, modulus=31)
    step = jax.jit(chex.assert_max_traces(task.step, n=1))
    state = task.init(computation_instances(SEEDS[:4]))
    for action in (3, LEFT, 5, RIGHT):
        state = step(state, jnp.full(4, action))
    assert int(state.turn[0]) == 4


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_steps=1), "at least 2"),
    (dict(num_steps=8, operators="xor"), "unknown operator set"),
    (dict(num_steps=8, modulus=32), "prime"),
    (dict(num_steps=(1 << 24) + 1), "at most"),
])
def test_bad_configs_are_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ComputationTask(**kwargs)


def test_noisy_checker_errs_at_its_rate_and_is_exact_at_zero():
    task = ComputationTask(num_steps=1024, modulus=31)
    views, labels = step_examples(task, jax.random.key(2), 20_000)
    exact = np.asarray(exact_checker(task)(None, views).argmax(1))
    np.testing.assert_array_equal(exact, np.asarray(labels))
    noisy = noisy_checker(task)
    np.testing.assert_array_equal(np.asarray(noisy(checker_params(0.0), views).argmax(1)), exact)
    flipped = np.asarray(noisy(checker_params(0.1, 3), views).argmax(1)) != exact
    assert 0.09 < flipped.mean() < 0.11
    # The errors are a fixed function of the step: the same view gets the same verdict.
    np.testing.assert_array_equal(np.asarray(noisy(checker_params(0.1, 3), views).argmax(1)),
                                  np.asarray(noisy(checker_params(0.1, 3), views).argmax(1)))
    with pytest.raises(ValueError, match="error_rate"):
        checker_params(1.5)


def test_baselines_fall_to_chance_while_debate_does_not():
    key = jax.random.key(3)
    seeds = np.arange(400)
    short, long = ComputationTask(num_steps=2, modulus=31), ComputationTask(num_steps=4096, modulus=31)
    # One read of a two-step trace catches a one-error lie half the time: 0.5 * 1 + 0.5 * 0.5.
    alone_short = judge_alone(short, exact_checker(short), None, seeds, key, reads=1).accuracy
    assert 0.70 < alone_short < 0.80
    assert judge_alone(long, exact_checker(long), None, seeds, key, reads=1).accuracy < 0.51
    # A lying consultant shows only its right steps: the judge accepts everything.
    assert consultancy(long, exact_checker(long), None, seeds, key, reads=4).accuracy == 0.5
    with pytest.raises(ValueError, match="at least 1 step"):
        judge_alone(long, exact_checker(long), None, seeds, key, reads=0)


def test_exact_solver_with_an_exact_checker_lets_only_the_truth_win():
    task = ComputationTask(num_steps=64, modulus=11)
    for seed in range(5):
        solution = solve_bisection(task, exact_checker(task), None, seed)
        assert solution.winning_claims.tolist() == [solution.truth]
        assert solution.truth == task.trace(np.array([seed]))[0, -1]
        # Optimal play by an honest claimer states true midpoints.
        actions = solution.principal_variation(solution.truth)
        state = task.init(computation_instances(np.array([seed])))
        for action in actions:
            if int(state.pending[0]) < 0:
                assert action == int(task.true_value(state, midpoint(state.lo, state.hi))[0])
            state = task.step(state, jnp.array([action]))
        assert bool(state.terminated[0]) and bool(task.step_is_correct(task.judge_view(state))[0])


def test_exact_solver_finds_the_lies_a_flawed_checker_lets_through():
    task = ComputationTask(num_steps=16, modulus=7)
    judge, params = noisy_checker(task), checker_params(0.2, 1)
    solution = solve_bisection(task, judge, params, seed=4)
    lies = [c for c in solution.winning_claims.tolist() if c != solution.truth]
    assert lies, "with a 20% flawed checker some lie should be defensible on this instance"
    # Playing the solver's line for a winning lie really makes the checker accept a wrong step.
    state = task.init(computation_instances(np.array([4]), np.array([lies[0]])), LIAR)
    for action in solution.principal_variation(lies[0]):
        state = task.step(state, jnp.array([action]))
    logits = judge(params, task.judge_view(state))
    assert float(task.honest_margin(state, logits)[0]) < 0


def test_exact_solver_refuses_a_table_over_its_limit():
    task = ComputationTask(num_steps=1 << 20, modulus=31)
    with pytest.raises(BisectionTooLargeError, match="over the limit"):
        solve_bisection(task, exact_checker(task), None, 0)
    with pytest.raises(ValueError, match="power of two"):
        solve_bisection(ComputationTask(num_steps=12, modulus=7), exact_checker(ComputationTask(num_steps=12, modulus=7)), None, 0)
