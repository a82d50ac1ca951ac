"""Replay a stored debate: rebuild its game from the transcript and play its actions again.

Every task's ``api`` module says how a transcript names its game (``task_of``), its instance
(``instance_of``) and what each turn must have revealed (``check_turn``); the replay itself is the
same for every task. A turn whose action is illegal, or whose record disagrees with what the game
reveals, stops the replay with one sentence naming the turn.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from debate import tasks


@functools.lru_cache(maxsize=32)
def _compiled(task):
    return jax.jit(task.init), jax.jit(task.step)


def replay_transcript(transcript, num_moves: int | None = None, task=None):
    """``(task, state)`` after the first ``num_moves`` turns (all when None) of ``transcript``, a
    batch of one game. ``task`` overrides the game the transcript's task derives from it."""
    api = tasks.api(transcript.task)
    task = api.task_of(transcript) if task is None else task
    init, step = _compiled(task)
    state = init(api.instance_of(transcript), jnp.asarray([transcript.first_player], jnp.int32))
    turns = transcript.turns if num_moves is None else transcript.turns[:num_moves]
    for turn in turns:
        action = int(turn.action)
        if not 0 <= action < task.num_actions or not bool(state.legal_action_mask[0, action]):
            raise ValueError(f"turn {turn.index + 1} of transcript {str(transcript.id)[:8]} plays action {action}, which "
                             "is not legal when replayed; the transcript does not match the game's rules.")
        if int(state.current_player[0]) != int(turn.player):
            raise ValueError(f"turn {turn.index + 1} of transcript {str(transcript.id)[:8]} is played by player "
                             f"{turn.player} but replaying gives player {int(state.current_player[0])} the move.")
        api.check_turn(task, state, turn, transcript)
        state = step(state, jnp.asarray([action], jnp.int32))
    return task, state
