"""Text debates over a hidden passage: two debaters quote sentences of a passage the judge cannot
read, each arguing for one answer option of a question about it (Khan et al. 2024; Michael et al.
2023), with verified quotes.

Modules: ``passages`` (the ``TextQuestion`` every source produces), ``stories`` (generated stories,
bAbI style), ``austen`` (Jane Austen cloze, from Debian's r-cran-janeaustenr), ``quality``
(QuALITY, for users with a network), ``data`` (sources by name; questions as game arrays),
``game`` (the task), ``protocols`` (conditions and debaters), ``records`` (games -> transcripts and
the rules), ``rendering`` (transcripts -> text; ``RENDERER``).

This ``__init__`` imports only ``rendering`` (standard library), as every task's does.
"""

from debate.tasks.quote.rendering import RENDERER

__all__ = ["RENDERER"]
