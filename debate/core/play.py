"""Play a whole batch of debates as one compiled call: every move and every search of every game.

``make_play_fn(task, judge_fn, debaters)`` returns a jitted
``play(judge_params, key, state, seating=None, debater_params=None) -> GameRecord`` for any task and
any number of players. A ``lax.scan`` runs the ``num_turns`` moves; at each move a ``lax.switch``
over the distinct debaters picks the one seated at the player to move, so no Python runs between
moves and each debater's search is compiled once. ``seating [N]`` (traced) says which debater of
``debaters`` sits in each player seat: every pairing of a league shares one compiled function.

The player to move is read from the first unfinished game of the batch: with one first player for
the whole batch every unfinished game has the same mover (a rule of ``debate.core.task``). With one
distinct debater nothing branches, so each game may start with its own first player (self-play).

``debater_params`` is one entry per distinct debater: what that debater's ``select`` receives
(``debate.core.debaters.debater_params(judge_params, net_params)`` for a network debater); ``None``
(the default, or an entry) means the judge's parameters.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import struct

from debate.core.debaters import Debater, JudgeFn
from debate.core.task import Task, num_players


@struct.dataclass
class GameRecord:
    final: Any  # the task's final State
    actions: jax.Array  # [B, T] action played at each turn
    players: jax.Array  # [B, T] player id who moved
    claim_probs: jax.Array  # [B, T, C] judge's probability for each claim after each turn
    class_probs: jax.Array  # [B, T, classes] judge's full output distribution after each turn
    final_logits: jax.Array  # [B, classes]
    honest_margin: jax.Array  # [B] positive when the honest team wins
    extras: dict  # the task's ``record_extras`` (e.g. revealed pixels), computed inside the compiled call


def distinct(debaters: Sequence[Debater]) -> tuple[list[Debater], list[int]]:
    """(the distinct debaters, in first-seen order; the index of each seat's debater among them)."""
    pool, index = [], []
    for debater in debaters:
        found = next((i for i, d in enumerate(pool) if d is debater), None)
        if found is None:
            pool.append(debater)
            found = len(pool) - 1
        index.append(found)
    return pool, index


def make_play_fn(task: Task, judge_fn: JudgeFn, debaters: Sequence[Debater]):
    """``debaters`` is the pool a seating draws from (for a fixed game: one debater per player id,
    e.g. ``[honest, liar]``; the same object twice is one debater)."""
    pool, index = distinct(list(debaters))
    seats = num_players(task)
    # One debater plays every seat; one per player seats them in order; any other pool is a league
    # whose seating comes with each call.
    default = jnp.asarray(index * seats if len(index) == 1 else index if len(index) == seats else [0] * seats,
                          jnp.int32)

    def play(judge_params: Any, key: jax.Array, state, seating=None, debater_params=None) -> GameRecord:
        seating = default if seating is None else jnp.asarray(seating, jnp.int32)
        params = [judge_params if p is None else p for p in (debater_params or [None] * len(pool))]

        def one_turn(state, turn_key):
            if len(pool) == 1:
                action = pool[0].select(params[0], turn_key, state)
            else:
                first_active = jnp.argmax(~state.terminated)
                branches = [lambda k, s, i=i: pool[i].select(params[i], k, s) for i in range(len(pool))]
                action = jax.lax.switch(seating[state.current_player[first_active]], branches, turn_key, state)
            mover = state.current_player
            state = task.step(state, action)
            logits = judge_fn(judge_params, task.judge_view(state))
            return state, (action, mover, task.claim_probs(state, logits), jax.nn.softmax(logits, axis=-1))

        keys = jax.random.split(key, task.num_turns)
        final, (actions, players, claim_probs, class_probs) = jax.lax.scan(one_turn, state, keys)
        logits = judge_fn(judge_params, task.judge_view(final))
        return GameRecord(final=final, actions=actions.T, players=players.T,
                          claim_probs=jnp.swapaxes(claim_probs, 0, 1), class_probs=jnp.swapaxes(class_probs, 0, 1),
                          final_logits=logits, honest_margin=task.honest_margin(final, logits),
                          extras=task.record_extras(final, actions.T))

    return jax.jit(play)
