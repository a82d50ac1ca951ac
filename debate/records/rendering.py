"""Stored debates as text for people, whatever the task: one renderer per ``Transcript.task``.

The app, the command line and reports call the functions below with any transcript; each task's
renderer turns its task-specific ``instance`` and per-turn ``revealed`` dicts into sentences::

    from debate.records import rendering
    print(rendering.describe_transcript(t))       # turn by turn, for researchers (roles shown)
    rendering.turn_text(t, 0)                      # "Claimer (liar) says x_4 = 17"
    rendering.turn_text(t, 0, names={0: "Debater A", 1: "Debater B"})  # roles hidden, for judges
    rendering.judge_question(t)                    # what the judge must decide
    rendering.final_evidence(t)                    # what the judge sees at the end

Like ``debate.records.transcript`` this module depends only on the standard library and numpy (no jax):
the app imports it. A task without a renderer stops with one sentence naming it (``UnknownTaskError``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from debate.records.transcript import Transcript, Turn

__all__ = [
    "UnknownTaskError",
    "TaskRenderer",
    "SparsePixelRenderer",
    "ComputationRenderer",
    "register",
    "renderer_for",
    "supported_tasks",
    "describe_transcript",
    "turn_text",
    "judge_question",
    "final_evidence",
    "evidence_check",
    "claim_text",
    "value_text",
    "instructions",
    "ascii_board",
]


class UnknownTaskError(ValueError):
    """No renderer is registered for a transcript's task."""


def _broken(transcript: Transcript, what: str) -> ValueError:
    return ValueError(f"transcript {str(transcript.id)[:8]} is not a readable {transcript.task} debate: {what}; "
                      "regenerate it.")


def _turn(transcript: Transcript, turn: int | Turn) -> Turn:
    if isinstance(turn, Turn):
        return turn
    n = len(transcript.turns)
    if not isinstance(turn, (int, np.integer)) or not 0 <= int(turn) < n:
        raise ValueError(f"turn {turn!r} is outside 0..{n - 1} for transcript {str(transcript.id)[:8]}; "
                         "pass the index of one of its turns.")
    return transcript.turns[int(turn)]


def _role(transcript: Transcript, player: int) -> str:
    return transcript.roles[player] if 0 <= player < len(transcript.roles) else f"player {player}"


class TaskRenderer:
    """How one task's debates read for people. Subclasses fill in the task-specific parts."""

    task: str = ""
    #: A short paragraph for a person about to judge a debate of this task.
    instructions: str = ""

    def describe_transcript(self, transcript: Transcript, **options) -> str:
        raise NotImplementedError

    def turn_text(self, transcript: Transcript, turn: Turn, names: Mapping[int, str] | None = None) -> str:
        raise NotImplementedError

    def judge_question(self, transcript: Transcript) -> str:
        raise NotImplementedError

    def final_evidence(self, transcript: Transcript) -> str:
        raise NotImplementedError

    def evidence_check(self, transcript: Transcript) -> str | None:
        """What a perfect judge concludes from the final evidence (researcher view); None if nothing."""
        return None

    def value_text(self, transcript: Transcript, value: int | None) -> str:
        """An answer of this task, e.g. "class 3" or "x_8 = 17"."""
        return "none" if value is None else str(value)

    def claim_text(self, transcript: Transcript, player: int) -> str:
        """What a player argues, for people."""
        return self.value_text(transcript, transcript.claims[player])


# ----------------------------------------------------------------------------------- sparse pixel


def ascii_board(height: int, width: int, revealed: list[tuple[int, int, int]], image: np.ndarray | None = None) -> str:
    """The board as text: ``.`` hidden, ``H``/``L`` a pixel revealed by the honest player/liar,
    and (when ``image`` is given) hidden ink drawn faintly as ``:`` for a reader who may see it."""
    grid = [["." for _ in range(width)] for _ in range(height)]
    if image is not None:
        for r in range(height):
            for c in range(width):
                if image[r, c] > 0:
                    grid[r][c] = ":"
    for row, col, player in revealed:
        grid[row][col] = "H" if player == 0 else "L"
    return "\n".join("".join(line) for line in grid)


