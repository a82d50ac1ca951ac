"""``Store``: one class assembled from one mixin per concern (see the package docstring)."""

from __future__ import annotations

from debate.records.storage.engine import StoreEngine
from debate.records.storage.export import ExportMixin
from debate.records.storage.judging import JudgingMixin
from debate.records.storage.schema import SchemaMixin
from debate.records.storage.studies import StudiesMixin
from debate.records.storage.transcript_store import TranscriptsMixin


class Store(ExportMixin, StudiesMixin, JudgingMixin, TranscriptsMixin, SchemaMixin, StoreEngine):
    """Experiments, transcripts and human judgments in one SQL database (SQLite by default).

    ``url`` is any SQLAlchemy URL; None means ``default_db_url()``. An in-memory
    SQLite URL (``sqlite://``) uses one shared connection and is meant for
    single-threaded use (tests, scratch work). Opening a database of an older
    store schema migrates it in place (``debate.records.storage.schema``).
    """

    def __enter__(self) -> "Store":
        return self
