"""How the app draws each task: one view module per task, ``app/views/<task>.py``, found by name.

The pages never name a task: they ask ``view_for(transcript)`` and call what the view offers. A view
module defines ``VIEW``, a ``TaskView``; a task without a view module gets ``TextView(task)``, which
shows its debates as text through ``debate.records.rendering`` (the task's ``RENDERER``), so a new task
appears in the app, as text, without any edit here or in the pages.

What a view gives the pages:

- ``judge_turns(transcript, shown, ...)``: the judging page's evidence after ``shown`` turns (a board,
  or the turns as text and at the end the evidence to check), around the page's own turn log;
- ``replay(transcript, turn, ...)``: the Transcripts page's replay after ``turn`` turns (researcher view);
- ``explanation_hint``, ``debater_mark`` (what marks a debater's moves: "frame", "mark"), ``label``
  (the task in sentences: "sparse-pixel"), ``judge_order`` (the judging page lists tasks by it);
- ``searchable``: whether the Game-tree page can re-run a stored transcript's searches and solve its
  exact trees (``searchable_tasks()`` lists those tasks).
"""

from __future__ import annotations

import importlib
from typing import Callable, Sequence

import streamlit as st

from debate import tasks as _tasks
from debate.records import rendering
from debate.records.transcript import Transcript, Turn

__all__ = ["TaskView", "TextView", "view_for", "searchable_tasks", "judge_task_order", "task_labels"]


class TaskView:
    """What the pages need from one task. Subclass ``TextView`` (text, with defaults) or this."""

    task: str = ""
    #: The task in sentences ("No sparse-pixel transcripts are stored yet").
    label: str = ""
    #: The judging page lists tasks by (judge_order, name): lower first.
    judge_order: int = 100
    #: The placeholder of the judge's explanation box.
    explanation_hint: str = "e.g. why this claim is the true one"
    #: What shows whose move a turn was, in the legend under each claim ("purple frame").
    debater_mark: str = "mark"
    #: The Game-tree page can re-run this task's stored searches and solve its exact trees.
    searchable: bool = False

    def judge_turns(self, transcript: Transcript, shown: int, *, first_mover: str,
                    player_colors: dict[int, tuple[int, int, int]], turn_log: Callable[[], None]) -> None:
        """Draw what the judge sees after ``shown`` turns; ``turn_log()`` draws the page's turn list and
        its Next-turn button; ``first_mover`` names the debater who moves first ("Debater A")."""
        raise NotImplementedError

    def board(self, transcript: Transcript, shown: int, *, player_colors: dict[int, tuple[int, int, int]]):
        """The picture of the board after ``shown`` turns (an RGB array), or None for a task shown as text."""
        return None

    def replay(self, transcript: Transcript, turn: int, *,
               turn_lines: Callable[[Sequence[Turn]], None]) -> None:
        """Draw a stored debate after ``turn`` turns for researchers; ``turn_lines(turns)`` draws turns
        with the judge's belief after each."""
        raise NotImplementedError


class TextView(TaskView):
    """A task's debates as text: the question, the turns, and at the end the evidence the judge
    decides on (and, for researchers, what an exact check of it says). Every task has at least this."""

    #: The judge's last line (``{evidence}``: ``rendering.final_evidence``).
    judge_evidence: str = "**What you decide on:** {evidence}"
    #: The researcher's last line in the replay.
    replay_evidence: str = "**Final evidence:** {evidence}"

    def __init__(self, task: str | None = None):
        if task is not None:
            self.task = task
        if not self.label:
            self.label = self.task.replace("_", "-")

    def judge_turns(self, transcript, shown, *, first_mover, player_colors, turn_log) -> None:
        n = len(transcript.turns)
        st.caption(f"{first_mover} moves first; the debate has {n} turns.")
        if shown >= n:  # above the controls, so it is read before the verdict
            st.markdown(self.judge_evidence.format(evidence=rendering.final_evidence(transcript)))
        turn_log()

    def replay(self, transcript, turn, *, turn_lines) -> None:
        n = len(transcript.turns)
        st.markdown(f"**Question:** {rendering.judge_question(transcript)}")
        st.caption(f"After {turn} of {n} turns.")
        turn_lines(transcript.turns[:turn])
        if turn >= n:
            st.markdown(self.replay_evidence.format(evidence=rendering.final_evidence(transcript)))
            check = rendering.evidence_check(transcript)
            if check:
                st.caption(f"Exact check: {check}.")
        with st.expander("The whole debate as text"):
            st.code(rendering.describe_transcript(transcript), language=None)


def view_for(task: str | Transcript) -> TaskView:
    """The view of a task (or of a transcript's task): ``VIEW`` of ``app.views.<task>``, else a ``TextView``."""
    name = task.task if isinstance(task, Transcript) else task
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        return TextView(str(name))
    module_name = f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise  # the view exists but something it imports does not: say so, do not hide it
        return TextView(name)
    view = getattr(module, "VIEW", None)
    if not isinstance(view, TaskView):
        raise TypeError(f"{module_name} has no VIEW (a TaskView): define one, or delete the module to show "
                        f"{name} debates as text.")
    return view


def known_tasks() -> list[str]:
    """Every task the app may meet: the registered tasks and those with an out-of-tree renderer."""
    return sorted(set(_tasks.names()) | set(rendering.supported_tasks()))


def searchable_tasks() -> list[str]:
    """The tasks whose stored searches the Game-tree page can re-run (``TaskView.searchable``)."""
    return [name for name in known_tasks() if view_for(name).searchable]


def task_labels(names: Sequence[str], joiner: str = " or ") -> str:
    """The tasks in a sentence: "sparse-pixel", "sparse-pixel or computation"."""
    return joiner.join(view_for(name).label for name in names) or "no"


def judge_task_order(names) -> list[str]:
    """``names`` in the order the judging page offers them (``TaskView.judge_order``, then by name)."""
    return sorted(names, key=lambda name: (view_for(name).judge_order, name))
