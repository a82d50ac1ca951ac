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

from typing import TYPE_CHECKING

import numpy as np

from debate.records.transcript import Transcript, TranscriptError, Turn, players_from_roles, quote

if TYPE_CHECKING:
    from debate.core.runner import Games
    from debate.tasks.computation.game import ComputationTask

# This module imports no jax (``Transcript.validate`` runs ``check_transcript`` from here): the game's
# constants and its counter-based hash are repeated below in numpy (tests pin that they agree), and
# jax is imported inside the functions that need it.
ROLES = ["honest", "liar"]
TASK_NAME = "computation"
HONEST, LIAR = 0, 1
LEFT, RIGHT = 0, 1
OP_ADD, OP_SUB, OP_MUL = 0, 1, 2
OPERATOR_SETS = {"sum": (OP_ADD,), "add_sub": (OP_ADD, OP_SUB), "affine": (OP_ADD, OP_SUB, OP_MUL)}
MAX_MODULUS = 46337
MAX_STEPS = 1 << 24
#: computations up to this many steps are run to check that ground_truth is their true result
MAX_CHECKED_STEPS = 1 << 16


def midpoint(lo, hi):
    return lo + (hi - lo) // 2


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
    import jax.numpy as jnp

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


# ------------------------------------------------------------------------------------- the rules


