"""Storage of experiments, debate transcripts and human judgments on SQLAlchemy 2.x (Core).

One ``Store`` owns one engine; every operation checks a connection out of the
engine's pool for just that operation, so a Store may be used from several
threads (never share Connection objects between threads yourself). Several
processes may write to one SQLite file at once: the file is put in WAL mode,
waits up to 30 s for a lock (``busy_timeout``), and write transactions take the
write lock up front (``BEGIN IMMEDIATE``), so concurrent writers queue instead
of failing with "database is locked" half-way through a transaction.

Like ``debate.records.transcript`` this package must not import jax.

Typical use::

    store = Store()                       # $DEBATE_DB or ~/.local/share/debate-sim/debate.db
    exp = store.create_experiment("sweep-1", "debate", {"k": 6})
    store.add_transcripts(transcripts, experiment_id=exp)
    store.query_transcripts(experiment_id=exp, winner_role="honest")
    store.query_transcripts(debater="mcts-64")   # debates that debater played, on any side

Human judging: people who judge debates in a browser are *annotators*;
``next_assignment`` hands each one the least-judged debate they have not judged
yet (holding it for them for ``assignment_ttl_s`` seconds so that people asking
at the same moment are spread over different debates), and ``add_judgment``
stores their verdict, confidence and explanation::

    ann = store.get_or_create_annotator("alice")
    t = store.next_assignment(ann["id"], target_judgments_per_debate=3)
    store.add_judgment(t.id, ann["id"], verdict_claim=t.claims[0], confidence=0.8,
                       explanation="the top loop is closed", side_order="honest-left",
                       seconds_spent=41.5, turns_seen=len(t.turns))
    store.export_judgments("judgments.parquet", "parquet")

Modules, one per concern (``Store`` is one class made of their mixins):

- ``engine``: where the database lives, opening it, read/write transactions and locking.
- ``schema``: the tables, the store schema version and the migrations of older databases.
- ``transcript_store``: experiments and transcripts (one ``transcript_players`` row per debater).
- ``judging``: annotators, assignments and judgments.
- ``export``: transcripts to JSONL, judgments to JSONL / CSV / parquet.
"""

from __future__ import annotations

from debate.records.storage.engine import (
    DEFAULT_ASSIGNMENT_TTL_S,
    SQLITE_BUSY_TIMEOUT_MS,
    StorageError,
    default_data_dir,
    default_db_url,
)
from debate.records.storage.export import EXPORT_FORMATS
from debate.records.storage.judging import (
    CONFIDENCE_LEVELS,
    JUDGING_MODES,
    JUDGMENT_COLUMNS,
    MAX_EXPLANATION_CHARS,
    SIDE_ORDERS,
)
from debate.records.storage.schema import (
    MAX_ANNOTATOR_NAME_CHARS,
    STORE_SCHEMA_VERSION,
    annotators,
    assignments,
    experiments,
    judgments,
    metadata,
    schema_meta,
    transcript_players,
    transcripts,
)
from debate.records.storage.store import Store
from debate.records.storage.transcript_store import TRANSCRIPT_FILTERS

__all__ = [
    "CONFIDENCE_LEVELS",
    "DEFAULT_ASSIGNMENT_TTL_S",
    "EXPORT_FORMATS",
    "JUDGMENT_COLUMNS",
    "JUDGING_MODES",
    "MAX_ANNOTATOR_NAME_CHARS",
    "MAX_EXPLANATION_CHARS",
    "SIDE_ORDERS",
    "SQLITE_BUSY_TIMEOUT_MS",
    "STORE_SCHEMA_VERSION",
    "TRANSCRIPT_FILTERS",
    "StorageError",
    "Store",
    "annotators",
    "assignments",
    "default_data_dir",
    "default_db_url",
    "experiments",
    "judgments",
    "metadata",
    "schema_meta",
    "transcript_players",
    "transcripts",
]
