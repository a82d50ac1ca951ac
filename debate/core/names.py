"""One grammar names debaters everywhere: the command line, tournaments, studies and the app.

    random                 uniform over legal moves
    greedy                 one-step lookahead on the judge
    mcts-N                 Gumbel MuZero search (mctx), N simulations per move
    mcts-gumbel-N          the same, as the engine names it in transcripts
    mcts-muzero-N          PUCT search (the paper's), N simulations per move
    learned:DIR            a trained policy network, no search (built in ``training``)
    learned-mcts-N:DIR     that network inside N-simulation search
    KIND, KIND-N           a kind the task registers (``api.DEBATER_KINDS``), e.g. ``expert``,
                           ``mcts-expert-32`` on the computation task

``parse_debater_spec`` turns a string into a ``DebaterSpec`` (one sentence on a bad string);
``build_debater`` makes the engine's ``Debater``. Learned kinds load checkpoints, which is training's
business: pass ``learned_loader`` (``training.tournament.build_debater`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from debate.core.debaters import Debater, JudgeFn, greedy_debater, mcts_debater, random_debater

GENERIC_HELP = "random, greedy, mcts-N, mcts-muzero-N, learned:DIR or learned-mcts-N:DIR"
DEFAULT_SIMULATIONS = 64
MAX_SIMULATIONS = 1_000_000
_LEARNED = re.compile(r"^learned(?:-mcts-(\d+))?:(.*)$")
_WITH_COUNT = re.compile(r"^(.*?)-(\d+)$")


@dataclass(frozen=True)
class DebaterSpec:
    spec: str  # the string as given; also the debater's name on a leaderboard
    kind: str  # random, greedy, mcts, learned, learned-mcts, or a task's kind
    simulations: int = 0
    checkpoint: str | None = None
    algorithm: str = "gumbel"


def _count(text: str, digits: str) -> int:
    count = int(digits)
    if count < 1:
        raise ValueError(f"debater {text!r} needs at least 1 simulation; write e.g. mcts-64.")
    if count > MAX_SIMULATIONS:
        raise ValueError(f"debater {text!r} asks for more than {MAX_SIMULATIONS:,} simulations per move; "
                         "write e.g. mcts-64.")
    return count


def parse_debater_spec(text: str, task_kinds=()) -> DebaterSpec:
    """A ``DebaterSpec`` for ``text``; ``task_kinds`` are the kinds the task registers."""
    text = str(text).strip()
    if m := _LEARNED.match(text):
        simulations = _count(text, m.group(1)) if m.group(1) is not None else 0
        checkpoint = m.group(2).strip()
        if not checkpoint:
            raise ValueError(f"debater {text!r} names no checkpoint directory; write learned:DIR.")
        return DebaterSpec(text, "learned-mcts" if simulations else "learned", simulations, checkpoint)
    if text in task_kinds:
        return DebaterSpec(text, text, DEFAULT_SIMULATIONS)
    if text in ("random", "greedy"):
        return DebaterSpec(text, text)
    if m := _WITH_COUNT.match(text):
        base, count = m.group(1), m.group(2)
        if base in ("mcts", "mcts-gumbel", "mcts-muzero"):
            algorithm = "muzero" if base == "mcts-muzero" else "gumbel"
            return DebaterSpec(text, "mcts", _count(text, count), algorithm=algorithm)
        if base in task_kinds:
            return DebaterSpec(text, base, _count(text, count))
    extra = "".join(f", {k}" for k in task_kinds if k not in ("mcts",))
    raise ValueError(f"unknown debater {text!r}; use {GENERIC_HELP}{extra} (e.g. mcts-64).")


def task_kinds(task) -> dict[str, Callable]:
    """The debater kinds ``task`` registers through its package (none for a task outside the registry)."""
    from debate import tasks

    try:
        return dict(getattr(tasks.api(task.name), "DEBATER_KINDS", {}))
    except (KeyError, ModuleNotFoundError, AttributeError):  # AttributeError: no task (None) or a nameless one
        return {}


def build_debater(spec: DebaterSpec | str, task, judge_fn: JudgeFn, learned_loader=None) -> Debater:
    """The engine's ``Debater`` for a spec. A task's own kinds come first (the computation task's
    ``mcts`` breaks prior ties at random); learned kinds need ``learned_loader(spec, task, judge_fn)``."""
    kinds = task_kinds(task)
    if isinstance(spec, str):
        spec = parse_debater_spec(spec, tuple(kinds))
    if spec.kind in ("learned", "learned-mcts"):
        if learned_loader is None:
            raise ValueError(f"debater {spec.spec!r} is a learned network; build it with "
                             "training.tournament.build_debater, which loads checkpoints.")
        return learned_loader(spec, task, judge_fn)
    if spec.kind in kinds and spec.algorithm == "gumbel":
        return kinds[spec.kind](task, judge_fn, spec.simulations)
    if spec.kind == "random":
        return random_debater()
    if spec.kind == "greedy":
        return greedy_debater(task, judge_fn)
    if spec.kind == "mcts":
        return mcts_debater(task, judge_fn, spec.simulations, spec.algorithm)
    raise ValueError(f"debater kind {spec.kind!r} is not available for task {task.name!r}.")


def search_settings(name: str) -> tuple[str, int] | None:
    """``(algorithm, simulations)`` when ``name`` is a plain search debater (``mcts-gumbel-64``), else None:
    the game-tree view searches a stored position again with the same settings."""
    try:
        spec = parse_debater_spec(name or "")
    except ValueError:
        return None
    return (spec.algorithm, spec.simulations) if spec.kind == "mcts" else None
