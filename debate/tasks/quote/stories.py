"""Generated stories: people moving between places and carrying objects (in the manner of bAbI).

Written here, seeded and deterministic: ``generate(level, num_questions, seed)`` gives the same
questions for the same arguments on every machine (numpy's PCG64 and nothing else random).

Question types, each with the sentences that prove the answer (``supporting``) and, for the wrong
option, a true sentence that makes it look right (``misleading``):

- ``where-person`` "Where is Mary?": the latest move of Mary decides (one supporting fact); the
  wrong option is an earlier place Mary really went to.
- ``where-object`` "Where is the apple?": who holds the apple and where that person went last
  (two supporting facts); the wrong option is a place the apple really was (its holder went there
  while carrying it, or it was dropped there before).
- ``where-before`` "Where was Mary before the garden?": the move to the garden and the move just
  before it (two supporting facts); the wrong option is another place Mary really went to.

So the liar always has a true but misleading quote. Places, people and objects are drawn
uniformly, and the correct option is first or second at random, so the options alone say nothing
about the answer (``tests/test_quote_task.py`` measures the blind judge).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from debate.tasks.quote.passages import MAX_SENTENCES, PassageError, TextQuestion

PEOPLE = ("Mary", "John", "Sandra", "Daniel", "Julie", "Fred", "Bill", "Emily", "Jason", "Lily")
PLACES = ("kitchen", "garden", "office", "hallway", "bathroom", "bedroom", "cellar", "park", "school", "cinema")
OBJECTS = ("apple", "football", "milk", "book", "key", "umbrella", "box", "hat")
MOVES = ("went to", "moved to", "travelled to", "journeyed to", "walked to")
TAKES = ("picked up", "got", "grabbed", "took")
DROPS = ("dropped", "put down", "left")
QUESTION_KINDS = ("where-person", "where-object", "where-before")


@dataclass(frozen=True)
class StoryConfig:
    sentences: int = 12  # story length
    people: int = 3
    places: int = 4
    objects: int = 0  # 0: no objects, so no where-object questions
    kinds: tuple[str, ...] = ("where-person",)  # which question types to ask
    name: str = "custom"

    def check(self) -> None:
        if not 4 <= self.sentences <= MAX_SENTENCES:
            raise PassageError(f"a story needs 4..{MAX_SENTENCES} sentences (got {self.sentences}).")
        if not 1 <= self.people <= len(PEOPLE) or not 2 <= self.places <= len(PLACES):
            raise PassageError(f"people must be 1..{len(PEOPLE)} and places 2..{len(PLACES)} "
                               f"(got {self.people} and {self.places}).")
        if not 0 <= self.objects <= len(OBJECTS):
            raise PassageError(f"objects must be 0..{len(OBJECTS)} (got {self.objects}).")
        unknown = set(self.kinds) - set(QUESTION_KINDS)
        if not self.kinds or unknown:
            raise PassageError(f"question kinds must be some of {', '.join(QUESTION_KINDS)} (got {self.kinds}).")
        if "where-object" in self.kinds and self.objects == 0:
            raise PassageError("where-object questions need objects; pass objects >= 1.")

    @property
    def supporting_facts(self) -> int:
        return 2 if set(self.kinds) - {"where-person"} else 1


#: The named difficulty levels (README and docs/text-debate.md).
LEVELS = {
    "easy": StoryConfig(sentences=12, people=3, places=4, objects=0, kinds=("where-person",), name="easy"),
    "medium": StoryConfig(sentences=24, people=4, places=6, objects=2,
                          kinds=("where-person", "where-object"), name="medium"),
    "hard": StoryConfig(sentences=40, people=5, places=8, objects=3, kinds=QUESTION_KINDS, name="hard"),
}


def level(name: str) -> StoryConfig:
    if name not in LEVELS:
        raise PassageError(f"unknown story level {name!r}; choose one of {', '.join(LEVELS)}.")
    return LEVELS[name]


# ------------------------------------------------------------------------------------ the story
@dataclass
class Story:
    sentences: list[str]
    # per sentence: ("move", person, place) | ("take", person, object) | ("drop", person, object)
    events: list[tuple[str, str, str]]


def tell_story(config: StoryConfig, rng: np.random.Generator) -> Story:
    """A random story that is consistent: people move; objects are taken only by a person who is
    somewhere, and dropped only by their holder."""
    people = [str(p) for p in rng.choice(PEOPLE, config.people, replace=False)]
    places = [str(p) for p in rng.choice(PLACES, config.places, replace=False)]
    objects = [str(o) for o in rng.choice(OBJECTS, config.objects, replace=False)] if config.objects else []
    where: dict[str, str] = {}
    holder: dict[str, str] = {}
    lying_at: dict[str, str] = {}  # where each dropped object lies: only someone there can take it
    sentences, events = [], []
    while len(sentences) < config.sentences:
        person = people[rng.integers(len(people))]
        r = rng.random()
        free = [o for o in objects if o not in holder and lying_at.get(o, where.get(person)) == where.get(person)]
        held = [o for o, h in holder.items() if h == person]
        if objects and person in where and r < 0.2 and free:
            obj = free[rng.integers(len(free))]
            holder[obj] = person
            lying_at.pop(obj, None)
            events.append(("take", person, obj))
            sentences.append(f"{person} {TAKES[rng.integers(len(TAKES))]} the {obj}.")
        elif objects and r < 0.3 and held:
            obj = held[rng.integers(len(held))]
            del holder[obj]
            lying_at[obj] = where[person]
            events.append(("drop", person, obj))
            sentences.append(f"{person} {DROPS[rng.integers(len(DROPS))]} the {obj}.")
        else:
            choices = [p for p in places if p != where.get(person)]
            place = choices[rng.integers(len(choices))]
            where[person] = place
            events.append(("move", person, place))
            sentences.append(f"{person} {MOVES[rng.integers(len(MOVES))]} the {place}.")
    return Story(sentences, events)


# --------------------------------------------------------------------------------- the questions
def _moves(story: Story, person: str) -> list[tuple[int, str]]:
    return [(i, e[2]) for i, e in enumerate(story.events) if e[0] == "move" and e[1] == person]


def where_person(story: Story, rng) -> tuple | None:
    people = sorted({e[1] for e in story.events})
    rng.shuffle(people)
    for person in people:
        moves = _moves(story, person)
        last_index, answer = moves[-1] if moves else (None, None)
        earlier = [(i, p) for i, p in moves if p != answer]
        if earlier:
            wrong_index, wrong = earlier[rng.integers(len(earlier))]
            return f"Where is {person}?", answer, wrong, (last_index,), (wrong_index,), person
    return None


def object_places(story: Story, obj: str) -> tuple[str | None, int | None, list[tuple[int, str]]]:
    """Where ``obj`` is at the end (None if unknown), the last sentence that says so together with
    the sentence that put it with its holder, and every (sentence, place) it has been at."""
    holder, place, visits, proof, take_index = None, None, [], (), None
    location: dict[str, tuple[int, str]] = {}
    for i, (kind, person, what) in enumerate(story.events):
        if kind == "move":
            location[person] = (i, what)
            if holder == person:
                place, proof = what, (take_index, i)
                visits.append((i, what))
        elif what == obj and kind == "take":
            holder, take_index = person, i
            if person in location:
                place, proof = location[person][1], (i, location[person][0])
                visits.append((location[person][0], place))
        elif what == obj and kind == "drop":
            holder = None  # it stays where it was dropped (place, proof unchanged)
    return place, proof, visits


def where_object(story: Story, rng) -> tuple | None:
    objects = sorted({e[2] for e in story.events if e[0] == "take"})
    rng.shuffle(objects)
    for obj in objects:
        answer, proof, visits = object_places(story, obj)
        wrong = [(i, p) for i, p in visits if p != answer]
        if answer is not None and wrong:
            wrong_index, wrong_place = wrong[rng.integers(len(wrong))]
            return f"Where is the {obj}?", answer, wrong_place, tuple(sorted(proof)), (wrong_index,), obj
    return None


def where_before(story: Story, rng) -> tuple | None:
    people = sorted({e[1] for e in story.events})
    rng.shuffle(people)
    for person in people:
        moves = _moves(story, person)
        # a visit to a place visited only once, with a move before it and another place to offer
        counts = {p: sum(1 for _, q in moves if q == p) for _, p in moves}
        for k in rng.permutation(np.arange(1, len(moves))) if len(moves) > 1 else []:
            (prev_index, answer), (index, place) = moves[k - 1], moves[k]
            others = [(i, p) for i, p in moves if p not in (answer, place)]
            if counts[place] == 1 and others:
                wrong_index, wrong = others[rng.integers(len(others))]
                return (f"Where was {person} before the {place}?", answer, wrong, (prev_index, index),
                        (wrong_index,), person)
    return None


ASK = {"where-person": where_person, "where-object": where_object, "where-before": where_before}


def generate(config: StoryConfig | str, num_questions: int, seed: int = 0) -> list[TextQuestion]:
    """``num_questions`` questions, one story each; question kinds in turn, a story re-drawn when it
    cannot answer the kind asked."""
    config = level(config) if isinstance(config, str) else config
    config.check()
    if num_questions < 1:
        raise PassageError(f"num_questions must be at least 1 (got {num_questions}).")
    out = []
    for n in range(num_questions):
        kind = config.kinds[n % len(config.kinds)]
        rng = np.random.default_rng([seed, n])
        for attempt in range(1000):
            story = tell_story(config, rng)
            asked = ASK[kind](story, rng)
            if asked is not None:
                break
        else:  # pragma: no cover - the levels always succeed within a few attempts
            raise PassageError(f"could not generate a {kind} question with {config}; use longer stories.")
        question, answer, wrong, supporting, misleading, subject = asked
        correct = int(rng.integers(2))
        options = (answer, wrong) if correct == 0 else (wrong, answer)
        mis = (misleading, ()) if correct == 1 else ((), misleading)
        out.append(TextQuestion(
            id=f"stories-{config.name}:{seed}:{n}", sentences=tuple(story.sentences), question=question,
            options=options, correct=correct, supporting=supporting, misleading=mis,
            source=f"generated stories ({config.name}: {config.sentences} sentences, {config.people} people, "
                   f"{config.places} places, {config.objects} objects)",
            kind=kind, meta={"subject": subject, "attempts": attempt + 1}))
    return out