class SparsePixelRenderer(TaskRenderer):
    """MNIST-style sparse-pixel debates (Irving et al. 2018): players reveal true pixels of a hidden image."""

    task = "sparse_pixel"
    instructions = ("Two debaters argue about which digit a hidden image shows. Each turn one of them reveals one "
                    "true pixel. One of them is telling the truth. Decide who.")

    def _claims(self, transcript: Transcript) -> list[str]:
        return ["any other class" if c is None else str(c) for c in transcript.claims]

    def describe_transcript(self, transcript: Transcript, show_image: bool = True) -> str:
        """Turn-by-turn text with the judge's belief after each turn and the board as ASCII art."""
        inst = transcript.instance
        try:
            height, width = int(inst["height"]), int(inst["width"])
            image = np.asarray(inst["pixels"], dtype=np.uint8).reshape(height, width) if show_image else None
        except (KeyError, TypeError, ValueError):
            raise _broken(transcript, "its instance needs height, width and pixels") from None
        claims = self._claims(transcript)
        roles = transcript.roles
        lines = [f"{transcript.protocol}: honest claims {claims[0]}, liar claims {claims[1]} "
                 f"(true class {transcript.ground_truth}); {_role(transcript, transcript.first_player)} moves first.",
                 "board: H honest's pixel, L liar's pixel, : ink the judge has not seen, . blank"]
        revealed = []
        for turn in transcript.turns:
            revealed.append((turn.revealed["row"], turn.revealed["col"], turn.player))
            lines.append("")
            lines.append(f"turn {turn.index + 1}: {self.turn_text(transcript, turn)}; judge belief: "
                         + ", ".join(f"{roles[p]} {q:.2f}" for p, q in enumerate(turn.judge_probs)))
            lines.append(ascii_board(height, width, revealed, image))
        lines.append("")
        lines.append(f"verdict: class {transcript.verdict_claim}; the {transcript.winner_role} player wins.")
        return "\n".join(lines)

    def turn_text(self, transcript: Transcript, turn: Turn, names: Mapping[int, str] | None = None) -> str:
        r = turn.revealed
        try:
            row, col, value = int(r["row"]), int(r["col"]), int(r["value"])
        except (KeyError, TypeError, ValueError):
            raise _broken(transcript, f"turn {turn.index} does not say which pixel was revealed") from None
        if names is None:
            return f"{_role(transcript, turn.player)} reveals pixel (row {row}, col {col}) = {value}"
        return f"{names[turn.player]} revealed row {row}, column {col} (brightness {value}/255)"

    def judge_question(self, transcript: Transcript) -> str:
        inst = transcript.instance
        size = f"{inst.get('height', '?')}x{inst.get('width', '?')} " if isinstance(inst, dict) else ""
        return f"Which digit does the hidden {size}image show?"

    def final_evidence(self, transcript: Transcript) -> str:
        pixels = [f"(row {t.revealed.get('row')}, col {t.revealed.get('col')}) = {t.revealed.get('value')}"
                  for t in transcript.turns]
        if not pixels:
            return "no pixel was revealed"
        return f"{len(pixels)} revealed pixel{'s' if len(pixels) != 1 else ''}: " + ", ".join(pixels)

    def value_text(self, transcript: Transcript, value: int | None) -> str:
        return "any other class" if value is None else f"class {value}"

    def claim_text(self, transcript: Transcript, player: int) -> str:
        """The class, or "not <honest claim>" without precommitment."""
        claim = transcript.claims[player]
        if claim is not None:
            return str(claim)
        others = [c for p, c in enumerate(transcript.claims) if p != player and c is not None]
        return f"not {others[0]}" if others else "any class"


# ------------------------------------------------------------------------------------ computation

