"""Transcripts of bisection debates over a computation (``debate.tasks.computation.game``), for storage.

``computation_games_to_transcripts`` turns the numpy results of ``protocols.play_computations`` into
one ``Transcript`` per game. Claims are final values ``x_T``: ``claims = [truth, liar claim]`` for
the player ids ``(honest, liar)``; ``ground_truth`` is the true ``x_T``; ``verdict_claim`` the claim
of the player the judge decided for. Each turn's ``revealed`` is what the move said:

- the claimer's move: ``{"kind": "midpoint", "position": m, "value": v}`` (it claims ``x_m = v``);
- the challenger's: ``{"kind": "dispute", "half": "left" | "right", "lo": a, "hi": b}``, the stretch
  ``x_a .. x_b`` still in dispute after the move.

``instance`` holds what re-creates and re-renders the instance: ``num_steps``, ``modulus``,
``operators``, ``seed`` (the instance seed), ``start`` (``x_0``), ``claimer`` (player id) and
``checked_step`` (``position, v_lo, opcode, operand, v_hi``: the step the judge checked, None if the
game ended without a check). ``debate.records.rendering`` turns these records into text.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from debate.tasks.computation.game import HONEST, LEFT, LIAR, RIGHT, ComputationTask, midpoint
from debate.core.runner import Games
from debate.records.transcript import Transcript, Turn, players_from_roles

ROLES = ["honest", "liar"]
TASK_NAME = "computation"


def instance_id(task: ComputationTask, seed: int) -> str:
    """``computation-affine-T8-mod31:5``: the instance is the task's configuration and its seed."""
    return f"{TASK_NAME}-{task.operators}-T{task.num_steps}-mod{task.modulus}:{int(seed)}"


def bisection_reveals(task: ComputationTask, actions, players, num_moves: int, claimer: int, start: int,
                      claimer_final: int) -> tuple[list[dict], dict]:
    """Replay one game's moves: the ``revealed`` dict of each move, and the final interval
    ``{"lo", "hi", "v_lo", "v_hi"}``. Raises ValueError on a move the game cannot have made."""
    lo, hi, v_lo, v_hi, pending = 0, task.num_steps, int(start), int(claimer_final), None
    out = []
    for t in range(int(num_moves)):
        action, player = int(actions[t]), int(players[t])
        expected = claimer if pending is None else 1 - claimer
        if player != expected:
            raise ValueError(f"move {t} was made by player {player} but it was player {expected}'s turn; the games "
                             "do not come from one bisection debate (pass protocols.play_computations's result).")
        if hi - lo <= 1:
            raise ValueError(f"move {t} comes after the game ended (interval {lo}..{hi}); num_moves is wrong.")
        mid = int(midpoint(lo, hi))
        if pending is None:
            if not 0 <= action < task.modulus:
                raise ValueError(f"move {t} claims the value {action}, outside 0..{task.modulus - 1}.")
            out.append({"kind": "midpoint", "position": mid, "value": action})
            pending = action
        else:
            if action not in (LEFT, RIGHT):
                raise ValueError(f"move {t} disputes half {action}; a challenger's move is {LEFT} (left) or {RIGHT} (right).")
            if action == LEFT:
                hi, v_hi = mid, pending
            else:
                lo, v_lo = mid, pending
            out.append({"kind": "dispute", "half": "left" if action == LEFT else "right", "lo": lo, "hi": hi})
            pending = None
    return out, {"lo": lo, "hi": hi, "v_lo": v_lo, "v_hi": v_hi}


def computation_games_to_transcripts(games: Games, task: ComputationTask, protocol: str,
                                     debaters: tuple[str, str], judge: str, seed: int,
                                     experiment: str | None = None) -> list[Transcript]:
    """One validated transcript per game of ``games`` (played on ``task``); ``debaters`` are the names
    of the honest player and the liar, ``judge`` the judge's identity, ``seed`` the experiment seed.
    Turns stop at the game's ``num_moves`` (shorter branches end early when T is not a power of 2)."""
    n = len(games.honest_margin)
    if n == 0:
        return []
    start = np.asarray(task.start_value(jnp.asarray(games.seed, jnp.uint32)))
    out = []
    for g in range(n):
        claimer = int(games.first_player[g])
        if claimer not in (HONEST, LIAR):
            raise ValueError(f"claimer {claimer} is not a player id ({HONEST} honest, {LIAR} liar).")
        truth = int(games.truth[g])
        lie = int(games.claims[g, LIAR]) if "claims" in games.columns else int(games.liar_claim[g])
        if lie == truth:
            raise ValueError(f"game {g} (instance seed {int(games.seed[g])}): the liar claims the true value {truth}; "
                             "a liar must claim a wrong final value.")
        claims = [truth, lie]
        moves = int(games.num_moves[g])
        revealed, final = bisection_reveals(task, games.actions[g], games.players[g], moves, claimer,
                                            int(start[g]), claims[claimer])
        view = [int(v) for v in games.checked_view[g]]
        if view[0]:
            checked = dict(zip(("position", "v_lo", "opcode", "operand", "v_hi"), view[1:]))
            replayed = (final["lo"], final["v_lo"], final["v_hi"])
            if final["hi"] - final["lo"] != 1 or replayed != (checked["position"], checked["v_lo"], checked["v_hi"]):
                raise ValueError(f"game {g}: its moves end at step {final['lo']}..{final['hi']} with values "
                                 f"{final['v_lo']}, {final['v_hi']} but the judge checked {checked}; the games and the "
                                 "task do not match (pass the task the runner played).")
        else:
            checked = None
        turns = [Turn(index=t, player=int(games.players[g, t]), action=int(games.actions[g, t]), revealed=revealed[t],
                      judge_probs=[float(p) for p in games.claim_probs[g, t]]) for t in range(moves)]
        honest_won = bool(games.honest_margin[g] > 0)
        winner = HONEST if honest_won else LIAR
        out.append(Transcript(
            task=TASK_NAME, instance_id=instance_id(task, games.seed[g]), protocol=protocol, claims=claims,
            players=players_from_roles(ROLES, debaters), judge=judge, first_player=claimer, turns=turns,
            winner=winner, verdict_claim=claims[winner], ground_truth=truth,
            seeds={"experiment_seed": int(seed), "instance_seed": int(games.seed[g])},
            instance={"num_steps": int(task.num_steps), "modulus": int(task.modulus), "operators": task.operators,
                      "seed": int(games.seed[g]), "start": int(start[g]), "claimer": claimer,
                      "checked_step": checked},
            experiment=experiment,
            meta={"final_logits": [float(v) for v in games.final_logits[g]],
                  "honest_margin": float(games.honest_margin[g])},
        ).validate())
    return out
