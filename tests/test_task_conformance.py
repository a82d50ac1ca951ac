"""Every task keeps the rules the engine relies on (``debate.core.task``), in the style of pgx's API test.

Parametrised over every registered task (``debate.tasks.names()``) and the three-player toy task of
``tests/toy_tasks.py`` (registered from outside the source tree, as a user's task would be). Each task
plays on its own ``api.example`` instances with a fixed random linear judge over its judge view.
Shapes stay small (batch 4): every new shape compiles again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import toy_tasks  # noqa: E402

from debate import tasks  # noqa: E402
from debate.core.debaters import greedy_debater, mcts_debater, random_debater  # noqa: E402
from debate.core.replay import replay_transcript  # noqa: E402
from debate.core.runner import Runner  # noqa: E402
from debate.core.task import Task, num_players, num_teams  # noqa: E402
from debate.records import rendering  # noqa: E402
from debate.records.transcript import Transcript  # noqa: E402

TOY = toy_tasks.NAME
TASKS = sorted(set(tasks.names()) - {TOY}) + [TOY]
BATCH = 4
API_NAMES = ("NAME", "Task", "make_task", "example", "to_transcripts", "task_of", "instance_of", "check_turn",
             "DEBATER_KINDS")


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    tasks.register(TOY, "toy_tasks")
    rendering.register(toy_tasks.RENDERER)
    yield
    tasks.unregister(TOY)
    rendering.unregister(TOY)


@dataclass
class Case:
    name: str
    api: Any
    task: Any
    instance: Any  # [BATCH] instances of api.example
    judge_fn: Callable
    params: jax.Array
    init: Callable  # jitted task.init / task.step (each traced at most once per shape), shared by the tests
    step: Callable
    act: Callable  # jitted random legal action per game (any action once a game is over)


def linear_judge(task, view_shape):
    """A fixed random linear judge over the flattened judge view (an array, or a pytree of arrays
    such as the quote task's): logits [B, num_classes]."""
    shapes = jax.tree.leaves(view_shape, is_leaf=lambda x: isinstance(x, tuple))
    size = sum(int(np.prod(shape[1:])) for shape in shapes)
    params = jnp.asarray(np.random.default_rng(0).normal(size=(size, task.num_classes)) * 0.5, jnp.float32)

    def judge_fn(params, view):
        flat = [leaf.reshape(leaf.shape[0], -1).astype(jnp.float32) for leaf in jax.tree.leaves(view)]
        return jnp.concatenate(flat, axis=1) @ params

    return judge_fn, params


@pytest.fixture(scope="module", params=TASKS)
def case(request, toy_registered) -> Case:
    api = tasks.api(request.param)
    task, instance = api.example(jax.random.key(0), BATCH)
    # Every test below plays through these two, at batch BATCH and 1 only: each may trace once per shape.
    chex.clear_trace_counter()
    init = jax.jit(chex.assert_max_traces(task.init, n=2))
    step = jax.jit(chex.assert_max_traces(task.step, n=2))
    view = jax.eval_shape(lambda i: task.judge_view(task.init(i, 0)), instance)
    judge_fn, params = linear_judge(task, jax.tree.map(lambda leaf: leaf.shape, view))
    act = jax.jit(lambda key, state: random_debater().select(None, key, state))
    return Case(request.param, api, task, instance, judge_fn, params, init, step, act)


def rows(tree, index):
    return jax.tree.map(lambda x: np.asarray(x)[index], tree)


def assert_same(actual, expected, where=""):
    """Every leaf equal, dtype and shape included."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected), where
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(actual), jax.tree.leaves(expected)):
        a, b = np.asarray(a), np.asarray(b)
        label = f"{where}{jax.tree_util.keystr(path)}"
        assert a.dtype == b.dtype and a.shape == b.shape, f"{label}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=label)


def first_players(case, same=True, size=BATCH):
    """[size] first players: all player 0, or players 0, 1, .. in turn."""
    n = num_players(case.task)
    return jnp.zeros(size, jnp.int32) if same else jnp.arange(size, dtype=jnp.int32) % n


def random_game(case, key, first):
    """(states after 0..num_turns moves, actions [num_turns, B]) of random play on ``case.instance``."""
    state = case.init(case.instance, first)
    states, actions = [state], []
    for turn_key in jax.random.split(key, case.task.num_turns):
        action = case.act(turn_key, state)
        state = case.step(state, action)
        states.append(state)
        actions.append(action)
    return states, jnp.stack(actions)


# ------------------------------------------------------------------------------------------ the api


def test_api_surface(case):
    for attribute in API_NAMES:
        assert hasattr(case.api, attribute), f"{case.name}'s api lacks {attribute}"
    assert case.api.NAME == case.task.name == case.name
    assert isinstance(case.task, case.api.Task) and isinstance(case.task, Task)
    renderer = tasks.get(case.name).RENDERER
    assert isinstance(renderer, rendering.TaskRenderer) and renderer.task == case.name
    assert case.name in rendering.supported_tasks()


def test_init_and_step_compile_once_per_shape(case):
    """``case.init``/``case.step`` trace at most twice (``chex.assert_max_traces``) over this whole
    module, which plays them at batch BATCH and 1: here new contents and first players of both shapes."""
    for size in (BATCH, 1):
        for seed, same in ((1, True), (2, False)):
            _, instance = case.api.example(jax.random.key(seed), size, case.task)
            state = case.init(instance, first_players(case, same, size))
            for turn_key in jax.random.split(jax.random.key(seed), case.task.num_turns + 1):
                state = case.step(state, case.act(turn_key, state))
    assert case.init._cache_size() <= 2 and case.step._cache_size() <= 2


# ---------------------------------------------------------------------------------------- the rules


def test_state_fields_and_random_play(case):
    """pgx's state checks; the legal mask is empty exactly when a game is over; random play ends
    within ``num_turns``; with one first player every unfinished game has the same mover."""
    task = case.task
    states, _ = random_game(case, jax.random.key(3), first_players(case))
    for turn, state in enumerate(states):
        assert state.current_player.shape == state.turn.shape == state.terminated.shape == (BATCH,)
        assert state.current_player.dtype == jnp.int32 and state.terminated.dtype == jnp.bool_
        assert state.legal_action_mask.shape == (BATCH, task.num_actions)
        assert state.legal_action_mask.dtype == jnp.bool_
        assert state.claims.shape == (BATCH, num_teams(task))
        over, mask = np.asarray(state.terminated), np.asarray(state.legal_action_mask)
        assert not mask[over].any(), f"turn {turn}: a finished game has legal actions"
        assert mask[~over].any(axis=1).all(), f"turn {turn}: an unfinished game has no legal action"
        assert set(np.asarray(state.current_player)[~over].tolist()) <= set(range(num_players(task)))
        assert len(set(np.asarray(state.current_player)[~over].tolist())) <= 1, f"turn {turn}: movers differ"
        assert (np.asarray(state.turn) <= turn).all()
    assert np.asarray(states[-1].terminated).all(), "random play did not end within num_turns"


def test_step_is_a_no_op_on_finished_games(case):
    final = random_game(case, jax.random.key(4), first_players(case))[0][-1]
    assert np.asarray(final.terminated).all()
    for action in range(case.task.num_actions):
        assert_same(case.step(final, jnp.full(BATCH, action, jnp.int32)), final, f"action {action} after the end: ")


def test_step_is_a_no_op_on_illegal_actions(case):
    checked = 0
    for turn, state in enumerate(random_game(case, jax.random.key(5), first_players(case))[0][:-1]):
        mask = np.asarray(state.legal_action_mask)
        has_illegal = ~mask.all(axis=1)
        if not has_illegal.any():
            continue
        illegal = jnp.asarray(np.argmin(mask, axis=1), jnp.int32)  # the first illegal action of each game
        assert_same(rows(case.step(state, illegal), has_illegal), rows(state, has_illegal), f"turn {turn}: ")
        checked += 1
    assert checked, "no state of the random game had an illegal action to try"


@pytest.mark.parametrize("offset", [-1, 0], ids=["negative", "past_the_end"])
def test_step_is_a_no_op_on_out_of_range_actions(case, offset):
    """Action -1 and action A are illegal too (jax indexing would clamp or wrap them onto a real one)."""
    state = case.init(case.instance, first_players(case))
    action = jnp.full(BATCH, -1 if offset < 0 else case.task.num_actions, jnp.int32)
    assert_same(case.step(state, action), state, f"action {int(action[0])}: ")


def test_split_merge_round_trip(case):
    states = random_game(case, jax.random.key(6), first_players(case))[0]
    static = case.task.split_static(states[0])[0]  # any state of the same games
    for turn, state in enumerate(states):
        assert_same(case.task.merge_static(static, case.task.split_static(state)[1]), state, f"turn {turn}: ")


def test_rows_of_a_batch_are_independent(case):
    first = first_players(case, same=False)
    states, actions = random_game(case, jax.random.key(7), first)
    for g in range(BATCH):
        alone = case.init(rows(case.instance, slice(g, g + 1)), first[g:g + 1])
        for t in range(case.task.num_turns):
            alone = case.step(alone, actions[t, g:g + 1])
        assert_same(alone, rows(states[-1], slice(g, g + 1)), f"game {g} alone: ")


def test_tree_size_bound_covers_brute_force(case):
    """Every distinct ``state_key`` reachable from a tiny game, one representative state per key
    (equal keys have equal futures), expanded with every action a chunk at a time (one shape)."""
    task, chunk, actions = case.task, 32, case.task.num_actions
    if not (hasattr(task, "tree_size_bound") and hasattr(task, "state_key")):
        pytest.skip(f"{case.name} is not exactly solvable")

    @jax.jit
    def expand(frontier):  # [chunk] states -> keys and legality of their [chunk * A] children
        tiled = jax.tree.map(lambda x: jnp.repeat(x, actions, axis=0), frontier)
        action = jnp.tile(jnp.arange(actions, dtype=jnp.int32), chunk)
        legal = tiled.legal_action_mask[jnp.arange(chunk * actions), action]
        children = task.step(tiled, action)
        return children, task.state_key(children), legal

    root = case.init(rows(case.instance, slice(0, 1)), jnp.zeros(1, jnp.int32))
    seen = {tuple(np.asarray(task.state_key(root))[0].tolist())}
    frontier = root
    while len(frontier.turn):
        padded = np.resize(np.arange(len(frontier.turn)), -(-len(frontier.turn) // chunk) * chunk)
        new, new_rows = set(), []
        for part in padded.reshape(-1, chunk):
            children, keys, legal = jax.device_get(expand(rows(frontier, part)))
            for i in np.flatnonzero(legal):
                key = tuple(keys[i].tolist())
                if key not in seen and key not in new:
                    new.add(key)
                    new_rows.append(rows(children, slice(i, i + 1)))
        seen |= new
        frontier = jax.tree.map(lambda *x: np.concatenate(x), *new_rows) if new_rows else rows(root, slice(0, 0))
    bound = task.tree_size_bound(root, 0)
    assert len(seen) > 1 and bound >= len(seen), f"bound {bound} < {len(seen)} distinct states"


# -------------------------------------------------------------------------- games become transcripts


def test_random_games_become_transcripts_that_replay(case):
    task, n = case.task, num_players(case.task)
    runner = Runner(task, case.judge_fn, case.params, [random_debater()], batch_size=BATCH)
    games = runner.play(case.instance, first_player=0, key=jax.random.key(8))
    assert games.actions.shape == (BATCH, task.num_turns)
    assert games.claim_probs.shape == (BATCH, task.num_turns, num_teams(task))
    transcripts = case.api.to_transcripts(task, games, protocol="conformance", debaters=["random"] * n,
                                          judge="linear-test-judge", seed=0)
    assert len(transcripts) == BATCH
    for g, t in enumerate(transcripts):
        t.validate()
        assert t.task == case.name and t.teams == list(task.player_teams)
        assert Transcript.from_json(t.to_json()) == t
        for i in range(len(t.turns)):
            assert rendering.turn_text(t, i) and rendering.turn_text(t, i, names={p: f"P{p}" for p in range(n)})
        assert rendering.describe_transcript(t) and rendering.judge_question(t)
        assert isinstance(rendering.final_evidence(t), str)
        # the game itself: the runner's actions played again from the instance
        game = case.init(rows(case.instance, slice(g, g + 1)), jnp.zeros(1, jnp.int32))
        for action in games.actions[g]:
            game = case.step(game, jnp.asarray([action], jnp.int32))
        logits = case.judge_fn(case.params, task.judge_view(game))
        np.testing.assert_allclose(np.asarray(logits)[0], games.final_logits[g], rtol=1e-5, atol=1e-5)
        assert t.claims == np.asarray(game.claims)[0].tolist(), "the transcript's claims are not the game's"
        replayed_task, replayed = replay_transcript(t)
        assert replayed_task == task
        assert_same(replayed, game, f"transcript {g} replayed: ")


# ------------------------------------------------------------------------------- three teams: the toy


def test_mcts_refuses_three_teams_and_random_greedy_play_them(toy_registered):
    task, instance = toy_tasks.example(jax.random.key(9), BATCH)
    judge_fn, params = linear_judge(task, (BATCH, task.num_cards, 3))
    with pytest.raises(ValueError, match=r"mcts search needs a game of two teams but task 'toy_vote' has 3"):
        mcts_debater(task, judge_fn, 4)
    greedy, rand = greedy_debater(task, judge_fn), random_debater()
    games = Runner(task, judge_fn, params, [greedy, rand, greedy], batch_size=BATCH).play(
        instance, first_player=1, key=jax.random.key(10))
    np.testing.assert_array_equal(games.players, np.tile([1, 2, 0], (BATCH, 1)))
    assert games.claim_probs.shape == (BATCH, task.num_turns, 3)
    for g in range(BATCH):
        assert len(set(games.actions[g].tolist())) == task.num_turns  # no card is turned twice
    transcripts = toy_tasks.to_transcripts(task, games, protocol="conformance", debaters=["greedy", "random", "greedy"],
                                           judge="linear-test-judge", seed=0)
    assert [p.debater for p in transcripts[0].players] == ["greedy", "random", "greedy"]
    assert transcripts[0].roles == list(toy_tasks.ROLES)
