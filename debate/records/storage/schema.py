"""The database layout (tables) and its versions, with the in-place migrations between them.

Store schema versions (independent of the transcript JSON ``SCHEMA_VERSION``):

1. experiments, transcripts (with ``honest_debater`` / ``liar_debater`` columns).
2. + annotators, judgments, assignments and ``transcripts.num_turns``.
3. + ``transcript_players``, one row per player of each debate (team, role, debater), which
   replaces the ``honest_debater`` / ``liar_debater`` columns; stored bodies are transcript schema 2.
4. + studies (``studies``, ``study_debates``, ``study_participants``, ``invitations``), sign-in
   (``annotators.passphrase_hash``, ``sign_in_tokens``), skips, and the study design of each
   judgment and assignment (study, set, position, side, first mover, per-turn beliefs).

Opening an older database migrates it in place, in the one write transaction that opens it: a
refused or failed open changes nothing, and processes opening one file at once migrate it once.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import sqlalchemy as sa

from debate.records.storage.engine import StorageError, _chunks, _redact
from debate.records.transcript import TranscriptError, migrate_transcript_dict

#: Version of the database layout (tables/columns), independent of the transcript JSON
#: ``SCHEMA_VERSION`` (see this module's docstring for what each version holds).
STORE_SCHEMA_VERSION = 4

MAX_ANNOTATOR_NAME_CHARS = 64
#: The columns of transcripts that schema 3 replaced by transcript_players.
_OLD_DEBATER_COLUMNS = ("honest_debater", "liar_debater")

metadata = sa.MetaData()

schema_meta = sa.Table(
    "schema_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

transcripts = sa.Table(
    "transcripts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("experiment_id", sa.String(64), sa.ForeignKey("experiments.id"), nullable=True),
    sa.Column("task", sa.String(128), nullable=False),
    sa.Column("protocol", sa.String(128), nullable=False),
    sa.Column("instance_id", sa.String(255), nullable=False),
    sa.Column("judge", sa.String(512), nullable=False),
    sa.Column("winner_role", sa.String(32), nullable=True),
    sa.Column("ground_truth", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("body_json", sa.Text, nullable=False),
    # schema 2: len(turns), so debates without turns can be left out of assignments
    # without parsing body_json; NULL only for rows written by version-1 code
    sa.Column("num_turns", sa.Integer, nullable=True),
    sa.Index("ix_transcripts_experiment_id", "experiment_id"),
    sa.Index("ix_transcripts_task", "task"),
    sa.Index("ix_transcripts_protocol", "protocol"),
    sa.Index("ix_transcripts_num_turns", "num_turns"),
)

# ----- schema 3: one row per player (debater) of each debate

transcript_players = sa.Table(
    "transcript_players",
    metadata,
    sa.Column("transcript_id", sa.String(64), sa.ForeignKey("transcripts.id"), primary_key=True),
    sa.Column("player_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("team", sa.Integer, nullable=False),
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("debater", sa.String(512), nullable=False),
    sa.Index("ix_transcript_players_debater", "debater"),
)

# ----- schema 2: human judging

annotators = sa.Table(
    "annotators",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(MAX_ANNOTATOR_NAME_CHARS), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    # schema 4: salted scrypt hash of the person's passphrase (NULL: not set yet, e.g. older rows)
    sa.Column("passphrase_hash", sa.String(255), nullable=True),
    sa.UniqueConstraint("name", name="uq_annotators_name"),
)

judgments = sa.Table(
    "judgments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("transcript_id", sa.String(64), sa.ForeignKey("transcripts.id"), nullable=False),
    sa.Column("annotator_id", sa.String(64), sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("verdict_claim", sa.Integer, nullable=False),
    sa.Column("verdict_role", sa.String(32), nullable=False),
    sa.Column("correct", sa.Boolean, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("side_order", sa.String(32), nullable=False),
    sa.Column("seconds_spent", sa.Float, nullable=False),
    sa.Column("turns_seen", sa.Integer, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    # the model judge's verdict_claim, copied from the transcript (transcripts never change)
    sa.Column("model_verdict_claim", sa.Integer, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    # schema 4: the study design of the judgment (NULL outside a study / for older rows)
    sa.Column("study_id", sa.String(64), nullable=True),
    sa.Column("study_set", sa.String(16), nullable=True),  # practice / overlap / main
    sa.Column("sequence_index", sa.Integer, nullable=True),  # 1-based position in the person's sequence
    sa.Column("honest_first", sa.Boolean, nullable=True),
    sa.Column("beliefs_json", sa.Text, nullable=True),  # P(Debater A is right) after each turn seen
    sa.UniqueConstraint("transcript_id", "annotator_id", name="uq_judgments_transcript_annotator"),
    sa.Index("ix_judgments_annotator_id", "annotator_id"),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("transcript_id", sa.String(64), sa.ForeignKey("transcripts.id"), nullable=False),
    sa.Column("annotator_id", sa.String(64), sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    # an open (not completed) assignment reserves the debate until expires_at
    sa.Column("expires_at", sa.String(40), nullable=False),
    sa.Column("completed", sa.Boolean, nullable=False),
    # schema 4: the study this assignment belongs to and how its debate is shown
    sa.Column("study_id", sa.String(64), nullable=True),
    sa.Column("side_order", sa.String(32), nullable=True),
    sa.Column("sequence_index", sa.Integer, nullable=True),
    sa.UniqueConstraint("transcript_id", "annotator_id", name="uq_assignments_transcript_annotator"),
    sa.Index("ix_assignments_annotator_id", "annotator_id"),
)

# ----- schema 4: studies, sign-in and skips

studies = sa.Table(
    "studies",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("task", sa.String(128), nullable=False),
    sa.Column("filter_json", sa.Text, nullable=False),  # the filter the pool was drawn with
    sa.Column("design_json", sa.Text, nullable=False),  # StudyDesign fields
    sa.Column("instructions", sa.Text, nullable=False),
    sa.Column("open", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("name", name="uq_studies_name"),
)

study_debates = sa.Table(
    "study_debates",
    metadata,
    sa.Column("study_id", sa.String(64), sa.ForeignKey("studies.id"), primary_key=True),
    sa.Column("transcript_id", sa.String(64), sa.ForeignKey("transcripts.id"), primary_key=True),
    sa.Column("alias", sa.String(32), nullable=False),
    sa.Column("study_set", sa.String(16), nullable=False),
    sa.Column("instance_id", sa.String(255), nullable=False),
    sa.Column("protocol", sa.String(128), nullable=False),
    sa.Column("honest_first", sa.Boolean, nullable=False),
    sa.UniqueConstraint("study_id", "alias", name="uq_study_debates_alias"),
)

study_participants = sa.Table(
    "study_participants",
    metadata,
    sa.Column("study_id", sa.String(64), sa.ForeignKey("studies.id"), primary_key=True),
    sa.Column("annotator_id", sa.String(64), sa.ForeignKey("annotators.id"), primary_key=True),
    sa.Column("joined_at", sa.String(40), nullable=False),
)

invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("study_id", sa.String(64), sa.ForeignKey("studies.id"), nullable=False),
    sa.Column("annotator_id", sa.String(64), sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

sign_in_tokens = sa.Table(
    "sign_in_tokens",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("annotator_id", sa.String(64), sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

skips = sa.Table(
    "skips",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("study_id", sa.String(64), nullable=True),
    sa.Column("transcript_id", sa.String(64), sa.ForeignKey("transcripts.id"), nullable=False),
    sa.Column("annotator_id", sa.String(64), sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("transcript_id", "annotator_id", name="uq_skips_transcript_annotator"),
)

#: Columns schema 4 added to tables of earlier versions: (table, column); all nullable.
_SCHEMA_4_COLUMNS = (
    (annotators, "passphrase_hash"),
    *((judgments, c) for c in ("study_id", "study_set", "sequence_index", "honest_first", "beliefs_json")),
    *((assignments, c) for c in ("study_id", "side_order", "sequence_index")),
)


# --------------------------------------------------------------------------- rows and backfills


def player_rows(transcript_id: str, players: list[dict]) -> list[dict]:
    """transcript_players rows for one debate from its players (``Player.to_dict()`` dicts)."""
    return [
        {"transcript_id": transcript_id, "player_id": int(p["id"]), "team": int(p["team"]),
         "role": p["role"], "debater": p["debater"]}
        for p in players
    ]


def _num_turns_of(body_json: str) -> int | None:
    try:
        turns = json.loads(body_json).get("turns")
    except (ValueError, AttributeError):
        return None
    return len(turns) if isinstance(turns, list) else None


def _backfill_num_turns(conn: sa.Connection, ids: list[str] | None = None) -> None:
    """Fill transcripts.num_turns where it is NULL (rows from version-1 code)."""
    stmt = sa.select(transcripts.c.id, transcripts.c.body_json).where(transcripts.c.num_turns.is_(None))
    if ids is not None:
        stmt = stmt.where(transcripts.c.id.in_(ids))
    updates = []
    for tid, body in conn.execute(stmt):
        n = _num_turns_of(body)
        # an unreadable body counts as 0 turns: never assigned, and not looked at again
        updates.append({"b_id": tid, "b_n": 0 if n is None else n})
    if updates:
        conn.execute(
            transcripts.update()
            .where(transcripts.c.id == sa.bindparam("b_id"))
            .values(num_turns=sa.bindparam("b_n")),
            updates,
        )


def _players_of_body(body_json: str) -> tuple[list[dict], str | None] | None:
    """The players of a stored body and the body as transcript schema 2 (None where it already
    was), or None for a body that cannot be read."""
    try:
        d = json.loads(body_json)
        v2 = migrate_transcript_dict(d)
        players = v2["players"]
        ok = isinstance(players, list) and all(
            isinstance(p, dict)
            and all(isinstance(p.get(k), int) and not isinstance(p.get(k), bool) for k in ("id", "team"))
            and all(isinstance(p.get(k), str) for k in ("role", "debater"))
            for p in players
        )
        if not ok:
            return None
        new_body = None if v2.get("schema_version") == d.get("schema_version") else json.dumps(
            v2, separators=(",", ":"), allow_nan=False
        )
    except (ValueError, TypeError, KeyError, TranscriptError):
        return None
    return players, new_body


def _players_of_columns(row: Any, columns: list[str]) -> list[dict]:
    """Players guessed from the old columns (for a body that cannot be read): the builders of
    every earlier version made player 0 the honest player (team 0) and player 1 the liar."""
    out = []
    for player, role in enumerate(("honest", "liar")):
        col = f"{role}_debater"
        if col in columns and row._mapping[col] is not None:
            out.append({"id": player, "team": player, "role": role, "debater": row._mapping[col]})
    return out


# --------------------------------------------------------------------------- the schema part of Store


class SchemaMixin:
    """Creates the tables of a new database and migrates an older one (see the module docstring)."""

    def _init_schema(self) -> None:
        # One write transaction (DDL is transactional on SQLite and PostgreSQL): a
        # refused or failed open changes nothing, and processes opening one file
        # at once migrate it exactly once.
        with self._write("create the tables") as conn:
            row = None
            if sa.inspect(conn).has_table(schema_meta.name):
                row = conn.execute(
                    sa.select(schema_meta.c.value).where(schema_meta.c.key == "schema_version")
                ).first()
            version = None
            if row is not None:
                try:
                    version = int(row[0])
                except ValueError:
                    raise StorageError(
                        f"database {_redact(self.url)} has a corrupt schema_version {row[0]!r}; "
                        "use a different database file"
                    ) from None
                if version > STORE_SCHEMA_VERSION:
                    raise StorageError(
                        f"database {_redact(self.url)} has schema version {version}, newer than this package "
                        f"supports ({STORE_SCHEMA_VERSION}); upgrade the debate package to open it"
                    )
            # creates the missing tables: all of them in a new database, the tables of later
            # versions in an older one; existing tables are left alone
            metadata.create_all(conn, checkfirst=True)
            if version is None or version < 2:
                self._migrate_to_2(conn)
            if version is None or version < 3:
                self._migrate_to_3(conn)
            if version is None or version < 4:
                self._migrate_to_4(conn)
            if row is None:
                conn.execute(schema_meta.insert().values(key="schema_version", value=str(STORE_SCHEMA_VERSION)))
            elif version != STORE_SCHEMA_VERSION:
                conn.execute(
                    schema_meta.update()
                    .where(schema_meta.c.key == "schema_version")
                    .values(value=str(STORE_SCHEMA_VERSION))
                )

    @staticmethod
    def _migrate_to_2(conn: sa.Connection) -> None:
        """Version 1 -> 2: add transcripts.num_turns and fill it (the new tables come from create_all)."""
        cols = {c["name"] for c in sa.inspect(conn).get_columns(transcripts.name)}
        if "num_turns" not in cols:
            conn.exec_driver_sql("ALTER TABLE transcripts ADD COLUMN num_turns INTEGER")
        for ix in transcripts.indexes:  # create_all skips indexes of tables that exist
            if "num_turns" in ix.columns:
                ix.create(conn, checkfirst=True)
        _backfill_num_turns(conn)

    @staticmethod
    def _migrate_to_3(conn: sa.Connection) -> None:
        """Version 2 -> 3 (transcript_players comes from create_all): one row per player of every
        stored debate, read from its body (or, for a body that cannot be read, from the old
        honest_debater / liar_debater columns); bodies of transcript schema 1 rewritten as schema 2
        (what ``Transcript.from_dict`` reads them as anyway); the old columns dropped."""
        cols = {c["name"] for c in sa.inspect(conn).get_columns(transcripts.name)}
        old = [c for c in _OLD_DEBATER_COLUMNS if c in cols]
        raw = sa.table(transcripts.name, *(sa.column(c) for c in ("id", "body_json", *old)))
        done = sa.select(transcript_players.c.transcript_id)
        ids = list(conn.execute(sa.select(raw.c.id).where(raw.c.id.not_in(done)).order_by(raw.c.id)).scalars())
        for chunk in _chunks(ids):
            players, bodies = [], []
            for r in conn.execute(sa.select(raw).where(raw.c.id.in_(chunk))):
                got = _players_of_body(r.body_json)
                if got is None:
                    players += player_rows(r.id, _players_of_columns(r, old))
                    continue
                players += player_rows(r.id, got[0])
                if got[1] is not None:
                    bodies.append({"b_id": r.id, "b_body": got[1]})
            if players:
                conn.execute(transcript_players.insert(), players)
            if bodies:
                conn.execute(
                    transcripts.update()
                    .where(transcripts.c.id == sa.bindparam("b_id"))
                    .values(body_json=sa.bindparam("b_body")),
                    bodies,
                )
        # SQLite drops columns from 3.35 on; older ones keep the (nullable, no longer written) columns
        if old and not (conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0)):
            for c in old:
                conn.exec_driver_sql(f"ALTER TABLE {transcripts.name} DROP COLUMN {c}")

    @staticmethod
    def _migrate_to_4(conn: sa.Connection) -> None:
        """Version 3 -> 4 (the new tables come from create_all): the new nullable columns of
        annotators, judgments and assignments; older rows keep NULL there (outside any study)."""
        for table, column in _SCHEMA_4_COLUMNS:
            cols = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
            if column not in cols:
                col_type = table.c[column].type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column} {col_type}")

    @property
    def schema_version(self) -> int:
        with self._read("read the schema version") as conn:
            v = conn.execute(
                sa.select(schema_meta.c.value).where(schema_meta.c.key == "schema_version")
            ).scalar_one()
        return int(v)
