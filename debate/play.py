"""Play a whole batch of debates as one compiled call: every move and every search of every game.

``make_play_fn`` returns a jitted ``play(judge_params, key, state) -> GameRecord``; a ``lax.scan``
runs the K moves and a ``lax.cond`` on the (batch-uniform) turn parity picks which debater moves,
so no Python runs between moves and each debater's search is compiled once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from debate.debaters import Debater, JudgeFn
from debate.sparse_pixel import HONEST, SparsePixelTask, State


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

    def play(judge_params: Any, key: jax.Array, state: State) -> GameRecord:
        def one_turn(state, inputs):
            turn, turn_key = inputs
            honest_to_move = (first_player + turn) % 2 == HONEST
            action = jax.lax.cond(
                honest_to_move,
                lambda: honest.select(judge_params, turn_key, state),
                lambda: liar.select(judge_params, turn_key, state),
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
