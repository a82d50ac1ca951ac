"""Computation (bisection) debates for people: the text of a stored debate and the exact check of
the single step the judge is left with.

``RENDERER`` is what ``debate.records.rendering`` uses for ``task == "computation"`` (the package's
``__init__`` exposes it). Standard library only: the app and ``debate.records.rendering`` import this
without jax, which is why the operator names are repeated here.
"""

from __future__ import annotations

from typing import Mapping

from debate.records.rendering import TaskRenderer
from debate.records.transcript import Transcript, Turn, quote

__all__ = ["ComputationRenderer", "RENDERER", "OPERATOR_NAMES", "OPERATOR_SETS", "CLAIMER_ROLE", "CHALLENGER_ROLE"]

#: ``debate.tasks.computation.game.OPERATOR_NAMES``, repeated here so that rendering needs no jax
#: (tests/test_records_computation.py pins that the two agree).
OPERATOR_NAMES = ("add", "subtract", "multiply by")
#: The keys of ``debate.tasks.computation.game.OPERATOR_SETS``, each with what one step does.
OPERATOR_SETS = {"sum": "adds a number", "add_sub": "adds or subtracts a number",
                 "affine": "adds, subtracts or multiplies by a number"}
CLAIMER_ROLE, CHALLENGER_ROLE = "claimer", "challenger"


