"""Human judging: annotators (the people who judge debates in a browser), assignments (which
debate each one judges next) and judgments (their verdict, confidence and explanation).

``next_assignment`` hands each annotator the least-judged debate they have not judged yet, holding
it for them for ``assignment_ttl_s`` seconds so that people asking at the same moment are spread
over different debates; ``add_judgment`` stores a verdict, checked against the debate's claims.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from debate.records.storage.engine import StorageError, _is_real, _iso
from debate.records.storage.schema import (
    MAX_ANNOTATOR_NAME_CHARS,
    _backfill_num_turns,
    annotators,
    assignments,
    judgments,
    study_debates,
    transcripts,
)
from debate.records.transcript import Transcript, _utc_now_iso
from debate.records.storage.transcript_store import stored_transcript

#: The confidences an annotator may give (probability that the chosen claim is
#: right): 0.05..0.95 in steps of 0.05, without 0.5 (they must pick a side).
CONFIDENCE_LEVELS = tuple(k / 20 for k in range(1, 20) if k != 10)
_CONFIDENCE_HINT = "0.05-0.45 or 0.55-0.95 in steps of 0.05"
#: The order the two claims were shown in.
SIDE_ORDERS = ("honest-left", "honest-right")
#: How the debate was shown: one turn per click, or played back live.
JUDGING_MODES = ("stepped", "live")
MAX_EXPLANATION_CHARS = 2000

#: Columns of query_judgments/export_judgments rows, in order, with their parquet types.
JUDGMENT_COLUMNS: dict[str, str] = {
    "id": "string",
    "transcript_id": "string",
    "annotator_id": "string",
    "annotator_name": "string",
    "verdict_claim": "int64",
    "verdict_role": "string",
    "correct": "bool_",
    "confidence": "float64",
    "explanation": "string",
    "side_order": "string",
    "seconds_spent": "float64",
    "turns_seen": "int64",
    "mode": "string",
    "created_at": "string",
    "task": "string",
    "protocol": "string",
    "experiment_id": "string",
    "instance_id": "string",
    "ground_truth": "int64",
    "model_verdict_claim": "int64",
    "model_winner_role": "string",
    "model_correct": "bool_",
    "model_judge": "string",
    # the study design (None outside a study)
    "study_id": "string",
    "study_alias": "string",
    "study_set": "string",
    "practice": "bool_",
    "sequence_index": "int64",
    "honest_first": "bool_",
    "beliefs_json": "string",
}
_JUDGMENT_OWN_COLUMNS = tuple(c.name for c in judgments.columns)


class JudgingMixin:
    """Annotators, assignments and judgments (the human-judging part of ``Store``)."""

    # ------------------------------------------------------------------ annotators

    @staticmethod
    def _annotator_dict(r: Any) -> dict:
        return {"id": r.id, "name": r.name, "created_at": r.created_at}

    def get_or_create_annotator(self, name: str) -> dict:
        """The annotator with this name (surrounding blanks stripped), created if new.

        Returns a dict with id, name and created_at. Names are case-sensitive.
        """
        if not isinstance(name, str):
            raise StorageError(f"annotator name must be a string, got {type(name).__name__}; pass the person's name")
        clean = name.strip()
        if not 1 <= len(clean) <= MAX_ANNOTATOR_NAME_CHARS:
            raise StorageError(
                f"annotator name must be 1 to {MAX_ANNOTATOR_NAME_CHARS} characters after removing surrounding "
                f"blanks, got {len(clean)}; type a shorter or non-blank name"
            )
        select_by_name = sa.select(annotators).where(annotators.c.name == clean)
        try:
            with self._write("create an annotator") as conn:
                r = conn.execute(select_by_name).first()
                if r is not None:
                    return self._annotator_dict(r)
                row = {"id": uuid.uuid4().hex, "name": clean, "created_at": _utc_now_iso()}
                conn.execute(annotators.insert().values(**row))
                return row
        except StorageError:
            # another writer created the same name first (only possible where writes
            # are not serialised, e.g. PostgreSQL): use theirs
            with self._read("read an annotator") as conn:
                r = conn.execute(select_by_name).first()
            if r is None:
                raise
            return self._annotator_dict(r)

    def get_annotator(self, annotator_id: str) -> dict | None:
        with self._read("read an annotator") as conn:
            r = conn.execute(sa.select(annotators).where(annotators.c.id == annotator_id)).first()
        return None if r is None else self._annotator_dict(r)

    def list_annotators(self) -> list[dict]:
        """All annotators, oldest first: id, name, created_at and n_judgments."""
        n = (
            sa.select(judgments.c.annotator_id, sa.func.count().label("n"))
            .group_by(judgments.c.annotator_id)
            .subquery()
        )
        stmt = (
            sa.select(annotators, sa.func.coalesce(n.c.n, 0).label("n_judgments"))
            .outerjoin(n, n.c.annotator_id == annotators.c.id)
            .order_by(annotators.c.created_at, annotators.c.id)
        )
        with self._read("list annotators") as conn:
            rows = conn.execute(stmt).all()
        return [{**self._annotator_dict(r), "n_judgments": int(r.n_judgments)} for r in rows]

    @staticmethod
    @staticmethod
    def _require_annotator(conn: sa.Connection, annotator_id: str) -> str:
        name = conn.execute(sa.select(annotators.c.name).where(annotators.c.id == annotator_id)).scalar_one_or_none()
        if name is None:
            raise StorageError(
                f"annotator {annotator_id!r} does not exist in this database; create it with "
                "get_or_create_annotator() and pass its id"
            )
        return name

    # ------------------------------------------------------------------ assignments

    def next_assignment(
        self,
        annotator_id: str,
        target_judgments_per_debate: int = 3,
        experiment_id: str | None = None,
        task: str | None = None,
        protocol: str | None = None,
    ) -> Transcript | None:
        """The next debate for this annotator to judge, or None when nothing is left.

        Candidates are stored debates with at least one turn, matching the filters,
        that this annotator has not judged and that have fewer than
        ``target_judgments_per_debate`` judgments. The least-judged comes first
        (ties: oldest ``created_at``, then id). A debate handed out is reserved for
        its annotator for ``assignment_ttl_s`` seconds or until they judge it: a
        reservation counts as a judgment in progress, both for "least-judged" and
        for the target, so people asking at the same moment get different debates
        and a debate is not handed out more often than the target. Asking again
        before judging returns the same debate (e.g. after a page reload).
        """
        self._check_id(annotator_id, "annotator_id")
        target = target_judgments_per_debate
        if not isinstance(target, int) or isinstance(target, bool) or target < 1:
            raise StorageError(
                f"target_judgments_per_debate must be an integer >= 1, got {target!r}; the default is 3"
            )
        filters = {"experiment_id": experiment_id, "task": task, "protocol": protocol}
        now_dt = datetime.now(timezone.utc)
        now, expires = _iso(now_dt), _iso(now_dt + timedelta(seconds=self.assignment_ttl_s))

        n_judged = (
            sa.select(judgments.c.transcript_id, sa.func.count().label("n"))
            .group_by(judgments.c.transcript_id)
            .subquery()
        )
        held = (  # debates reserved right now by other annotators
            sa.select(assignments.c.transcript_id, sa.func.count().label("n"))
            .where(
                assignments.c.completed.is_(False),
                assignments.c.expires_at > now,
                assignments.c.annotator_id != annotator_id,
            )
            .group_by(assignments.c.transcript_id)
            .subquery()
        )
        judged_by_me = sa.select(judgments.c.transcript_id).where(judgments.c.annotator_id == annotator_id)
        judged = sa.func.coalesce(n_judged.c.n, 0)
        load = judged + sa.func.coalesce(held.c.n, 0)

        with self._write("assign a debate") as conn:
            self._require_annotator(conn, annotator_id)
            # 1. the debate already reserved for this annotator, if still open
            mine = self._where(
                sa.select(transcripts.c.id)
                .join(assignments, assignments.c.transcript_id == transcripts.c.id)
                .outerjoin(n_judged, n_judged.c.transcript_id == transcripts.c.id)
                .where(
                    assignments.c.annotator_id == annotator_id,
                    assignments.c.completed.is_(False),
                    assignments.c.expires_at > now,
                    transcripts.c.num_turns > 0,
                    transcripts.c.id.not_in(judged_by_me),
                    judged < target,
                ),
                filters,
            ).order_by(assignments.c.created_at, transcripts.c.id)
            tid = conn.execute(mine.limit(1)).scalar_one_or_none()

            if tid is None:
                # rows written by version-1 code while this database was being migrated
                _backfill_num_turns(conn)
                # 2. the least-judged open debate
                pick = self._where(
                    sa.select(transcripts.c.id)
                    .outerjoin(n_judged, n_judged.c.transcript_id == transcripts.c.id)
                    .outerjoin(held, held.c.transcript_id == transcripts.c.id)
                    .where(
                        transcripts.c.num_turns > 0,
                        transcripts.c.id.not_in(judged_by_me),
                        load < target,
                    ),
                    filters,
                ).order_by(load, judged, transcripts.c.created_at, transcripts.c.id)
                tid = conn.execute(pick.limit(1)).scalar_one_or_none()
                if tid is None:
                    return None

            pair = (assignments.c.transcript_id == tid) & (assignments.c.annotator_id == annotator_id)
            if conn.execute(sa.select(assignments.c.id).where(pair)).first() is None:
                conn.execute(
                    assignments.insert().values(
                        id=uuid.uuid4().hex, transcript_id=tid, annotator_id=annotator_id,
                        created_at=now, expires_at=expires, completed=False,
                    )
                )
            else:  # renew this annotator's own (open or lapsed) reservation
                conn.execute(assignments.update().where(pair).values(expires_at=expires, completed=False))
            body = conn.execute(sa.select(transcripts.c.body_json).where(transcripts.c.id == tid)).scalar_one()
        return stored_transcript(tid, body)

    def release_assignment(self, annotator_id: str, transcript_id: str | None = None) -> int:
        """Give back this annotator's open reservations (one debate, or all); return how many."""
        self._check_id(annotator_id, "annotator_id")
        stmt = assignments.delete().where(
            assignments.c.annotator_id == annotator_id, assignments.c.completed.is_(False)
        )
        if transcript_id is not None:
            stmt = stmt.where(assignments.c.transcript_id == transcript_id)
        with self._write("release an assignment") as conn:
            return int(conn.execute(stmt).rowcount)

    # ------------------------------------------------------------------ judgments

    @staticmethod
    def _check_confidence(confidence: Any) -> float:
        if not _is_real(confidence):
            raise StorageError(
                f"confidence must be a number, got {confidence!r}; use {_CONFIDENCE_HINT}"
            )
        k = round(confidence * 20)
        if abs(confidence * 20 - k) > 1e-6 or not 1 <= k <= 19:
            raise StorageError(f"confidence {confidence!r} is not allowed: use {_CONFIDENCE_HINT}")
        if k == 10:
            raise StorageError(f"confidence {confidence!r} is not allowed: pick a side ({_CONFIDENCE_HINT})")
        return round(k / 20, 2)

    @classmethod
    def _check_judgment_fields(
        cls, confidence: Any, explanation: Any, side_order: Any, seconds_spent: Any, turns_seen: Any, mode: Any
    ) -> dict:
        """Validate what does not depend on the transcript; return the cleaned values."""
        conf = cls._check_confidence(confidence)
        if not isinstance(explanation, str):
            raise StorageError(
                f"explanation must be a string, got {type(explanation).__name__}; say in a sentence why you chose this claim"
            )
        text = explanation.strip()
        if not text:
            raise StorageError("explanation must not be blank; say in a sentence why you chose this claim")
        if len(text) > MAX_EXPLANATION_CHARS:
            raise StorageError(
                f"explanation is {len(text)} characters long; shorten it to at most {MAX_EXPLANATION_CHARS}"
            )
        if side_order not in SIDE_ORDERS:
            raise StorageError(f"side_order {side_order!r} is not allowed; use {' or '.join(map(repr, SIDE_ORDERS))}")
        if not _is_real(seconds_spent) or seconds_spent < 0:
            raise StorageError(
                f"seconds_spent must be a finite number >= 0, got {seconds_spent!r}; pass the time spent judging"
            )
        if not isinstance(turns_seen, int) or isinstance(turns_seen, bool) or turns_seen < 0:
            raise StorageError(
                f"turns_seen must be an integer >= 0, got {turns_seen!r}; pass how many turns were shown"
            )
        if mode not in JUDGING_MODES:
            raise StorageError(f"mode {mode!r} is not allowed; use {' or '.join(map(repr, JUDGING_MODES))}")
        return {
            "confidence": conf,
            "explanation": text,
            "side_order": side_order,
            "seconds_spent": float(seconds_spent),
            "turns_seen": int(turns_seen),
            "mode": mode,
        }

    @staticmethod
    def _verdict_role(t: Transcript, verdict_claim: Any) -> str:
        """The role of the team whose claim the verdict chose (validating the verdict); claim ``c``
        is argued by team ``c``. A claim no player argues (e.g. the other side of a consultancy)
        is named ``team <c>``."""
        if not isinstance(verdict_claim, int) or isinstance(verdict_claim, bool):
            raise StorageError(f"verdict_claim must be an integer class id, got {verdict_claim!r}; pass one of the claims")

        def role(team: int) -> str:
            r = t.role_of_team(team)
            return f"team {team}" if r is None else r

        for team, claim in enumerate(t.claims):
            if claim is not None and claim == verdict_claim:
                return role(team)
        open_teams = [k for k, c in enumerate(t.claims) if c is None]
        committed = sorted({c for c in t.claims if c is not None})
        if not open_teams:
            raise StorageError(
                f"verdict_claim {verdict_claim} is not one of this debate's claims; choose "
                f"{' or '.join(map(str, committed))}"
            )
        # no precommitment: a team without a claim argues "any other class"
        probs = t.turns[0].judge_class_probs if t.turns else None
        if probs:
            if not 0 <= verdict_claim < len(probs):
                raise StorageError(
                    f"verdict_claim {verdict_claim} is not a class of this debate; choose a class id in "
                    f"0..{len(probs) - 1}"
                )
        elif verdict_claim < 0:
            raise StorageError(f"verdict_claim {verdict_claim} is not a class id; choose a class id >= 0")
        return role(open_teams[0])

    def add_judgment(
        self,
        transcript_id: str,
        annotator_id: str,
        verdict_claim: int,
        confidence: float,
        explanation: str,
        side_order: str,
        seconds_spent: float,
        turns_seen: int,
        mode: str = "stepped",
        beliefs: list[float] | None = None,
    ) -> str:
        """Store one person's verdict on one debate; return the judgment id.

        ``verdict_claim`` is the class the annotator decided for: one of the
        debate's claims, or without precommitment any class (any class other than
        the honest claim then counts as the liar's). ``confidence`` is the
        probability that the chosen claim is right, in 0.05..0.95 in steps of 0.05
        but not 0.5. ``correct`` and ``verdict_role`` are derived from the
        transcript. Each annotator judges a debate at most once. Everything is
        checked first and written in one transaction; on any error nothing is written.

        ``beliefs``: the person's probability that Debater A (the left one, see ``side_order``)
        is right after each turn they saw, one per turn (0..1). A debate handed out by a study
        (``next_study_assignment``) stores its study design with the judgment.
        """
        self._check_id(transcript_id, "transcript_id")
        self._check_id(annotator_id, "annotator_id")
        row = self._check_judgment_fields(confidence, explanation, side_order, seconds_spent, turns_seen, mode)
        row["beliefs_json"] = self._check_beliefs(beliefs, row["turns_seen"])
        with self._write("add a judgment") as conn:
            body = conn.execute(
                sa.select(transcripts.c.body_json).where(transcripts.c.id == transcript_id)
            ).scalar_one_or_none()
            if body is None:
                raise StorageError(
                    f"transcript {transcript_id!r} does not exist in this database; judge a stored debate "
                    "(see next_assignment)"
                )
            name = self._require_annotator(conn, annotator_id)
            t = stored_transcript(transcript_id, body)
            role = self._verdict_role(t, verdict_claim)
            if row["turns_seen"] > len(t.turns):
                raise StorageError(
                    f"turns_seen {row['turns_seen']} is more than this debate's {len(t.turns)} turns; "
                    f"pass a number in 0..{len(t.turns)}"
                )
            pair = (judgments.c.transcript_id == transcript_id) & (judgments.c.annotator_id == annotator_id)
            duplicate = StorageError(
                f"annotator {name!r} has already judged transcript {transcript_id}; each person judges a "
                "debate once, so this judgment was not stored"
            )
            if conn.execute(sa.select(judgments.c.id).where(pair)).first() is not None:
                raise duplicate
            row.update(self._study_fields(conn, transcript_id, annotator_id))
            jid = uuid.uuid4().hex
            row.update(
                id=jid,
                transcript_id=transcript_id,
                annotator_id=annotator_id,
                verdict_claim=int(verdict_claim),
                verdict_role=role,
                correct=int(verdict_claim) == int(t.ground_truth),
                model_verdict_claim=t.verdict_claim,
                created_at=_utc_now_iso(),
            )
            try:
                conn.execute(judgments.insert().values(**row))
            except sa_exc.IntegrityError:
                # a concurrent submit won the race (backends without serialised writes)
                raise duplicate from None
            conn.execute(
                assignments.update()
                .where(assignments.c.transcript_id == transcript_id, assignments.c.annotator_id == annotator_id)
                .values(completed=True)
            )
        return jid

    @staticmethod
    def _check_beliefs(beliefs: Any, turns_seen: int) -> str | None:
        if beliefs is None:
            return None
        if not isinstance(beliefs, (list, tuple)) or len(beliefs) > turns_seen:
            raise StorageError(f"beliefs must be a list of at most turns_seen ({turns_seen}) probabilities, one per "
                               "turn seen; pass the slider's value after each turn")
        for b in beliefs:
            if not _is_real(b) or not 0.0 <= b <= 1.0:
                raise StorageError(f"a belief must be a probability in 0..1, got {b!r}; pass P(Debater A is right)")
        return json.dumps([round(float(b), 4) for b in beliefs])

    @staticmethod
    def _study_fields(conn: sa.Connection, transcript_id: str, annotator_id: str) -> dict:
        """The study design of this person's assignment of this debate (empty outside a study)."""
        r = conn.execute(
            sa.select(assignments.c.study_id, assignments.c.sequence_index, study_debates.c.study_set,
                      study_debates.c.honest_first)
            .join(study_debates, (study_debates.c.study_id == assignments.c.study_id)
                  & (study_debates.c.transcript_id == assignments.c.transcript_id))
            .where(assignments.c.transcript_id == transcript_id, assignments.c.annotator_id == annotator_id)
        ).first()
        if r is None:
            return {}
        return {"study_id": r.study_id, "sequence_index": r.sequence_index, "study_set": r.study_set,
                "honest_first": bool(r.honest_first)}

    @staticmethod
    def _judgment_filters(stmt: Any, annotator_id, transcript_id, experiment_id, protocol, task,
                          study_id=None, include_practice=True) -> Any:
        if not include_practice:
            stmt = stmt.where(sa.or_(judgments.c.study_set.is_(None), judgments.c.study_set != "practice"))
        for col, v in (
            (judgments.c.study_id, study_id),
            (judgments.c.annotator_id, annotator_id),
            (judgments.c.transcript_id, transcript_id),
            (transcripts.c.experiment_id, experiment_id),
            (transcripts.c.protocol, protocol),
            (transcripts.c.task, task),
        ):
            if v is not None:
                stmt = stmt.where(col == v)
        return stmt

    def query_judgments(
        self,
        annotator_id: str | None = None,
        transcript_id: str | None = None,
        experiment_id: str | None = None,
        protocol: str | None = None,
        task: str | None = None,
        study_id: str | None = None,
        include_practice: bool = False,
    ) -> list[dict]:
        """Judgments matching all given filters (None = any), oldest first; practice judgments of a
        study only with ``include_practice``.

        Each dict has the judgment's fields (see JUDGMENT_COLUMNS), the annotator's
        name, the debate's task, protocol, experiment_id, instance_id and
        ground_truth, and the model judge's verdict for comparison:
        model_verdict_claim, model_winner_role, model_correct and model_judge.
        """
        stmt = self._judgment_filters(
            sa.select(
                *(judgments.c[k] for k in _JUDGMENT_OWN_COLUMNS),
                annotators.c.name.label("annotator_name"),
                transcripts.c.task,
                transcripts.c.protocol,
                transcripts.c.experiment_id,
                transcripts.c.instance_id,
                transcripts.c.ground_truth,
                transcripts.c.winner_role.label("model_winner_role"),
                transcripts.c.judge.label("model_judge"),
                study_debates.c.alias.label("study_alias"),
            )
            .join(transcripts, transcripts.c.id == judgments.c.transcript_id)
            .join(annotators, annotators.c.id == judgments.c.annotator_id)
            .outerjoin(study_debates, (study_debates.c.study_id == judgments.c.study_id)
                       & (study_debates.c.transcript_id == judgments.c.transcript_id)),
            annotator_id, transcript_id, experiment_id, protocol, task, study_id, include_practice,
        ).order_by(judgments.c.created_at, judgments.c.id)
        with self._read("query judgments") as conn:
            rows = conn.execute(stmt).mappings().all()
        out = []
        for r in rows:
            d = {k: r[k] for k in JUDGMENT_COLUMNS if k not in ("model_correct", "practice")}
            d["correct"] = bool(d["correct"])
            d["practice"] = d["study_set"] == "practice"
            d["honest_first"] = None if d["honest_first"] is None else bool(d["honest_first"])
            mv = d["model_verdict_claim"]
            d["model_correct"] = None if mv is None else mv == d["ground_truth"]
            out.append({k: d[k] for k in JUDGMENT_COLUMNS})
        return out

    def count_judgments(
        self,
        annotator_id: str | None = None,
        transcript_id: str | None = None,
        experiment_id: str | None = None,
        protocol: str | None = None,
        task: str | None = None,
        study_id: str | None = None,
        include_practice: bool = True,
    ) -> int:
        stmt = self._judgment_filters(
            sa.select(sa.func.count())
            .select_from(judgments)
            .join(transcripts, transcripts.c.id == judgments.c.transcript_id),
            annotator_id, transcript_id, experiment_id, protocol, task, study_id, include_practice,
        )
        with self._read("count judgments") as conn:
            return int(conn.execute(stmt).scalar_one())
