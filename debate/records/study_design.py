"""The design of a human judging study: which debates it holds and in which order each participant sees them.

Pure functions over small records (no database, no jax); ``debate.records.storage.studies`` keeps the
state and calls them inside its transactions. The rules, each tested in ``tests/test_studies.py``:

1. **Sets.** A study's debates are split once, when it is created, into a *practice* set (judged
   first, with feedback, never counted), an *overlap* set (judged by every participant, so agreement
   can always be computed) and the *main* set (each debate judged by up to ``judgments_per_debate``
   people). The three sets use disjoint instances (images, passages), so the truth a practice debate
   reveals never helps later, and a participant can always finish the overlap set.
2. **Blocking.** A participant never sees one instance twice (unless the organiser allows it):
   nine lies about one image in a row would give the truth away as the claim that repeats.
3. **Counterbalancing.** For each participant the next debate is drawn so that the share of
   honest-first debates they have seen stays at one half (as far as the stored debates allow),
   and the display side of the honest debater (left = "A" / right = "B") alternates the same way
   within each first-mover group: neither "A moves first" nor "A is on the left" tells the role.
4. **Interleaving.** Protocols are interleaved (the least-seen protocol so far comes next, on a tie
   the one seen longest ago) and the
   overlap debates are spread over the sequence, not shown in a block.
5. **Randomisation.** Every choice left after these rules is random, from a generator seeded by
   the study's seed, the participant and the position in their sequence: reproducible, and
   different for every participant.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from typing import Iterable, NamedTuple, Sequence

#: The sets of a study (see rule 1), in the order a participant meets them.
STUDY_SETS = ("practice", "overlap", "main")
SIDE_ORDERS = ("honest-left", "honest-right")
_ALIAS_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class StudyDesignError(ValueError):
    """A study cannot be built as asked; the message names the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class StudyDesign:
    """What an organiser chooses (validated on construction)."""

    quota: int = 20  # counted debates per participant (practice not included)
    judgments_per_debate: int = 3  # for the main set; the overlap set is judged by everyone
    overlap_share: float = 0.2  # of each participant's quota, drawn from the overlap set
    practice: int = 2  # practice debates per participant, with feedback
    allow_repeat_instances: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        def whole(name: str, lo: int, hi: int) -> None:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise StudyDesignError(f"{name} must be a whole number in {lo}..{hi}, got {v!r}")

        whole("quota", 1, 10_000)
        whole("judgments_per_debate", 1, 1_000)
        whole("practice", 0, 100)
        whole("seed", 0, 2**63 - 1)
        s = self.overlap_share
        if not isinstance(s, (int, float)) or isinstance(s, bool) or not 0.0 <= float(s) <= 1.0:
            raise StudyDesignError(f"overlap_share must be a fraction in 0..1, got {s!r}; 0.2 is a common choice")

    @property
    def overlap_size(self) -> int:
        """Debates in the overlap set: ``overlap_share`` of the quota, rounded."""
        return int(round(float(self.overlap_share) * self.quota))


class PoolDebate(NamedTuple):  # a tuple: studies build thousands per choice
    """One stored debate a study may use: what the design rules look at."""

    transcript_id: str
    instance_id: str
    protocol: str
    honest_first: bool


class StudyDebate(NamedTuple):  # a tuple: studies build thousands per choice
    """A debate placed in a study: its set and its per-study alias (what participants see)."""

    transcript_id: str
    instance_id: str
    protocol: str
    honest_first: bool
    study_set: str
    alias: str


class Seen(NamedTuple):  # a tuple: studies build thousands per choice
    """One debate a participant was shown (judged or skipped), for the rules of the next choice."""

    instance_id: str
    protocol: str
    honest_first: bool
    side_order: str


def rng_for(seed: int, *parts: object) -> random.Random:
    """A generator determined by the study seed and ``parts`` (e.g. participant id, position)."""
    return random.Random(":".join(map(str, (seed, *parts))))


