"""Transcripts of quote debates (``debate.tasks.quote.game``), and the rules they must keep.

Claims are option indices: ``claims = [correct option, liar's option]``, ``ground_truth`` the
correct option. ``instance`` holds what re-creates and re-renders the question: ``passage_id``,
``sentences`` (the passage: the researcher's view and the replay's check; people judging never see
it), ``question``, ``options``, ``num_quotes``, ``max_sentences``, ``consultancy`` (one player
makes every quote) and ``source``. Each turn's ``revealed`` is ``{"sentence": i, "text": the
sentence}``, and may carry an ``argument`` (free text, from the language-model issue) with
``argument_quotes``: ``[{"text", "verified"}]`` for quotes inside it.

No jax here: ``Transcript.validate`` runs ``check_transcript``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from debate.records.transcript import Transcript, TranscriptError, Turn, players_from_roles, quote
from debate.tasks.quote.verify import check_argument

if TYPE_CHECKING:
    from debate.core.runner import Games
    from debate.tasks.quote.passages import TextQuestion

TASK_NAME = "quote"
ROLES = ["honest", "liar"]
HONEST, LIAR = 0, 1
MAX_SENTENCES_LIMIT = 4096
MAX_TEXT = 100_000


def quote_games_to_transcripts(games: Games, questions: list[TextQuestion], task, protocol: str,
                               debaters: tuple[str, str], judge: str, seed: int, experiment: str | None = None,
                               consultancy: bool = False) -> list[Transcript]:
    """One validated transcript per game; ``questions[i]`` is the question of game ``i``."""
    out = []
    for g in range(len(games.honest_margin)):
        q = questions[g]
        claims = [int(games.claims[g, HONEST]), int(games.claims[g, LIAR])]
        moves = int(games.num_moves[g]) if "num_moves" in games.columns else len(games.actions[g])
        turns = [Turn(index=t, player=int(games.players[g, t]), action=int(games.actions[g, t]),
                      revealed={"sentence": int(games.actions[g, t]), "text": q.sentences[int(games.actions[g, t])]},
                      judge_probs=[float(p) for p in games.claim_probs[g, t]]) for t in range(moves)]
        winner = HONEST if games.honest_margin[g] > 0 else LIAR
        out.append(Transcript(
            task=TASK_NAME, instance_id=q.id, protocol=protocol, claims=claims,
            players=players_from_roles(ROLES, debaters), judge=judge, first_player=int(games.first_player[g]),
            turns=turns, winner=winner, verdict_claim=claims[winner], ground_truth=int(q.correct),
            seeds={"experiment_seed": int(seed)},
            instance={"passage_id": q.id, "sentences": list(q.sentences), "question": q.question,
                      "options": list(q.options), "num_quotes": int(task.num_quotes),
                      "max_sentences": int(task.max_sentences), "consultancy": bool(consultancy), "source": q.source,
                      "kind": q.kind, "supporting": list(q.supporting),
                      "misleading": list(q.misleading[claims[LIAR]]) if q.misleading else [],
                      "encoder": task.encoder, "dim": int(task.dim)},
            experiment=experiment,
            meta={"final_logits": [float(v) for v in games.final_logits[g]],
                  "honest_margin": float(games.honest_margin[g])},
        ).validate())
    return out


def question_of(transcript: Transcript) -> "TextQuestion":
    """The question a transcript was played on (its misleading sentences for the liar's option only)."""
    from debate.tasks.quote.passages import TextQuestion

    inst = transcript.instance
    options = list(inst["options"])
    misleading = [[] for _ in options]
    misleading[transcript.claims[LIAR]] = list(inst.get("misleading", []))
    return TextQuestion(id=inst["passage_id"], sentences=tuple(inst["sentences"]), question=inst["question"],
                        options=tuple(options), correct=int(transcript.ground_truth),
                        supporting=tuple(inst.get("supporting", [])), misleading=tuple(tuple(m) for m in misleading),
                        source=inst.get("source", ""), kind=inst.get("kind", ""))


def _int(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise TranscriptError(f"{what} must be non-empty text of at most {MAX_TEXT} characters, got {quote(value)}; "
                              "fix the file")
    return value


def check_transcript(transcript: Transcript) -> None:
    """The quote rules, without jax. Raises ``TranscriptError`` naming the first field or turn that
    breaks them:

    - the instance: ``sentences`` 1..``max_sentences`` non-empty texts, a ``question``, two or more
      different ``options``, ``num_quotes`` 1..``max_sentences``, ``consultancy`` a bool;
    - two players on teams 0 and 1; claims ``[correct, wrong]`` option indices, the first equal to
      ``ground_truth``;
    - turn ``i`` has index ``i``; players alternate from ``first_player`` (in consultancy the first
      player makes every quote); at most ``num_quotes`` turns;
    - each action is a sentence of the passage not quoted before, and ``revealed`` is
      ``{"sentence": that index, "text": that sentence}`` (plus an optional ``argument`` text and
      ``argument_quotes``);
    - ``winner`` is a team and ``verdict_claim`` its claim.
    """
    inst = transcript.instance
    if not isinstance(inst, dict):
        raise TranscriptError(f"a quote debate's instance must be an object, got {quote(inst)}; fix the file")
    max_sentences = inst.get("max_sentences")
    if not _int(max_sentences, 1, MAX_SENTENCES_LIMIT):
        raise TranscriptError(f"instance max_sentences {quote(max_sentences)} must be an integer 1..{MAX_SENTENCES_LIMIT}; "
                              "fix the file")
    sentences = inst.get("sentences")
    if not isinstance(sentences, list) or not 1 <= len(sentences) <= max_sentences:
        raise TranscriptError(f"instance sentences must be a list of 1..{max_sentences} texts, got "
                              f"{quote(sentences)}; fix the file")
    for i, s in enumerate(sentences):
        _text(s, f"instance sentences[{i}]")
    _text(inst.get("question"), "instance question")
    options = inst.get("options")
    if not isinstance(options, list) or len(options) < 2:
        raise TranscriptError(f"instance options must be a list of at least two texts, got {quote(options)}; fix the file")
    for i, o in enumerate(options):
        _text(o, f"instance options[{i}]")
    if len(set(options)) != len(options):
        raise TranscriptError("instance options must be different from each other; fix the file")
    num_quotes = inst.get("num_quotes")
    if not _int(num_quotes, 1, max_sentences):
        raise TranscriptError(f"instance num_quotes {quote(num_quotes)} must be an integer 1..{max_sentences}; fix the file")
    consultancy = inst.get("consultancy", False)
    if not isinstance(consultancy, bool):
        raise TranscriptError(f"instance consultancy must be true or false, got {quote(consultancy)}; fix the file")

    if len(transcript.players) != 2 or transcript.teams != [HONEST, LIAR]:
        raise TranscriptError(f"a quote debate has two players on teams 0 (correct option) and 1 (wrong option), got "
                              f"teams {quote(transcript.teams)}; fix the file")
    if len(transcript.claims) != 2:
        raise TranscriptError(f"a quote debate has two claims (the correct option and the liar's), got "
                              f"{quote(transcript.claims)}; fix the file")
    truth, lie = transcript.claims
    last = len(options) - 1
    if not _int(transcript.ground_truth, 0, last):
        raise TranscriptError(f"ground_truth {quote(transcript.ground_truth)} is not an option (0..{last}); fix the file")
    if truth != transcript.ground_truth:
        raise TranscriptError(f"claims[0] is {quote(truth)} but the honest team argues the correct option "
                              f"{transcript.ground_truth}; fix the file")
    if not _int(lie, 0, last) or lie == truth:
        raise TranscriptError(f"claims[1] is {quote(lie)} but the liar argues an option 0..{last} other than the "
                              f"correct {truth}; fix the file")
    if len(transcript.turns) > num_quotes:
        raise TranscriptError(f"turn {num_quotes} comes after the game's {num_quotes} quotes; fix the file")
    quoted: set[int] = set()
    for i, turn in enumerate(transcript.turns):
        if turn.index != i:
            raise TranscriptError(f"turn {i} has index {quote(turn.index)}; turns must be numbered 0, 1, ... in order; "
                                  "fix the file")
        player = transcript.first_player if consultancy else (transcript.first_player + i) % 2
        if turn.player != player:
            raise TranscriptError(f"turn {i} is played by player {quote(turn.player)} but it is player {player}'s move "
                                  f"({'the consultant makes every quote' if consultancy else 'players alternate'}); "
                                  "fix the file")
        action = turn.action
        if not _int(action, 0, len(sentences) - 1):
            raise TranscriptError(f"turn {i} quotes sentence {quote(action)}, which is not a sentence of the "
                                  f"{len(sentences)}-sentence passage; fix the file")
        if action in quoted:
            raise TranscriptError(f"turn {i} quotes sentence {action} again; a sentence can be quoted once; fix the file")
        quoted.add(action)
        revealed = turn.revealed
        if not isinstance(revealed, dict) or revealed.get("sentence") != action or revealed.get("text") != sentences[action]:
            raise TranscriptError(f"turn {i} records {quote(revealed)} but quoting sentence {action} reveals "
                                  f"{{'sentence': {action}, 'text': {quote(sentences[action])}}}; fix the file")
        extra = set(revealed) - {"sentence", "text", "argument", "argument_quotes"}
        if extra:
            raise TranscriptError(f"turn {i} records unknown fields {quote(sorted(extra))}; fix the file")
        if "argument" in revealed:
            _text(revealed["argument"], f"turn {i} argument")
            # the marks are the task's own check of the argument's quotes against the passage
            expected = [check.to_dict() for check in check_argument(revealed["argument"], sentences)]
            if revealed.get("argument_quotes", []) != expected:
                raise TranscriptError(f"turn {i} marks its argument's quotes {quote(revealed.get('argument_quotes', []))} "
                                      f"but checking them against the passage gives {quote(expected)}; record "
                                      "debate.tasks.quote.verify.check_argument's marks")
        elif "argument_quotes" in revealed:
            raise TranscriptError(f"turn {i} marks argument quotes but has no argument; fix the file")
    if transcript.winner is not None:
        if transcript.winner not in (HONEST, LIAR):
            raise TranscriptError(f"winner {quote(transcript.winner)} is not a team (0 or 1); fix the file")
        if transcript.verdict_claim != transcript.claims[transcript.winner]:
            raise TranscriptError(f"verdict_claim {quote(transcript.verdict_claim)} is not the claim of the winner "
                                  f"(team {transcript.winner} argues {transcript.claims[transcript.winner]}); fix the file")


def option_text(transcript: Transcript, option) -> str:
    options = transcript.instance.get("options", []) if isinstance(transcript.instance, dict) else []
    return options[option] if isinstance(option, int) and 0 <= option < len(options) else str(option)


__all__ = ["quote_games_to_transcripts", "check_transcript", "option_text", "TASK_NAME", "np"]
