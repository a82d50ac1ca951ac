"""Human judging studies: create one from a filter over stored debates, sign participants in, hand
each one their next debate by the design rules of ``debate.records.study_design``, skip and undo.

Every choice of "what next" runs inside one write transaction, so two people asking at once get
consistent answers, and the design (set, position, side, first mover) is stored with each
assignment and judgment, so an analysis can check or control for it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from debate.records import study_design as design_rules
from debate.records.storage.engine import StorageError, _iso
from debate.records.storage.schema import (
    MAX_ANNOTATOR_NAME_CHARS,
    annotators,
    assignments,
    invitations,
    judgments,
    sign_in_tokens,
    skips,
    studies,
    study_debates,
    study_participants,
    transcripts,
)
from debate.records.study_design import PoolDebate, Seen, StudyDebate, StudyDesign, StudyDesignError
from debate.records.transcript import Transcript, _utc_now_iso
from debate.records.storage.transcript_store import stored_transcript

#: Seconds within which a participant may take back their last judgment.
UNDO_WINDOW_S = 60.0
MIN_PASSPHRASE_CHARS = 4
MAX_REASON_CHARS = 500
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_passphrase(passphrase: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>`` (hashlib's scrypt: no extra dependency)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def passphrase_matches(passphrase: str, stored: str) -> bool:
    try:
        kind, salt, _ = stored.split("$")
        expected = hash_passphrase(passphrase, bytes.fromhex(salt))
    except (ValueError, TypeError):
        return False
    return kind == "scrypt" and hmac.compare_digest(expected, stored)


def pool_debate(t: Transcript) -> PoolDebate | None:
    """What the design rules need of a stored debate, or None when it cannot be judged by a person
    (no honest/liar pair of debaters, or no turns)."""
    honest, liar = t.player_of_role("honest"), t.player_of_role("liar")
    if honest is None or liar is None or not t.turns:
        return None
    return PoolDebate(t.id, t.instance_id, t.protocol, t.first_player == honest)


def open_claim_roles(ts: list[Transcript]) -> dict[str, set[str]]:
    """protocol -> roles of the players arguing no claim of their own (see ``study_design.role_cues``)."""
    out: dict[str, set[str]] = {}
    for t in ts:
        for p, role in enumerate(t.roles):
            if t.claim_of(p) is None:
                out.setdefault(t.protocol, set()).add(role)
    return out


class StudiesMixin:
    """Studies, participants' sign-in, study assignments, skips and undo (part of ``Store``)."""

    # ------------------------------------------------------------------ studies

    @staticmethod
    def _study_dict(r: Any) -> dict:
        return {"id": r.id, "name": r.name, "task": r.task, "filter": json.loads(r.filter_json),
                "design": StudyDesign(**json.loads(r.design_json)), "instructions": r.instructions,
                "open": bool(r.open), "created_at": r.created_at}

    def create_study(
        self,
        name: str,
        task: str,
        *,
        design: StudyDesign | None = None,
        experiment_id: str | None = None,
        protocols: list[str] | None = None,
        instructions: str = "",
        allow_role_cues: bool = False,
    ) -> dict:
        """Create a study over the stored debates of ``task`` (optionally one experiment, some
        protocols) and split them into practice, overlap and main sets; return the study.

        Refused (nothing written) when something in the pool would tell participants the roles
        (``study_design.role_cues``) unless ``allow_role_cues``, or when the pool is too small for
        the design.
        """
        design = design or StudyDesign()
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 255:
            raise StorageError("a study needs a name of 1 to 255 characters; pass --name")
        name = name.strip()
        if not isinstance(instructions, str) or len(instructions) > 20_000:
            raise StorageError("instructions must be text of at most 20,000 characters; shorten them")
        filters = {"task": task, "experiment_id": experiment_id}
        chosen = sorted(set(protocols)) if protocols else None
        pool_ts = [t for t in self.iter_transcripts(**{k: v for k, v in filters.items() if v is not None})
                   if chosen is None or t.protocol in chosen]
        judged = [(t, d) for t in pool_ts if (d := pool_debate(t)) is not None]
        pool_ts, pool = [t for t, _ in judged], [d for _, d in judged]
        if not pool:
            raise StorageError(
                f"no stored {task} debate with an honest and a lying debater matches this filter "
                f"(experiment {experiment_id or 'any'}, protocols {', '.join(chosen) if chosen else 'any'}); "
                "store debates first (e.g. `debate quickstart`) or widen the filter"
            )
        cues = design_rules.role_cues(pool, open_claim_roles(pool_ts))
        if cues and not allow_role_cues:
            raise StorageError("this study would tell participants the roles: " + "; ".join(cues))
        try:
            planned = design_rules.plan_study(pool, design)
        except StudyDesignError as e:
            raise StorageError(str(e)) from None
        sid = uuid.uuid4().hex
        row = {"id": sid, "name": name, "task": task,
               "filter_json": json.dumps({**filters, "protocols": chosen, "role_cues_allowed": bool(cues)}),
               "design_json": json.dumps(dataclasses.asdict(design)), "instructions": instructions,
               "open": True, "created_at": _utc_now_iso()}
        with self._write("create a study") as conn:
            if conn.execute(sa.select(studies.c.id).where(studies.c.name == name)).first() is not None:
                raise StorageError(f"a study named {name!r} exists already; choose another name")
            conn.execute(studies.insert().values(**row))
            conn.execute(study_debates.insert(), [
                {"study_id": sid, "transcript_id": d.transcript_id, "alias": d.alias, "study_set": d.study_set,
                 "instance_id": d.instance_id, "protocol": d.protocol, "honest_first": d.honest_first}
                for d in planned
            ])
        return self.get_study(sid)

    def get_study(self, study_id: str) -> dict | None:
        with self._read("read a study") as conn:
            r = conn.execute(sa.select(studies).where(studies.c.id == study_id)).first()
        return None if r is None else self._study_dict(r)

    def find_study(self, name_or_id: str) -> dict:
        """The study with this name or id; StorageError naming the known studies otherwise."""
        with self._read("read a study") as conn:
            r = conn.execute(sa.select(studies).where(
                (studies.c.id == name_or_id) | (studies.c.name == name_or_id))).first()
            names = list(conn.execute(sa.select(studies.c.name).order_by(studies.c.created_at)).scalars())
        if r is None:
            known = ", ".join(map(repr, names)) or "none yet"
            raise StorageError(f"no study is named {name_or_id!r} (studies: {known}); check the name or create it")
        return self._study_dict(r)

    def list_studies(self) -> list[dict]:
        """All studies, oldest first, each with the sizes of its sets and its participants."""
        with self._read("list studies") as conn:
            rows = conn.execute(sa.select(studies).order_by(studies.c.created_at, studies.c.id)).all()
            sizes = conn.execute(sa.select(study_debates.c.study_id, study_debates.c.study_set, sa.func.count())
                                 .group_by(study_debates.c.study_id, study_debates.c.study_set)).all()
            people = dict(conn.execute(sa.select(study_participants.c.study_id, sa.func.count())
                                       .group_by(study_participants.c.study_id)).all())
        out = []
        for r in rows:
            d = self._study_dict(r)
            d["sets"] = {s: n for sid, s, n in sizes if sid == r.id}
            d["participants"] = int(people.get(r.id, 0))
            out.append(d)
        return out

    def set_study_open(self, study_id: str, is_open: bool) -> None:
        with self._write("open or close a study") as conn:
            n = conn.execute(studies.update().where(studies.c.id == study_id).values(open=bool(is_open))).rowcount
        if not n:
            raise StorageError(f"study {study_id!r} does not exist; pick one of list_studies()")

    def study_debates(self, study_id: str) -> list[StudyDebate]:
        with self._read("read a study's debates") as conn:
            rows = conn.execute(sa.select(study_debates).where(study_debates.c.study_id == study_id)
                                .order_by(study_debates.c.alias)).all()
        return [StudyDebate(r.transcript_id, r.instance_id, r.protocol, bool(r.honest_first), r.study_set, r.alias)
                for r in rows]

    def transcripts_for_alias(self, alias: str) -> list[dict]:
        """Which debate a participant's alias (e.g. "D-7QK3") names, in each study that has it."""
        with self._read("look up an alias") as conn:
            rows = conn.execute(sa.select(studies.c.name, study_debates.c.transcript_id)
                                .join(studies, studies.c.id == study_debates.c.study_id)
                                .where(study_debates.c.alias == alias.strip().upper())).all()
        return [{"study": r.name, "transcript_id": r.transcript_id} for r in rows]

    # ------------------------------------------------------------------ sign-in

    def sign_in(self, name: str, passphrase: str) -> dict:
        """The annotator with this name if the passphrase matches (created when new; an older
        profile without a passphrase takes this one). Returns the annotator with a ``token`` that
        signs them in again later (``annotator_for_token``), e.g. after a page reload."""
        if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise StorageError(f"the passphrase must be at least {MIN_PASSPHRASE_CHARS} characters; choose a longer one")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_ANNOTATOR_NAME_CHARS:
            raise StorageError(f"the name must be 1 to {MAX_ANNOTATOR_NAME_CHARS} characters; type your name")
        clean = name.strip()
        with self._write("sign in") as conn:
            r = conn.execute(sa.select(annotators).where(annotators.c.name == clean)).first()
            if r is None:
                aid = uuid.uuid4().hex
                conn.execute(annotators.insert().values(id=aid, name=clean, created_at=_utc_now_iso(),
                                                        passphrase_hash=hash_passphrase(passphrase)))
            else:
                aid = r.id
                if r.passphrase_hash is None:
                    conn.execute(annotators.update().where(annotators.c.id == aid)
                                 .values(passphrase_hash=hash_passphrase(passphrase)))
                elif not passphrase_matches(passphrase, r.passphrase_hash):
                    raise StorageError(f"the passphrase for {clean!r} does not match; type it again, or choose "
                                       "another name if this is not your profile")
            return self._new_token(conn, aid)

    def sign_in_with_code(self, code: str) -> dict:
        """The participant an invitation code belongs to (see ``create_invitations``), with a token."""
        if not isinstance(code, str) or not code.strip():
            raise StorageError("type the invitation code you were given")
        with self._write("sign in") as conn:
            r = conn.execute(sa.select(invitations).where(invitations.c.code == code.strip().upper())).first()
            if r is None:
                raise StorageError("this invitation code is not known; check it for typos or ask the organiser")
            out = self._new_token(conn, r.annotator_id)
            self._join(conn, r.study_id, r.annotator_id)
        out["study_id"] = r.study_id
        return out

    def _new_token(self, conn: sa.Connection, annotator_id: str) -> dict:
        token = secrets.token_urlsafe(24)
        conn.execute(sign_in_tokens.insert().values(token=token, annotator_id=annotator_id, created_at=_utc_now_iso()))
        r = conn.execute(sa.select(annotators).where(annotators.c.id == annotator_id)).one()
        return {"id": r.id, "name": r.name, "created_at": r.created_at, "token": token}

    def annotator_for_token(self, token: str) -> dict | None:
        if not isinstance(token, str) or not token:
            return None
        with self._read("sign in") as conn:
            r = conn.execute(sa.select(annotators).join(sign_in_tokens, sign_in_tokens.c.annotator_id == annotators.c.id)
                             .where(sign_in_tokens.c.token == token)).first()
        return None if r is None else {"id": r.id, "name": r.name, "created_at": r.created_at, "token": token}

    def create_invitations(self, study_id: str, n: int) -> list[str]:
        """``n`` invitation codes for a study, one new anonymous participant (``<study> P001``...) each."""
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10_000:
            raise StorageError(f"the number of invitations must be a whole number in 1..10000, got {n!r}")
        study = self.get_study(study_id)
        if study is None:
            raise StorageError(f"study {study_id!r} does not exist; pick one of list_studies()")
        codes = []
        with self._write("create invitations") as conn:
            taken = conn.execute(sa.select(sa.func.count()).select_from(invitations)
                                 .where(invitations.c.study_id == study_id)).scalar_one()
            for k in range(n):
                code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
                aid = uuid.uuid4().hex
                label = f"{study['name'][:40]} P{taken + k + 1:03d}"
                conn.execute(annotators.insert().values(id=aid, name=label, created_at=_utc_now_iso()))
                conn.execute(invitations.insert().values(code=code, study_id=study_id, annotator_id=aid,
                                                         created_at=_utc_now_iso()))
                codes.append(code)
        return codes

    # ------------------------------------------------------------------ participants

    @staticmethod
    def _join(conn: sa.Connection, study_id: str, annotator_id: str) -> None:
        pair = (study_participants.c.study_id == study_id) & (study_participants.c.annotator_id == annotator_id)
        if conn.execute(sa.select(study_participants.c.study_id).where(pair)).first() is None:
            conn.execute(study_participants.insert().values(study_id=study_id, annotator_id=annotator_id,
                                                            joined_at=_utc_now_iso()))

    def join_study(self, study_id: str, annotator_id: str) -> None:
        with self._write("join a study") as conn:
            self._require_annotator(conn, annotator_id)
            s = conn.execute(sa.select(studies.c.open).where(studies.c.id == study_id)).first()
            if s is None:
                raise StorageError(f"study {study_id!r} does not exist; pick one of the open studies")
            self._join(conn, study_id, annotator_id)

    def _seen(self, conn: sa.Connection, study_id: str, annotator_id: str) -> tuple[list[Seen], set[str], int, int]:
        """What this participant was shown in this study, in order: (seen, their transcript ids,
        counted judgments, next position)."""
        rows = conn.execute(
            sa.select(study_debates, assignments.c.side_order, assignments.c.sequence_index, assignments.c.completed)
            .join(assignments, (assignments.c.transcript_id == study_debates.c.transcript_id)
                  & (assignments.c.study_id == study_debates.c.study_id))
            .where(study_debates.c.study_id == study_id, assignments.c.annotator_id == annotator_id)
            .order_by(assignments.c.sequence_index)
        ).all()
        seen = [Seen(r.instance_id, r.protocol, bool(r.honest_first), r.side_order) for r in rows]
        counted = conn.execute(
            sa.select(sa.func.count()).select_from(judgments)
            .where(judgments.c.study_id == study_id, judgments.c.annotator_id == annotator_id,
                   judgments.c.study_set != "practice")
        ).scalar_one()
        last = max((r.sequence_index or 0 for r in rows), default=0)
        return seen, {r.transcript_id for r in rows}, int(counted), last + 1

    def next_study_assignment(self, study_id: str, annotator_id: str) -> dict | None:
        """This participant's current debate in the study (the open one, else a new one chosen by the
        design rules), or None when they have finished their quota or nothing fits any more.

        Returns ``{"transcript": Transcript, "alias", "study_set", "side_order", "sequence_index",
        "honest_first"}``. Joins the participant to the study on first call.
        """
        self._check_id(annotator_id, "annotator_id")
        now_dt = datetime.now(timezone.utc)
        now, expires = _iso(now_dt), _iso(now_dt + timedelta(seconds=self.assignment_ttl_s))
        with self._write("assign a debate") as conn:
            self._require_annotator(conn, annotator_id)
            srow = conn.execute(sa.select(studies).where(studies.c.id == study_id)).first()
            if srow is None:
                raise StorageError(f"study {study_id!r} does not exist; pick one of the open studies")
            if not srow.open:
                raise StorageError(f"study {srow.name!r} is closed; ask the organiser to open it again")
            design = StudyDesign(**json.loads(srow.design_json))
            self._join(conn, study_id, annotator_id)
            current = conn.execute(
                sa.select(assignments.c.transcript_id)
                .where(assignments.c.study_id == study_id, assignments.c.annotator_id == annotator_id,
                       assignments.c.completed.is_(False))
                .order_by(assignments.c.sequence_index).limit(1)
            ).scalar_one_or_none()
            if current is None:
                seen, mine, counted, position = self._seen(conn, study_id, annotator_id)
                candidates = self._study_candidates(conn, study_id, annotator_id, design, seen, mine, now)
                choice = design_rules.choose_next(
                    seen, candidates, design_rules.rng_for(design.seed, annotator_id, position),
                    quota_left=design.quota - counted, allow_repeat_instances=design.allow_repeat_instances)
                if choice is None:
                    return None
                debate, side = choice
                current = debate.transcript_id
                pair = (assignments.c.transcript_id == current) & (assignments.c.annotator_id == annotator_id)
                values = {"created_at": now, "expires_at": expires, "completed": False, "study_id": study_id,
                          "side_order": side, "sequence_index": position}
                if conn.execute(sa.select(assignments.c.id).where(pair)).first() is None:
                    conn.execute(assignments.insert().values(id=uuid.uuid4().hex, transcript_id=current,
                                                             annotator_id=annotator_id, **values))
                else:  # a reservation of the same debate outside the study
                    conn.execute(assignments.update().where(pair).values(**values))
            else:  # renew the reservation
                conn.execute(assignments.update().where(assignments.c.transcript_id == current,
                                                        assignments.c.annotator_id == annotator_id)
                             .values(expires_at=expires))
            return self._assignment_view(conn, study_id, annotator_id, current)

    def _study_candidates(self, conn, study_id: str, annotator_id: str, design: StudyDesign, seen: list[Seen],
                          mine: set[str], now: str) -> list[tuple[StudyDebate, int]]:
        """(debate, load) for every study debate this participant may still get: not shown to them,
        not judged or skipped by them anywhere, of an instance they have not seen (unless repeats are
        allowed), from the practice set while any of it is left, and (main set) under the target
        number of judgments. Filtered in SQL: a study may hold many thousands of debates."""
        n_judged = (sa.select(judgments.c.transcript_id, sa.func.count().label("n"))
                    .where(judgments.c.study_id == study_id).group_by(judgments.c.transcript_id).subquery())
        held = (sa.select(assignments.c.transcript_id, sa.func.count().label("n"))
                .where(assignments.c.study_id == study_id, assignments.c.completed.is_(False),
                       assignments.c.expires_at > now, assignments.c.annotator_id != annotator_id)
                .group_by(assignments.c.transcript_id).subquery())
        load = sa.func.coalesce(n_judged.c.n, 0) + sa.func.coalesce(held.c.n, 0)
        sd_ = study_debates.c
        stmt = (
            sa.select(sd_.transcript_id, sd_.instance_id, sd_.protocol, sd_.honest_first, sd_.study_set, sd_.alias,
                      load.label("load"))
            .outerjoin(n_judged, n_judged.c.transcript_id == sd_.transcript_id)
            .outerjoin(held, held.c.transcript_id == sd_.transcript_id)
            .where(sd_.study_id == study_id,
                   sd_.transcript_id.not_in(sa.select(judgments.c.transcript_id)
                                            .where(judgments.c.annotator_id == annotator_id)),
                   sd_.transcript_id.not_in(sa.select(skips.c.transcript_id).where(skips.c.annotator_id == annotator_id)),
                   (sd_.study_set != "main") | (load < design.judgments_per_debate))
        )
        if mine:
            stmt = stmt.where(sd_.transcript_id.not_in(sorted(mine)))
        if not design.allow_repeat_instances and seen:
            stmt = stmt.where(sd_.instance_id.not_in(sorted({x.instance_id for x in seen})))
        practice_left = conn.execute(stmt.where(sd_.study_set == "practice")).all()
        rows = practice_left or conn.execute(stmt.where(sd_.study_set != "practice")).all()
        return [(StudyDebate(tid, inst, protocol, bool(hf), study_set, alias), int(load))
                for tid, inst, protocol, hf, study_set, alias, load in rows]

    @staticmethod
    def _assignment_view(conn, study_id: str, annotator_id: str, transcript_id: str) -> dict:
        r = conn.execute(
            sa.select(study_debates, assignments.c.side_order, assignments.c.sequence_index, transcripts.c.body_json)
            .join(assignments, (assignments.c.transcript_id == study_debates.c.transcript_id)
                  & (assignments.c.annotator_id == annotator_id))
            .join(transcripts, transcripts.c.id == study_debates.c.transcript_id)
            .where(study_debates.c.study_id == study_id, study_debates.c.transcript_id == transcript_id)
        ).one()
        return {"transcript": stored_transcript(transcript_id, r.body_json), "alias": r.alias, "study_set": r.study_set,
                "side_order": r.side_order, "sequence_index": int(r.sequence_index),
                "honest_first": bool(r.honest_first), "study_id": study_id}

    def study_progress(self, study_id: str, annotator_id: str) -> dict:
        """``{"practice_done", "practice_total", "judged", "skipped", "quota"}`` for one participant."""
        study = self.get_study(study_id)
        if study is None:
            raise StorageError(f"study {study_id!r} does not exist; pick one of the open studies")
        with self._read("read progress") as conn:
            by_set = dict(conn.execute(
                sa.select(judgments.c.study_set, sa.func.count())
                .where(judgments.c.study_id == study_id, judgments.c.annotator_id == annotator_id)
                .group_by(judgments.c.study_set)).all())
            skipped = conn.execute(sa.select(sa.func.count()).select_from(skips).where(
                skips.c.study_id == study_id, skips.c.annotator_id == annotator_id)).scalar_one()
            n_practice = conn.execute(sa.select(sa.func.count()).select_from(study_debates).where(
                study_debates.c.study_id == study_id, study_debates.c.study_set == "practice")).scalar_one()
        d = study["design"]
        return {"practice_done": int(by_set.get("practice", 0)), "practice_total": min(int(n_practice), d.practice),
                "judged": int(by_set.get("overlap", 0)) + int(by_set.get("main", 0)), "skipped": int(skipped),
                "quota": d.quota}

    # ------------------------------------------------------------------ skip and undo

    def skip_debate(self, study_id: str, annotator_id: str, transcript_id: str, reason: str) -> None:
        """Leave this debate out for this participant, with their reason; the next one is chosen anew."""
        if not isinstance(reason, str) or not reason.strip():
            raise StorageError("say in a few words why you skip this debate (e.g. 'the board does not load')")
        if len(reason) > MAX_REASON_CHARS:
            raise StorageError(f"the reason is {len(reason)} characters long; shorten it to {MAX_REASON_CHARS}")
        with self._write("skip a debate") as conn:
            pair = ((assignments.c.transcript_id == transcript_id) & (assignments.c.annotator_id == annotator_id)
                    & (assignments.c.study_id == study_id))
            if conn.execute(sa.select(assignments.c.id).where(pair, assignments.c.completed.is_(False))).first() is None:
                raise StorageError("this debate is not the one you are judging now (it was judged or skipped "
                                   "already, e.g. in another tab); reload the page")
            conn.execute(skips.insert().values(id=uuid.uuid4().hex, study_id=study_id, transcript_id=transcript_id,
                                               annotator_id=annotator_id, reason=reason.strip(),
                                               created_at=_utc_now_iso()))
            conn.execute(assignments.update().where(pair).values(completed=True))

    def last_judgment(self, annotator_id: str, study_id: str | None = None) -> dict | None:
        """This person's newest judgment (id, transcript_id, created_at, seconds_ago), or None."""
        stmt = sa.select(judgments.c.id, judgments.c.transcript_id, judgments.c.created_at).where(
            judgments.c.annotator_id == annotator_id)
        if study_id is not None:
            stmt = stmt.where(judgments.c.study_id == study_id)
        with self._read("read a judgment") as conn:
            r = conn.execute(stmt.order_by(judgments.c.created_at.desc(), judgments.c.id.desc()).limit(1)).first()
        if r is None:
            return None
        age = (datetime.now(timezone.utc) - datetime.fromisoformat(r.created_at)).total_seconds()
        return {"id": r.id, "transcript_id": r.transcript_id, "created_at": r.created_at, "seconds_ago": age}

    def undo_judgment(self, annotator_id: str, judgment_id: str, window_s: float = UNDO_WINDOW_S) -> str:
        """Take back one's own judgment made less than ``window_s`` seconds ago; the debate becomes
        their current one again. Returns the transcript id."""
        with self._write("undo a judgment") as conn:
            r = conn.execute(sa.select(judgments).where(judgments.c.id == judgment_id)).first()
            if r is None or r.annotator_id != annotator_id:
                raise StorageError("there is no judgment of yours to undo (it was undone already?)")
            age = (datetime.now(timezone.utc) - datetime.fromisoformat(r.created_at)).total_seconds()
            if age > window_s:
                raise StorageError(f"a judgment can be undone for {window_s:.0f} s; this one was made {age:.0f} s ago "
                                   "and stays as it is")
            conn.execute(judgments.delete().where(judgments.c.id == judgment_id))
            expires = _iso(datetime.now(timezone.utc) + timedelta(seconds=self.assignment_ttl_s))
            conn.execute(assignments.update().where(assignments.c.transcript_id == r.transcript_id,
                                                    assignments.c.annotator_id == annotator_id)
                         .values(completed=False, expires_at=expires))
        return r.transcript_id
