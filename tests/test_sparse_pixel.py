"""Game rules of the sparse-pixel debate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from debate.tasks.sparse_pixel.game import HONEST, LIAR, NO_CLAIM, SparsePixelTask, candidate_pixels, random_nonzero_mask
from debate.tasks.sparse_pixel.game import instances as pixel_instances

IMAGE = np.array([[0, 10, 0, 0], [200, 0, 0, 30], [0, 0, 255, 0], [40, 0, 0, 0]], np.uint8)  # 5 nonzero


def play_sequence(task, state, actions):
    for a in actions:
        state = task.step(state, jnp.array([a]))
    return state


def test_candidates_are_nonzero_pixels_brightest_first():
    cands = np.asarray(candidate_pixels(jnp.asarray(IMAGE[None] / 255.0), 16))[0]
    assert cands[:6].tolist() == [10, 4, 12, 7, 1, -1]  # 255, 200, 40, 30, 10, then padding
    valid = cands[cands >= 0]
    assert sorted(valid.tolist()) == sorted(np.flatnonzero(IMAGE).tolist())
    assert (cands[len(valid):] == -1).all()


@pytest.mark.parametrize("first", [HONEST, LIAR])
def test_turn_order_and_termination(first):
    task = SparsePixelTask(num_reveals=3, height=4, width=4, num_classes=10)
    state = task.init(pixel_instances(IMAGE[None], np.array([3]), np.array([5])), first)
    assert int(state.current_player[0]) == first
    movers = []
    for a in range(3):
        assert not bool(state.terminated[0])
        movers.append(int(state.current_player[0]))
        state = task.step(state, jnp.array([a]))
    assert movers == [first, 1 - first, first]
    assert bool(state.terminated[0]) and int(state.turn[0]) == 3
    assert not bool(state.legal_action_mask.any())
    # the revealed-by record matches who moved
    assert np.asarray(state.revealed_by[0, :3]).tolist() == movers


def test_no_pixel_twice_and_only_nonzero():
    task = SparsePixelTask(num_reveals=4, height=4, width=4, max_candidates=None)
    state = task.init(pixel_instances(IMAGE[None], np.array([3]), np.array([5])), HONEST)
    legal = np.asarray(state.legal_action_mask[0])
    assert legal.sum() == 5
    assert (IMAGE.reshape(-1)[np.asarray(state.candidates[0])[legal]] > 0).all()
    first_action = int(np.flatnonzero(legal)[0])
    state = task.step(state, jnp.array([first_action]))
    assert not bool(state.legal_action_mask[0, first_action])
    # replaying the same pixel is illegal: nothing changes
    again = task.step(state, jnp.array([first_action]))
    for field in ("mask", "turn", "current_player", "revealed_by"):
        np.testing.assert_array_equal(getattr(again, field), getattr(state, field))
    # a zero pixel (padding candidate) is never legal
    pad = int(np.flatnonzero(~legal)[0])
    assert not bool(task.step(state, jnp.array([pad])).turn[0] > state.turn[0])


def test_revealed_values_are_true():
    task = SparsePixelTask(num_reveals=5, height=4, width=4, max_candidates=8)
    state = task.init(pixel_instances(IMAGE[None], np.array([3]), np.array([5])), HONEST)
    state = play_sequence(task, state, range(5))
    view = np.asarray(task.judge_view(state))[0]
    assert view[..., 0].sum() == 5
    np.testing.assert_allclose(view[..., 1], IMAGE / 255.0, atol=1e-6)  # all 5 nonzero pixels revealed


def test_step_on_finished_game_is_a_no_op():
    task = SparsePixelTask(num_reveals=2, height=4, width=4)
    state = play_sequence(task, task.init(pixel_instances(IMAGE[None], np.array([3]), np.array([5])), LIAR), [0, 1])
    after = task.step(state, jnp.array([2]))
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(after)):
        np.testing.assert_array_equal(a, b)


def test_game_ends_when_no_nonzero_pixel_is_left():
    task = SparsePixelTask(num_reveals=10, height=4, width=4)
    state = play_sequence(task, task.init(pixel_instances(IMAGE[None], np.array([3]), np.array([5])), HONEST), range(5))
    assert bool(state.terminated[0]) and int(state.turn[0]) == 5


def test_margin_with_and_without_precommit():
    task = SparsePixelTask(num_reveals=1, height=4, width=4, num_classes=4)
    state = task.init(pixel_instances(np.stack([IMAGE, IMAGE]), np.array([1, 1]), np.array([2, NO_CLAIM])), HONEST)
    logits = jnp.array([[0.0, 1.0, 3.0, 5.0], [0.0, 1.0, 3.0, 5.0]])
    margin = np.asarray(task.honest_margin(state, logits))
    np.testing.assert_allclose(margin, [1.0 - 3.0, 1.0 - 5.0])  # vs the lie; vs the best other class
    probs = np.asarray(task.claim_probs(state, logits))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probs[1, 0], np.exp(1) / np.exp([0, 1, 3, 5]).sum(), rtol=1e-5)


def test_random_mask_picks_k_distinct_nonzero_pixels():
    images = jnp.asarray(np.stack([IMAGE] * 50) / 255.0)
    mask = np.asarray(random_nonzero_mask(jax.random.key(0), images, 4))
    assert (mask.sum((1, 2)) == 4).all()
    assert (mask[:, IMAGE == 0] == 0).all()
    assert len({m.tobytes() for m in mask}) == 5  # fresh masks per image: all C(5,4) subsets appear
    small = np.asarray(random_nonzero_mask(jax.random.key(0), images[:1], 9))
    assert small.sum() == 5  # fewer nonzero pixels than asked: all of them


def test_any_image_size_and_class_count():
    rng = np.random.default_rng(0)
    images = (rng.random((3, 5, 7)) > 0.5) * 255
    task = SparsePixelTask(num_reveals=2, height=5, width=7, num_classes=3)
    state = task.init(pixel_instances(images.astype(np.uint8), np.array([0, 1, 2]), np.array([1, 2, 0])), HONEST)
    state = task.step(task.step(state, jnp.zeros(3, int)), jnp.ones(3, int))
    assert np.asarray(task.judge_view(state)).shape == (3, 5, 7, 2)
    assert (np.asarray(state.turn) == 2).all()


def test_step_compiles_once():
    import chex

    task = SparsePixelTask(num_reveals=3, height=4, width=4)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state, action):
        return task.step(state, action)

    state = task.init(pixel_instances(IMAGE[None], np.array([3]), np.array([5])), HONEST)
    for a in range(3):
        state = step(state, jnp.array([a]))
    assert int(state.turn[0]) == 3


def test_transcripts_of_games_that_end_early_record_only_their_moves():
    """On images with fewer nonzero pixels (or candidates) than ``num_reveals`` the game ends early,
    while the compiled play still scans ``num_reveals`` turns; the transcripts record only the real
    moves, so they pass the sparse-pixel rules and replay."""
    from debate.core.debaters import random_debater
    from debate.core.replay import replay_transcript
    from debate.core.runner import Runner
    from debate.records.transcript import Transcript
    from debate.tasks.sparse_pixel import api

    rng = np.random.default_rng(0)
    images = np.zeros((5, 3, 3), np.uint8)
    for b in range(5):  # 0..4 nonzero pixels
        images[b].flat[rng.choice(9, size=b, replace=False)] = rng.integers(1, 256, size=b)
    labels = np.arange(5, dtype=np.int32) % 4
    params = jnp.asarray(rng.normal(size=(18, 4)) * 0.5, jnp.float32)

    def judge_fn(p, view):
        return view.reshape(view.shape[0], -1).astype(jnp.float32) @ p

    for max_candidates in (None, 3):
        task = SparsePixelTask(num_reveals=6, height=3, width=3, num_classes=4, max_candidates=max_candidates)
        games = Runner(task, judge_fn, params, [random_debater()], batch_size=5).play(
            pixel_instances(images, labels, (labels + 1) % 4), first_player=0, key=jax.random.key(1))
        assert games.actions.shape == (5, 6)
        transcripts = api.to_transcripts(task, games, protocol="tiny", debaters=["random"] * 2, judge="linear", seed=0)
        for b, t in enumerate(transcripts):
            assert len(t.turns) == min(6, b, max_candidates or 9)
            assert Transcript.from_json(t.to_json()) == t  # the task rules pass
            replay_transcript(t)