def _pick_balanced(pool: Sequence[PoolDebate], n: int, rng: random.Random, used: set[str]) -> list[PoolDebate]:
    """Up to ``n`` debates of distinct, unused instances, cycling over (honest_first, protocol) so
    both first movers and every protocol are represented as evenly as the pool allows."""
    groups: dict[tuple[bool, str], list[PoolDebate]] = {}
    for d in pool:
        groups.setdefault((d.honest_first, d.protocol), []).append(d)
    for g in groups.values():
        rng.shuffle(g)
    # alternate first movers, protocols round-robin within each
    by_first = {hf: sorted(p for (f, p) in groups if f == hf) for hf in (True, False)}
    order: list[tuple[bool, str]] = []
    firsts = [True, False]
    rng.shuffle(firsts)
    for k in range(max((len(v) for v in by_first.values()), default=0)):
        for hf in firsts:
            if k < len(by_first[hf]):
                order.append((hf, by_first[hf][k]))
    picked: list[PoolDebate] = []
    progress = True
    while len(picked) < n and progress:
        progress = False
        for combo in order:
            if len(picked) >= n:
                break
            g = groups[combo]
            while g and g[-1].instance_id in used:
                g.pop()
            if g:
                d = g.pop()
                used.add(d.instance_id)
                picked.append(d)
                progress = True
    return picked