def _mix32(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def _hash(seed: int, counter: np.ndarray, salt: int) -> np.ndarray:
    """``game._hash`` in numpy (uint32 arithmetic wraps the same way)."""
    with np.errstate(over="ignore"):
        s = np.asarray([seed], np.uint32) ^ np.uint32((0x9E3779B9 * salt) & 0xFFFFFFFF)
        return _mix32(_mix32(s) + np.asarray(counter, np.uint32) * np.uint32(0x85EBCA6B))


def start_value(seed: int, modulus: int) -> int:
    """``ComputationTask.start_value`` for one seed."""
    return int(_hash(seed, np.asarray([0xFFFFFFFF]), 3)[0] % np.uint32(modulus))


def operations(seed: int, positions, modulus: int, operators: str) -> tuple[np.ndarray, np.ndarray]:
    """``ComputationTask.operations`` for one seed: (opcode, operand) of each step in ``positions``."""
    positions = np.asarray(positions, np.uint32)
    ops = np.asarray(OPERATOR_SETS[operators], np.int64)
    opcode = ops[(_hash(seed, positions, 1) % np.uint32(len(ops))).astype(np.int64)]
    h_arg = _hash(seed, positions, 2).astype(np.int64)
    operand = np.where(opcode == OP_MUL, 1 + h_arg % (modulus - 1), h_arg % modulus)
    return opcode, operand


def final_value(seed: int, num_steps: int, modulus: int, operators: str) -> int:
    """``x_T``: the computation run step by step (O(T))."""
    opcode, operand = operations(seed, np.arange(num_steps), modulus, operators)
    x = start_value(seed, modulus)
    for op, a in zip(opcode.tolist(), operand.tolist()):
        x = (x + a) % modulus if op == OP_ADD else (x - a) % modulus if op == OP_SUB else (x * a) % modulus
    return x


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def _int(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def check_transcript(transcript: Transcript) -> None:
    """The bisection rules, without jax (``Transcript.validate`` runs this; the replay
    ``debate.core.replay.replay_transcript`` agrees on every valid transcript). Raises
    ``TranscriptError`` naming the first field or turn that breaks them:

    - the instance: ``num_steps`` 2..2^24, ``modulus`` a prime up to 46337, ``operators`` a known set,
      ``seed`` a uint32, ``start`` the start value the seed gives, ``claimer`` the first player;
    - two players on teams 0 and 1; claims ``[truth, lie]``: two different values 0..p-1, the
      truth equal to ``ground_truth`` and (for computations up to 2^16 steps) to ``x_T``;
    - turn ``i`` has index ``i``; the claimer moves first and the players alternate; the claimer's
      action is a value 0..p-1 and its ``revealed`` ``{"kind": "midpoint", "position", "value"}``;
      the challenger's action is 0 (left) or 1 (right) and its ``revealed``
      ``{"kind": "dispute", "half", "lo", "hi"}``, the stretch still disputed; no move after the
      stretch is one step long;
    - ``checked_step`` is the step the moves end at (its position, values, opcode and operand), or
      None when they do not end at one step;
    - ``winner`` is a team and ``verdict_claim`` its claim.
    """
    inst = transcript.instance
    steps, p, operators = inst.get("num_steps"), inst.get("modulus"), inst.get("operators")
    seed, start, claimer = inst.get("seed"), inst.get("start"), inst.get("claimer")
    if not _int(steps, 2, MAX_STEPS):
        raise TranscriptError(f"instance num_steps is {quote(steps)} but must be an integer 2..{MAX_STEPS}; fix the file")
    if not _int(p, 2, MAX_MODULUS) or not _is_prime(p):
        raise TranscriptError(f"instance modulus is {quote(p)} but must be a prime up to {MAX_MODULUS}; fix the file")
    if not isinstance(operators, str) or operators not in OPERATOR_SETS:
        raise TranscriptError(f"instance operators is {quote(operators)} but must be one of "
                              f"{', '.join(OPERATOR_SETS)}; fix the file")
    if not _int(seed, 0, 0xFFFFFFFF):
        raise TranscriptError(f"instance seed is {quote(seed)} but must be an integer 0..2^32-1; fix the file")
    if start != start_value(seed, p):
        raise TranscriptError(f"instance start is {quote(start)} but seed {seed} starts at "
                              f"{start_value(seed, p)}; fix the file")
    if len(transcript.players) != 2 or transcript.teams != [HONEST, LIAR]:
        raise TranscriptError(f"a computation debate has two players on teams 0 (honest) and 1 (liar), got teams "
                              f"{quote(transcript.teams)}; fix the file")
    if claimer != transcript.first_player:
        raise TranscriptError(f"instance claimer is {quote(claimer)} but the claimer moves first and first_player "
                              f"is {transcript.first_player}; fix the file")
    claims = transcript.claims
    if len(claims) != 2 or not all(_int(c, 0, p - 1) for c in claims) or claims[0] == claims[1]:
        raise TranscriptError(f"claims are {quote(claims)} but a computation debate has two different final "
                              f"values 0..{p - 1} (truth, lie); fix the file")
    if transcript.ground_truth != claims[0]:
        raise TranscriptError(f"ground_truth is {quote(transcript.ground_truth)} but the honest claim is "
                              f"{claims[0]}; fix the file")
    if steps <= MAX_CHECKED_STEPS:
        truth = final_value(seed, steps, p, operators)
        if truth != claims[0]:
            raise TranscriptError(f"ground_truth is {claims[0]} but the computation of seed {seed} ends at "
                                  f"x_{steps} = {truth}; fix the file")

    lo, hi, v_lo, v_hi, pending = 0, steps, start, claims[claimer], None
    for i, turn in enumerate(transcript.turns):
        if hi - lo <= 1:
            raise TranscriptError(f"turn {i} comes after the game ended (the stretch {lo}..{hi} is one step)")
        player = claimer if pending is None else 1 - claimer
        if turn.player != player:
            raise TranscriptError(f"turn {i} is played by player {quote(turn.player)} but it is player {player}'s "
                                  f"move (the {'claimer' if pending is None else 'challenger'})")
        action, mid = turn.action, midpoint(lo, hi)
        if pending is None:
            if not 0 <= action < p:
                raise TranscriptError(f"turn {i} claims the value {quote(action)}, outside 0..{p - 1}")
            expected = {"kind": "midpoint", "position": mid, "value": action}
            pending = action
        else:
            if action not in (LEFT, RIGHT):
                raise TranscriptError(f"turn {i} disputes half {quote(action)}; a challenger plays {LEFT} (left) "
                                      f"or {RIGHT} (right)")
            if action == LEFT:
                hi, v_hi = mid, pending
            else:
                lo, v_lo = mid, pending
            expected = {"kind": "dispute", "half": "left" if action == LEFT else "right", "lo": lo, "hi": hi}
            pending = None
        said = turn.revealed
        if set(said) != set(expected) or any(type(said[k]) is not type(v) or said[k] != v for k, v in expected.items()):
            raise TranscriptError(f"turn {i} records {quote(said)} but its action {action} gives {expected}")

    step = inst.get("checked_step")
    if hi - lo == 1:
        if not isinstance(step, dict):
            raise TranscriptError(f"instance checked_step is {quote(step)} but the moves end at step {lo}, which "
                                  "the judge checked; fix the file")
        opcode, operand = operations(seed, [lo], p, operators)
        expected = {"position": lo, "v_lo": v_lo, "opcode": int(opcode[0]), "operand": int(operand[0]), "v_hi": v_hi}
        if set(step) != set(expected) or any(type(step[k]) is not int or step[k] != v for k, v in expected.items()):
            raise TranscriptError(f"instance checked_step is {quote(step)} but the moves end at {expected}; fix the file")
    elif step is not None:
        raise TranscriptError(f"instance checked_step is {quote(step)} but the moves end at the stretch {lo}..{hi}, "
                              "not at one step, so nothing was checked; fix the file")
    winner, verdict = transcript.winner, transcript.verdict_claim
    margin = transcript.meta.get("honest_margin")
    if isinstance(margin, (int, float)) and not isinstance(margin, bool) and winner is not None:
        if (winner == HONEST) != (margin > 0):
            raise TranscriptError(f"winner is team {winner} but the judge's recorded honest_margin is "
                                  f"{quote(margin)} (the honest team wins exactly when it is positive)")
    if winner is not None and verdict != claims[winner]:
        raise TranscriptError(f"verdict_claim is {quote(verdict)} but team {winner} won, whose claim is "
                              f"{claims[winner]}; the verdict is the winner's claim")
    if winner is None and verdict is not None and verdict not in claims:
        raise TranscriptError(f"verdict_claim {quote(verdict)} is neither claim; fix the file")
