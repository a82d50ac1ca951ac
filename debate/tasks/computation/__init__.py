"""Computation (bisection) debates (doubly-efficient debate, Brown-Cohen, Irving, Piliouras 2023): the
debaters disagree about a T-step modular computation and bisect it down to one step the judge checks.

Modules: ``game`` (the task), ``protocols`` (experiment arms, expert debaters), ``solver``,
``records`` (games -> transcripts), ``rendering`` (transcripts -> text for people; ``RENDERER``).

This ``__init__`` imports only ``rendering`` (standard library): ``debate.records.rendering`` finds
``RENDERER`` here through the task registry without pulling in jax. Import the jax modules as
submodules (``from debate.tasks.computation.game import ...``), never from here.
"""

from debate.tasks.computation.rendering import RENDERER

__all__ = ["RENDERER"]