def _aliases(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct random aliases such as ``D-7QK3``: they say nothing about order or role."""
    out: set[str] = set()
    length = 4 if n < 20_000 else 6
    while len(out) < n:
        out.add("D-" + "".join(rng.choice(_ALIAS_ALPHABET) for _ in range(length)))
    aliases = sorted(out)
    rng.shuffle(aliases)
    return aliases


def role_cues(pool: Iterable[PoolDebate], open_claim_roles: dict[str, set[str]]) -> list[str]:
    """Sentences naming what in this pool would tell a participant the roles (empty when nothing does).

    ``open_claim_roles`` maps a protocol to the roles of the debaters who argue no claim of their own
    ("not X") in its debates: if that is only ever the liar, the wording names the liar.
    """
    pool = list(pool)
    problems = []
    for protocol, roles in sorted(open_claim_roles.items()):
        if roles == {"liar"}:
            problems.append(
                f"in protocol {protocol} the debater who argues against the other's claim is always the liar, "
                "so the claims alone name the roles; leave the protocol out (--protocol) or allow it knowingly "
                "(--allow-role-cues)"
            )
    firsts = {d.honest_first for d in pool}
    if len(firsts) == 1:
        who = "honest" if firsts == {True} else "lying"
        problems.append(
            f"in every debate of this pool the {who} debater moves first, so the first mover names the roles; "
            "include debates of the other first mover (e.g. both *_honest_first and *_liar_first protocols)"
        )
    return problems


def plan_study(pool: Sequence[PoolDebate], design: StudyDesign) -> list[StudyDebate]:
    """Split ``pool`` into the practice, overlap and main sets (rule 1) and give every debate an alias.

    Raises StudyDesignError when the pool cannot give one participant a full sequence: the quota
    needs that many distinct instances outside the practice and overlap sets (rule 2).
    """
    if not pool:
        raise StudyDesignError("no stored debate matches the study's filter; widen it or store debates first")
    ids = [d.transcript_id for d in pool]
    if len(set(ids)) != len(ids):
        raise StudyDesignError("the pool lists a debate twice; pass each transcript once")
    rng = rng_for(design.seed, "plan")
    used: set[str] = set()
    practice = _pick_balanced(pool, design.practice, rng, used)
    if len(practice) < design.practice:
        raise StudyDesignError(
            f"the pool has only {len(practice)} distinct instances, fewer than the {design.practice} practice "
            "debates asked for; ask for fewer practice debates or store more debates"
        )
    overlap = _pick_balanced(pool, design.overlap_size, rng, used)
    if len(overlap) < design.overlap_size:
        raise StudyDesignError(
            f"the pool has too few distinct instances for {design.practice} practice and {design.overlap_size} "
            "overlap debates; lower overlap_share or the quota, or store more debates"
        )
    main = [d for d in pool if d.instance_id not in used]
    need = design.quota - design.overlap_size
    distinct = len({d.instance_id for d in main})
    if need > 0 and not design.allow_repeat_instances and distinct < need:
        raise StudyDesignError(
            f"a participant's quota of {design.quota} needs {need} main debates of distinct instances, but only "
            f"{distinct} instances are left after the practice and overlap sets; lower the quota or store debates "
            "of more instances"
        )
    if need > 0 and not main:
        raise StudyDesignError("no debate is left for the main set; lower overlap_share or practice")
    placed = [(d, "practice") for d in practice] + [(d, "overlap") for d in overlap] + [(d, "main") for d in main]
    aliases = _aliases(len(placed), rng)
    return [StudyDebate(d.transcript_id, d.instance_id, d.protocol, d.honest_first, s, a)
            for (d, s), a in zip(placed, aliases)]


def _balance_target(values: Iterable[bool], rng: random.Random) -> bool:
    """The value of the two seen less often so far (a coin flip on a tie)."""
    c = Counter(values)
    if c[True] == c[False]:
        return rng.random() < 0.5
    return c[True] < c[False]


def choose_next(
    seen: Sequence[Seen],
    candidates: Sequence[tuple[StudyDebate, int]],
    rng: random.Random,
    *,
    quota_left: int,
    allow_repeat_instances: bool = False,
) -> tuple[StudyDebate, str] | None:
    """The next debate for one participant and the side its honest debater is shown on (rules 2-5).

    ``seen``: what they were shown so far, in order. ``candidates``: (debate, load) pairs they may
    still get, load being the judgments made or in progress (main set). Practice debates come
    first, then the overlap set spread over the quota (drawn with probability overlap-left /
    quota-left, and always once only overlap debates fit in what is left), then the main set.
    """
    seen_instances = {s.instance_id for s in seen}
    open_ = [(d, load) for d, load in candidates
             if allow_repeat_instances or d.instance_id not in seen_instances]
    by_set = {s: [(d, load) for d, load in open_ if d.study_set == s] for s in STUDY_SETS}
    if by_set["practice"]:
        pool = by_set["practice"]
    else:
        if quota_left <= 0:
            return None
        overlap, main = by_set["overlap"], by_set["main"]
        n_overlap = len({d.instance_id for d, _ in overlap})
        take_overlap = bool(overlap) and (not main or n_overlap >= quota_left or rng.random() < n_overlap / quota_left)
        pool = overlap if take_overlap else main
        if not pool:
            return None
    # rule 3: first mover
    target = _balance_target((s.honest_first for s in seen), rng)
    matching = [c for c in pool if c[0].honest_first == target]
    pool = matching or pool
    # rule 4: the protocol seen least so far, on a tie the one seen longest ago
    protocol_count = Counter(s.protocol for s in seen)
    last_seen = {s.protocol: i for i, s in enumerate(seen)}

    def staleness(protocol: str) -> tuple[int, int]:
        return protocol_count[protocol], last_seen.get(protocol, -1)

    freshest = min(staleness(d.protocol) for d, _ in pool)
    pool = [c for c in pool if staleness(c[0].protocol) == freshest]
    # the least-judged debate, then chance
    lightest = min(load for _, load in pool)
    pool = [c for c in pool if c[1] == lightest]
    debate = rng.choice(sorted(pool, key=lambda c: c[0].transcript_id))[0]
    # rule 3: display side, balanced within this first-mover group
    same_first = [s.side_order == "honest-left" for s in seen if s.honest_first == debate.honest_first]
    side = "honest-left" if _balance_target(same_first, rng) else "honest-right"
    return debate, side