class ComputationRenderer(TaskRenderer):
    """Bisection debates about a T-step modular computation (``debate.tasks.computation.game``)."""

    task = "computation"
    instructions = ("Two debaters disagree about the result of a long computation. The claimer defends its final "
                    "value; each round it states the value halfway through the stretch in dispute, and the "
                    "challenger picks the half it disputes. At the end a single step is left: check that step "
                    "yourself. If the step is right, the claimer's claim is the true one; if it is wrong, the "
                    "challenger's is.")

    def _instance(self, transcript: Transcript) -> dict:
        inst = transcript.instance
        needed = ("num_steps", "modulus", "operators", "seed", "start", "claimer", "checked_step")
        missing = [k for k in needed if not isinstance(inst, dict) or k not in inst]
        if missing:
            raise self.unreadable(transcript, f"its instance lacks {', '.join(missing)}")
        claimer = inst["claimer"]
        if not isinstance(claimer, int) or not 0 <= claimer < len(transcript.claims):
            raise self.unreadable(transcript, f"its claimer {quote(claimer)} is not a player id")
        for key in ("num_steps", "modulus"):
            if not isinstance(inst[key], int) or isinstance(inst[key], bool) or inst[key] < 2:
                raise self.unreadable(transcript, f"its {key} {quote(inst[key])} is not an integer of at least 2")
        return inst

    def _position_name(self, transcript: Transcript, player: int) -> str:
        return CLAIMER_ROLE if player == self._instance(transcript)["claimer"] else CHALLENGER_ROLE

    def _who(self, transcript: Transcript, player: int, names: Mapping[int, str] | None) -> str:
        position = self._position_name(transcript, player)
        if names is None:
            return f"{position.capitalize()} ({self.role_name(transcript, player)})"
        return f"{names[player]} ({position})"

    def value_text(self, transcript: Transcript, value: int | None) -> str:
        steps = self._instance(transcript)["num_steps"]
        return f"x_{steps} = {'?' if value is None else value}"

    def turn_text(self, transcript: Transcript, turn: Turn, names: Mapping[int, str] | None = None) -> str:
        r = turn.revealed
        who = self._who(transcript, turn.player, names)
        try:
            if r["kind"] == "midpoint":
                return f"{who} says x_{int(r['position'])} = {int(r['value'])}"
            if r["kind"] == "dispute":
                return f"{who} disputes steps {int(r['lo'])}..{int(r['hi'])} ({r['half']} half)"
        except (KeyError, TypeError, ValueError, OverflowError):
            pass
        raise self.unreadable(transcript, f"turn {turn.index} is neither a midpoint claim nor a dispute")

    def judge_question(self, transcript: Transcript) -> str:
        inst = self._instance(transcript)
        steps, modulus = inst["num_steps"], inst["modulus"]
        operators = inst["operators"]
        kind = OPERATOR_SETS.get(operators, "changes the value") if isinstance(operators, str) else "changes the value"
        return (f"Start from x_0 = {inst['start']} and apply {steps} steps of arithmetic mod {modulus} (each step "
                f"{kind}, fixed by the instance). What is x_{steps}?")

    def _checked(self, transcript: Transcript) -> dict | None:
        step = self._instance(transcript)["checked_step"]
        if step is None:
            return None
        try:
            out = {k: int(step[k]) for k in ("position", "v_lo", "opcode", "operand", "v_hi")}
        except (KeyError, TypeError, ValueError, OverflowError):
            raise self.unreadable(transcript, "its checked_step needs position, v_lo, opcode, operand and v_hi") from None
        if not 0 <= out["opcode"] < len(OPERATOR_NAMES):
            raise self.unreadable(transcript, f"its checked step has an unknown opcode {out['opcode']}")
        return out

    def final_evidence(self, transcript: Transcript) -> str:
        step = self._checked(transcript)
        if step is None:
            return "no step was checked: the debate ended before the disputed stretch was one step long"
        pos, modulus = step["position"], self._instance(transcript)["modulus"]
        return (f"step {pos}: x_{pos} = {step['v_lo']}, {OPERATOR_NAMES[step['opcode']]} "
                f"{step['operand']} (mod {modulus}) -> claimed x_{pos + 1} = {step['v_hi']}")

    def step_result(self, transcript: Transcript) -> int | None:
        """The right value of ``x_{position+1}`` for the checked step's ``x_position`` (None: no check)."""
        step = self._checked(transcript)
        if step is None:
            return None
        p, v, a = self._instance(transcript)["modulus"], step["v_lo"], step["operand"]
        return ((v + a) % p, (v - a) % p, (v * a) % p)[step["opcode"]]

    def evidence_check(self, transcript: Transcript) -> str | None:
        step = self._checked(transcript)
        if step is None:
            return None
        right = self.step_result(transcript)
        pos = step["position"]
        if right == step["v_hi"]:
            return f"the step is right (x_{pos + 1} = {right}): the claimer's claim wins under an exact check"
        return (f"the step is wrong (x_{pos + 1} would be {right}, not {step['v_hi']}): the challenger's claim wins "
                "under an exact check")

    def describe_transcript(self, transcript: Transcript, **options) -> str:
        inst = self._instance(transcript)
        claimer = inst["claimer"]
        claims = ", ".join(f"{self.role_name(transcript, p)} claims {self.claim_text(transcript, p)}"
                           for p in range(len(transcript.players)))
        lines = [f"{transcript.protocol}: {self.judge_question(transcript)}",
                 f"{claims} (true value {self.value_text(transcript, transcript.ground_truth)}); "
                 f"the {self.role_name(transcript, claimer)} player is the claimer; "
                 f"the {self._position_name(transcript, transcript.first_player)} moves first."]
        for turn in transcript.turns:
            beliefs = ", ".join(f"{transcript.role_of_team(c) or f'claim {c}'} {float(q):.2f}"
                                for c, q in enumerate(turn.judge_probs))
            lines.append(f"turn {turn.index + 1}: {self.turn_text(transcript, turn)}; judge belief: {beliefs}")
        lines.append(f"checked {self.final_evidence(transcript)}")
        check = self.evidence_check(transcript)
        if check is not None:
            lines.append(f"exact check: {check}")
        winner = "nobody wins" if transcript.winner_role is None else f"the {transcript.winner_role} player wins"
        lines.append(f"verdict: {self.value_text(transcript, transcript.verdict_claim)}; {winner}.")
        return "\n".join(lines)


RENDERER = ComputationRenderer()
