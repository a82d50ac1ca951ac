"""Sparse-pixel debates (Irving, Christiano, Amodei 2018): two players reveal true pixels of a hidden
image to a judge that sees only those pixels.

Modules: ``game`` (the task), ``data`` (images), ``protocols`` and ``consultancy`` (experiment arms),
``records`` (games -> transcripts), ``rendering`` (transcripts -> text for people; ``RENDERER``).

This ``__init__`` imports only ``rendering`` (standard library and numpy): ``debate.records.rendering``
finds ``RENDERER`` here through the task registry without pulling in jax. Import the jax modules as
submodules (``from debate.tasks.sparse_pixel.game import ...``), never from here.
"""

from debate.tasks.sparse_pixel.rendering import RENDERER

__all__ = ["RENDERER"]
