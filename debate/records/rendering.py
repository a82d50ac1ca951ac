"""Stored debates as text for people, whatever the task: one renderer per ``Transcript.task``.

The app, the command line and reports call the functions below with any transcript; each task's
renderer turns its task-specific ``instance`` and per-turn ``revealed`` dicts into sentences::

    from debate.records import rendering
    print(rendering.describe_transcript(t))       # turn by turn, for researchers (roles shown)
    rendering.turn_text(t, 0)                      # "Claimer (liar) says x_4 = 17"
    rendering.turn_text(t, 0, names={0: "Debater A", 1: "Debater B"})  # roles hidden, for judges
    rendering.judge_question(t)                    # what the judge must decide
    rendering.final_evidence(t)                    # what the judge sees at the end

This module is the generic part only: ``TaskRenderer`` and the lookup. Each task's renderer lives in
its package, ``debate/tasks/<name>/rendering.py``, and the package exposes it as ``RENDERER`` (found
through the task registry ``debate.tasks.get(name)``); a renderer for a task outside the source tree
is added with ``register(renderer)``. Like ``debate.records.transcript`` this module, the registry and
every task's rendering module depend only on the standard library and numpy (no jax): the app
imports them. A task without a renderer stops with one sentence naming it (``UnknownTaskError``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from debate import tasks as _tasks
from debate.records.transcript import Transcript, Turn

__all__ = [
    "UnknownTaskError",
    "TaskRenderer",
    "register",
    "unregister",
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
]


class UnknownTaskError(ValueError):
    """No renderer is registered for a transcript's task."""


def _turn(transcript: Transcript, turn: int | Turn) -> Turn:
    if isinstance(turn, Turn):
        return turn
    n = len(transcript.turns)
    if not isinstance(turn, (int, np.integer)) or not 0 <= int(turn) < n:
        raise ValueError(f"turn {turn!r} is outside 0..{n - 1} for transcript {str(transcript.id)[:8]}; "
                         "pass the index of one of its turns.")
    return transcript.turns[int(turn)]


class TaskRenderer:
    """How one task's debates read for people. Subclasses (one per task, in the task's package) fill
    in the task-specific parts; the helpers ``role_name`` and ``unreadable`` are shared."""

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
        """What a player argues (its team's claim), for people."""
        return self.value_text(transcript, transcript.claim_of(player))

    # ------------------------------------------------------------------ helpers for subclasses

    @staticmethod
    def role_name(transcript: Transcript, player: int) -> str:
        """The role of ``player`` ("honest", "liar"), or "player N" when the transcript names none."""
        return transcript.roles[player] if 0 <= player < len(transcript.roles) else f"player {player}"

    @staticmethod
    def unreadable(transcript: Transcript, what: str) -> ValueError:
        """The error for a transcript whose task-specific data a renderer cannot read (raise it)."""
        return ValueError(f"transcript {str(transcript.id)[:8]} is not a readable {transcript.task} debate: {what}; "
                          "regenerate it.")


# ------------------------------------------------------------------------------------- registry

_RENDERERS: dict[str, TaskRenderer] = {}  # renderers registered from outside the task packages


def register(renderer: TaskRenderer) -> TaskRenderer:
    """Make ``renderer`` the one for its ``task``, ahead of the task package's own ``RENDERER`` (for a
    task outside the source tree, or a test's toy task; a later registration replaces an earlier one)."""
    if not isinstance(renderer.task, str) or not renderer.task:
        raise ValueError("a renderer needs a non-empty task name; set its `task` attribute.")
    _RENDERERS[renderer.task] = renderer
    return renderer


def unregister(task: str) -> None:
    """Undo ``register`` for ``task`` (the task package's ``RENDERER``, if any, applies again)."""
    _RENDERERS.pop(task, None)


_FOUND: dict[str, TaskRenderer] = {}  # task name -> its package's RENDERER, once looked up (the registry lists folders)


def _package_renderer(name: str) -> TaskRenderer | None:
    """The ``RENDERER`` of task package ``name``; None when there is no such task or it has none."""
    if name in _FOUND:
        return _FOUND[name]
    if name not in _tasks.names():
        return None
    renderer = getattr(_tasks.get(name), "RENDERER", None)
    if not isinstance(renderer, TaskRenderer):
        return None
    _FOUND[name] = renderer
    return renderer


def supported_tasks() -> list[str]:
    """The tasks whose debates can be rendered, sorted."""
    return sorted(set(_RENDERERS) | {name for name in _tasks.names() if _package_renderer(name) is not None})


def renderer_for(task: str | Transcript) -> TaskRenderer:
    """The renderer of a task (or of a transcript's task); ``UnknownTaskError`` if there is none."""
    name = task.task if isinstance(task, Transcript) else task
    renderer = None
    if isinstance(name, str):
        renderer = _RENDERERS.get(name) or _package_renderer(name)
    if renderer is None:
        raise UnknownTaskError(f"no people-facing rendering for task {name!r}: the tasks with one are "
                               f"{', '.join(supported_tasks())}; give the task's package a RENDERER "
                               "(debate/tasks/<name>/rendering.py) or call debate.records.rendering.register.")
    return renderer


# ------------------------------------------------------------------------------------- the text


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


def argued_text(transcript: Transcript, player: int, names: Mapping[int, str]) -> str:
    """What a player argues, worded the same way for every side, for a person judging blind:
    "Debater A argues: 3", and for a player without a claim of their own (no precommitment)
    "Debater B argues against Debater A's claim" -- never "not 3", which reads as the liar's."""
    if transcript.claim_of(player) is None:
        others = [q for q in names if q != player and transcript.claim_of(q) is not None]
        if others:
            return f"{names[player]} argues against {names[others[0]]}'s claim"
    return f"{names[player]} argues: {claim_text(transcript, player)}"


def value_text(transcript: Transcript, value: int | None) -> str:
    """An answer of the transcript's task ("class 3", "x_8 = 17")."""
    return renderer_for(transcript).value_text(transcript, value)


def instructions(task: str | Transcript) -> str:
    """A short paragraph for a person about to judge debates of this task."""
    return renderer_for(task).instructions
