"""Play a whole batch of debates as one compiled call: every move and every search of every game.

``make_play_fn`` returns a jitted ``play(judge_params, key, state, honest_params=None,
liar_params=None) -> GameRecord``; a ``lax.scan`` runs the K moves and a ``lax.cond`` on the
(batch-uniform) turn parity picks which debater moves, so no Python runs between moves and each
debater's search is compiled once. A debater's ``select`` gets its own params when given (e.g.
``(judge_params, net_params)`` for a network debater, ``debate.core.debaters.debater_params``), else
the judge's.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from debate.core.debaters import Debater, JudgeFn
from debate.tasks.sparse_pixel.game import HONEST, SparsePixelTask, State


@struct.dataclass
class GameRecord:
    final: State
    actions: jax.Array  # [B, K] candidate index played at each turn
    players: jax.Array  # [B, K] player id who moved
    claim_probs: jax.Array  # [B, K, 2] judge's probability for each claim after each turn
    class_probs: jax.Array  # [B, K, classes] judge's full distribution after each turn
    final_logits: jax.Array  # [B, classes]
    honest_margin: jax.Array  # [B] logit(honest claim) - logit(opposing claim) on the final mask


def make_play_fn(task: SparsePixelTask, judge_fn: JudgeFn, honest: Debater, liar: Debater, first_player: int):
    """Both debaters move alternately, ``first_player`` (HONEST or LIAR) first, for K turns."""

    def play(judge_params: Any, key: jax.Array, state: State, honest_params: Any = None,
             liar_params: Any = None) -> GameRecord:
        honest_params = judge_params if honest_params is None else honest_params
        liar_params = judge_params if liar_params is None else liar_params

        def one_turn(state, inputs):
            turn, turn_key = inputs
            honest_to_move = (first_player + turn) % 2 == HONEST
            action = jax.lax.cond(
                honest_to_move,
                lambda: honest.select(honest_params, turn_key, state),
                lambda: liar.select(liar_params, turn_key, state),
            )
            mover = state.current_player
            state = task.step(state, action)
            logits = judge_fn(judge_params, task.judge_view(state))
            out = (action, mover, task.claim_probs(state, logits), jax.nn.softmax(logits, axis=-1))
            return state, out

        turns = jnp.arange(task.num_turns)
        keys = jax.random.split(key, task.num_turns)
        final, (actions, players, claim_probs, class_probs) = jax.lax.scan(one_turn, state, (turns, keys))
        logits = judge_fn(judge_params, task.judge_view(final))
        return GameRecord(
            final=final,
            actions=actions.T,
            players=players.T,
            claim_probs=jnp.swapaxes(claim_probs, 0, 1),
            class_probs=jnp.swapaxes(class_probs, 0, 1),
            final_logits=logits,
            honest_margin=task.honest_margin(final, logits),
        )

    return jax.jit(play)


def make_symmetric_play_fn(task: SparsePixelTask, judge_fn: JudgeFn, debater: Debater):
    """Like ``make_play_fn`` when one debater plays both sides (self-play): every move is that
    debater's search for the player to move, so nothing branches on whose turn it is. Each game may
    then start with its own first player (``state.first_player`` [B]), and the search is compiled
    once instead of once per branch. With a batch-uniform first player the games (and keys) are those
    of ``make_play_fn(task, judge_fn, debater, debater, first_player)``."""

    def play(judge_params: Any, key: jax.Array, state: State) -> GameRecord:
        def one_turn(state, turn_key):
            action = debater.select(judge_params, turn_key, state)
            mover = state.current_player
            state = task.step(state, action)
            logits = judge_fn(judge_params, task.judge_view(state))
            return state, (action, mover, task.claim_probs(state, logits), jax.nn.softmax(logits, axis=-1))

        keys = jax.random.split(key, task.num_turns)
        final, (actions, players, claim_probs, class_probs) = jax.lax.scan(one_turn, state, keys)
        logits = judge_fn(judge_params, task.judge_view(final))
        return GameRecord(final=final, actions=actions.T, players=players.T,
                          claim_probs=jnp.swapaxes(claim_probs, 0, 1), class_probs=jnp.swapaxes(class_probs, 0, 1),
                          final_logits=logits, honest_margin=task.honest_margin(final, logits))

    return jax.jit(play)