#: ``debate.tasks.computation.game.OPERATOR_NAMES``, repeated here so that rendering needs no jax
#: (tests/test_records_computation.py pins that the two agree).
COMPUTATION_OPERATOR_NAMES = ("add", "subtract", "multiply by")
COMPUTATION_OPERATOR_SETS = {"sum": "adds a number", "add_sub": "adds or subtracts a number",
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
            raise _broken(transcript, f"its instance lacks {', '.join(missing)}")
        claimer = inst["claimer"]
        if not isinstance(claimer, int) or not 0 <= claimer < len(transcript.claims):
            raise _broken(transcript, f"its claimer {claimer!r} is not a player id")
        return inst

    def _position_name(self, transcript: Transcript, player: int) -> str:
        return CLAIMER_ROLE if player == self._instance(transcript)["claimer"] else CHALLENGER_ROLE

    def _who(self, transcript: Transcript, player: int, names: Mapping[int, str] | None) -> str:
        position = self._position_name(transcript, player)
        if names is None:
            return f"{position.capitalize()} ({_role(transcript, player)})"
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
        except (KeyError, TypeError, ValueError):
            pass
        raise _broken(transcript, f"turn {turn.index} is neither a midpoint claim nor a dispute")

    def judge_question(self, transcript: Transcript) -> str:
        inst = self._instance(transcript)
        steps, modulus = inst["num_steps"], inst["modulus"]
        kind = COMPUTATION_OPERATOR_SETS.get(inst["operators"], "changes the value")
        return (f"Start from x_0 = {inst['start']} and apply {steps} steps of arithmetic mod {modulus} (each step "
                f"{kind}, fixed by the instance). What is x_{steps}?")

    def _checked(self, transcript: Transcript) -> dict | None:
        step = self._instance(transcript)["checked_step"]
        if step is None:
            return None
        try:
            out = {k: int(step[k]) for k in ("position", "v_lo", "opcode", "operand", "v_hi")}
        except (KeyError, TypeError, ValueError):
            raise _broken(transcript, "its checked_step needs position, v_lo, opcode, operand and v_hi") from None
        if not 0 <= out["opcode"] < len(COMPUTATION_OPERATOR_NAMES):
            raise _broken(transcript, f"its checked step has an unknown opcode {out['opcode']}")
        return out

    def final_evidence(self, transcript: Transcript) -> str:
        step = self._checked(transcript)
        if step is None:
            return "no step was checked: the debate ended before the disputed stretch was one step long"
        pos, modulus = step["position"], self._instance(transcript)["modulus"]
        return (f"step {pos}: x_{pos} = {step['v_lo']}, {COMPUTATION_OPERATOR_NAMES[step['opcode']]} "
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
        claims = ", ".join(f"{_role(transcript, p)} claims {self.claim_text(transcript, p)}"
                           for p in range(len(transcript.claims)))
        lines = [f"{transcript.protocol}: {self.judge_question(transcript)}",
                 f"{claims} (true value {self.value_text(transcript, transcript.ground_truth)}); "
                 f"the {_role(transcript, claimer)} player is the claimer; "
                 f"the {self._position_name(transcript, transcript.first_player)} moves first."]
        roles = transcript.roles
        for turn in transcript.turns:
            lines.append(f"turn {turn.index + 1}: {self.turn_text(transcript, turn)}; judge belief: "
                         + ", ".join(f"{roles[p]} {q:.2f}" for p, q in enumerate(turn.judge_probs)))
        lines.append(f"checked {self.final_evidence(transcript)}")
        check = self.evidence_check(transcript)
        if check is not None:
            lines.append(f"exact check: {check}")
        lines.append(f"verdict: {self.value_text(transcript, transcript.verdict_claim)}; "
                     f"the {transcript.winner_role} player wins.")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------- registry

_RENDERERS: dict[str, TaskRenderer] = {}


def register(renderer: TaskRenderer) -> TaskRenderer:
    """Make ``renderer`` the one for its ``task`` (a later registration replaces an earlier one)."""
    if not isinstance(renderer.task, str) or not renderer.task:
        raise ValueError("a renderer needs a non-empty task name; set its `task` attribute.")
    _RENDERERS[renderer.task] = renderer
    return renderer


register(SparsePixelRenderer())
register(ComputationRenderer())


def supported_tasks() -> list[str]:
    return sorted(_RENDERERS)


def renderer_for(task: str | Transcript) -> TaskRenderer:
    """The renderer of a task (or of a transcript's task); ``UnknownTaskError`` if there is none."""
    name = task.task if isinstance(task, Transcript) else task
    try:
        return _RENDERERS[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(f"no people-facing rendering for task {name!r}: known tasks are "
                               f"{', '.join(supported_tasks())}; register a renderer in debate/rendering.py.") from None


def describe_transcript(transcript: Transcript, **options) -> str:
    """Turn-by-turn text of a stored debate, for researchers (roles, the truth and the verdict shown)."""
    return renderer_for(transcript).describe_transcript(transcript, **options)


def turn_text(transcript: Transcript, turn: int | Turn, names: Mapping[int, str] | None = None) -> str:
    """One line for one turn (a turn index or a ``Turn``). Without ``names`` the players are named by
    role ("Claimer (liar)", "honest"); with ``names`` (player id -> e.g. "Debater A") roles stay hidden."""
    return renderer_for(transcript).turn_text(transcript, _turn(transcript, turn), names)


def judge_question(transcript: Transcript) -> str:
    """The question the judge answers, without the claims or anything the judge must not see."""
    return renderer_for(transcript).judge_question(transcript)


def final_evidence(transcript: Transcript) -> str:
    """What the judge decides on at the end (for computation: the single step it checks)."""
    return renderer_for(transcript).final_evidence(transcript)


def evidence_check(transcript: Transcript) -> str | None:
    """What a perfect judge concludes from the final evidence (researcher view; None for tasks without one)."""
    return renderer_for(transcript).evidence_check(transcript)


def claim_text(transcript: Transcript, player: int) -> str:
    """What player ``player`` argues, for people ("3", "not 3", "x_8 = 17")."""
    return renderer_for(transcript).claim_text(transcript, player)


def value_text(transcript: Transcript, value: int | None) -> str:
    """An answer of the transcript's task ("class 3", "x_8 = 17")."""
    return renderer_for(transcript).value_text(transcript, value)


def instructions(task: str | Transcript) -> str:
    """A short paragraph for a person about to judge debates of this task."""
    return renderer_for(task).instructions
