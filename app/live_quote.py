"""The Play page's text game, played move by move: a person quotes sentences against an AI debater,
or watches two AIs and judges (the image game is ``app.live``). The judge is the app's text judge
(``training.app_judge.load_play_judge``); jax and the training code load lazily, so that pages which
only draw stored quote debates do not import them."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field

from training.app_judge import (  # noqa: F401  (the app reads these through live_quote)
    PLAY_NUM_QUOTES,
    PLAY_QUESTIONS,
    PLAY_SOURCE,
    TextJudge,
    load_play_judge,
    play_questions,
)

HONEST, LIAR = 0, 1
ROLES = ("honest", "liar")
#: The AI debaters the Play page offers for text: the task's expert, or mctx search with the judge as leaf value.
AI_EXPERT = "expert"
AI_SEARCH = "search"


def draw_question(num_questions: int, seed: int, index: int | None = None) -> int:
    """The question a game is played on: ``index`` when given (checked), else one drawn with ``seed``."""
    if index is not None:
        if not 0 <= int(index) < num_questions:
            raise ValueError(f"question number {index} does not exist: the page plays questions 0..{num_questions - 1}.")
        return int(index)
    import numpy as np

    return int(np.random.default_rng([int(seed), 3]).integers(num_questions))


@functools.lru_cache(maxsize=16)
def _game_fns(task, judge_fn):
    from types import SimpleNamespace

    import jax

    def evaluate(params, state):
        logits = judge_fn(params, task.judge_view(state))
        return logits, task.claim_probs(state, logits), task.honest_margin(state, logits)

    return SimpleNamespace(init=jax.jit(task.init), step=jax.jit(task.step), evaluate=jax.jit(evaluate))


@functools.lru_cache(maxsize=16)
def play_debater(task, judge_fn, kind: str, simulations: int = 0):
    """The AI debater ``kind`` ("expert" or "search": mctx Gumbel search with the judge as leaf
    value, ``simulations`` per move), with its jitted ``select``; made once per settings."""
    import jax

    from debate.core.debaters import mcts_debater
    from debate.tasks.quote.api import expert_debater

    if kind == AI_EXPERT:
        debater = expert_debater(task)
    elif kind == AI_SEARCH:
        debater = mcts_debater(task, judge_fn, int(simulations), root_tie_break=True)  # sentence order means nothing
    else:
        raise ValueError(f"unknown AI debater {kind!r}; choose {AI_EXPERT!r} or {AI_SEARCH!r}.")
    return debater, jax.jit(debater.select)


@dataclass
class QuoteTurn:
    index: int
    player: int
    sentence: int  # 0-based index in the passage
    text: str
    judge_probs: list[float] = field(default_factory=list)  # the judge's belief in each claim after the turn


class LiveQuoteDebate:
    """One quote debate played move by move (batch 1); a person may quote for one side.

    ``human_role`` is "honest", "liar" or None (AI against AI). Moves are checked in Python first (a
    refused move changes nothing and says why in one sentence), then applied with the task's jitted
    ``step``; the judge's belief is recorded after every turn. ``to_transcript`` writes the finished
    game with ``debate.tasks.quote.records.quote_games_to_transcripts``, like every quote debate."""

    def __init__(self, task, judge: TextJudge, question, *, first_player: int = HONEST, human_role: str | None = "honest",
                 ai_debater: str = AI_EXPERT, simulations: int = 16, seed: int = 0, human_name: str = "human",
                 meta: dict | None = None):
        import jax
        import jax.numpy as jnp

        from debate.tasks.quote import data

        if first_player not in (HONEST, LIAR):
            raise ValueError(f"first_player must be {HONEST} (honest) or {LIAR} (liar), got {first_player!r}.")
        if human_role not in ("honest", "liar", None):
            raise ValueError(f"human_role must be 'honest', 'liar' or None, got {human_role!r}.")
        if task.num_quotes > len(question.sentences):
            raise ValueError(f"K={task.num_quotes} is more than the {len(question.sentences)} sentences of this passage; "
                             f"choose K <= {len(question.sentences)}.")
        self.task, self.judge, self.question = task, judge, question
        self.judge_fn, self.judge_params, self.judge_name = judge.judge_fn, judge.params, judge.name
        self.instance = data.instances_of([question], judge.embed, task)
        self.label = int(question.correct)
        self.liar_claim = int(self.instance.liar_claim[0])
        self.first_player, self.human_role = int(first_player), human_role
        self.human_player = None if human_role is None else ROLES.index(human_role)
        self.human_name = (human_name or "human").strip() or "human"
        self.seed, self.instance_id, self.meta = int(seed), question.id, dict(meta or {})
        self.id = uuid.uuid4().hex
        self._ai = play_debater(task, judge.judge_fn, ai_debater, int(simulations) if ai_debater == AI_SEARCH else 0)
        self._key = jax.random.key(self.seed)
        self._fns = _game_fns(task, judge.judge_fn)
        self.state = self._fns.init(self.instance, jnp.int32(self.first_player))
        self.history: list[QuoteTurn] = []
        self._evaluate()

    # ----------------------------------------------------------------- reading the game
    @property
    def sentences(self) -> tuple[str, ...]:
        return tuple(self.question.sentences)

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(self.question.options)

    @property
    def claims(self) -> list[int]:
        return [self.label, self.liar_claim]

    @property
    def finished(self) -> bool:
        return bool(self.state.terminated[0])

    @property
    def turn(self) -> int:
        return int(self.state.turn[0])

    @property
    def num_turns(self) -> int:
        return int(self.task.num_quotes)

    def to_move(self) -> int:
        return int(self.state.current_player[0])

    def is_human_turn(self) -> bool:
        return not self.finished and self.human_player is not None and self.to_move() == self.human_player

    def debater_name(self, player: int) -> str:
        return f"human:{self.human_name}" if player == self.human_player else self._ai[0].name

    @property
    def debater_names(self) -> tuple[str, str]:
        return (self.debater_name(HONEST), self.debater_name(LIAR))

    def claim_text(self, claim: int | None) -> str:
        """What a claim says, for people: the option in quotation marks."""
        return "none" if claim is None else f"“{self.options[int(claim)]}”"

    def quoted(self) -> dict[int, QuoteTurn]:
        """The turn that quoted each quoted sentence."""
        return {t.sentence: t for t in self.history}

    def legal_sentences(self) -> list[int]:
        """0-based indices of the sentences the player to move may quote now."""
        import numpy as np

        return [int(i) for i in np.flatnonzero(np.asarray(self.state.legal_action_mask[0]))]

    def judge_probs(self) -> list[float]:
        return list(self._claim_probs)

    def honest_margin(self) -> float:
        return self._margin

    def verdict(self) -> dict | None:
        """At the end: the winner, the option the judge decides for and the margin."""
        if not self.finished:
            return None
        winner = HONEST if self._margin > 0 else LIAR
        return {"winner": winner, "winner_role": ROLES[winner], "verdict_claim": self.claims[winner],
                "honest_margin": self._margin, "judge_probs": self.judge_probs()}

    def last_search_snapshot(self):
        return None  # the Game-tree page draws sparse-pixel searches only

    # ----------------------------------------------------------------- moves
    def _evaluate(self) -> None:
        import jax
        import numpy as np

        logits, probs, margin = jax.device_get(self._fns.evaluate(self.judge_params, self.state))
        self._logits = np.asarray(logits[0], np.float64)
        self._claim_probs = [float(p) for p in probs[0]]
        self._margin = float(margin[0])

    def _apply(self, sentence: int) -> int:
        import jax.numpy as jnp

        player, before = self.to_move(), self.turn
        self.state = self._fns.step(self.state, jnp.asarray([sentence], jnp.int32))
        if self.turn != before + 1:
            raise RuntimeError(f"the game did not accept sentence {sentence}; this is a bug in app.views.quote.")
        self._evaluate()
        self.history.append(QuoteTurn(index=before, player=player, sentence=int(sentence),
                                      text=self.sentences[sentence], judge_probs=self.judge_probs()))
        return int(sentence)

    def check_human_move(self, sentence) -> int:
        """The sentence (0-based) if the person may quote it now, else ``ValueError`` (one sentence)."""
        if self.human_player is None:
            raise ValueError("Nobody quotes by hand in this game: it is AI against AI.")
        if self.finished:
            raise ValueError("The debate is over: start a new game to play again.")
        if not self.is_human_turn():
            raise ValueError(f"It is not your turn: the AI ({ROLES[self.to_move()]}) quotes next.")
        try:
            sentence = int(sentence)
        except (TypeError, ValueError):
            raise ValueError(f"A sentence is named by its number, got {sentence!r}.") from None
        n = len(self.sentences)
        if not 0 <= sentence < n:
            raise ValueError(f"Sentence {sentence + 1} does not exist: the passage has sentences 1..{n}.")
        earlier = self.quoted().get(sentence)
        if earlier is not None:
            who = "you" if earlier.player == self.human_player else f"the AI ({ROLES[earlier.player]})"
            raise ValueError(f"Sentence {sentence + 1} was already quoted by {who} on turn {earlier.index + 1}; "
                             "pick a sentence not quoted yet.")
        return sentence

    def human_move(self, sentence) -> int:
        """Quote ``sentence`` (0-based) for the person; ``ValueError`` (nothing changed) if they may not."""
        return self._apply(self.check_human_move(sentence))

    def ai_move(self) -> int:
        """The AI to move picks its sentence (the expert's rule or one jitted search) and quotes it."""
        import jax

        if self.finished:
            raise ValueError("The debate is over: start a new game to play again.")
        if self.is_human_turn():
            raise ValueError(f"It is the person's turn ({ROLES[self.to_move()]}), not the AI's.")
        _, select = self._ai
        sentence = int(select(self.judge_params, jax.random.fold_in(self._key, self.turn), self.state)[0])
        if sentence not in self.legal_sentences():
            raise RuntimeError(f"the AI debater {self._ai[0].name} chose sentence {sentence}, which is not legal.")
        return self._apply(sentence)

    def score_verdict(self, chosen_player: int, guess: int | None = None) -> dict:
        """A person's verdict on the finished game (they say ``chosen_player`` is right), with the truth
        and the model judge's verdict, in the form the Play page shows and stores."""
        if not self.finished:
            raise ValueError("The debate is not over yet: judge it when all quotes are made.")
        if chosen_player not in (HONEST, LIAR):
            raise ValueError(f"Choose one of the two debaters (player {HONEST} or {LIAR}), got {chosen_player!r}.")
        verdict = self.verdict()
        return {"chosen_player": int(chosen_player), "verdict_claim": self.claims[chosen_player],
                "correct": chosen_player == HONEST, "truth": self.label, "model_winner": verdict["winner"],
                "model_claim": verdict["verdict_claim"], "model_correct": verdict["winner"] == HONEST}

    # ----------------------------------------------------------------- records
    def default_protocol(self) -> str:
        return f"debate_{ROLES[self.first_player]}_first"

    def to_transcript(self, protocol: str | None = None, experiment: str | None = None):
        """The finished game as a validated quote transcript whose id is the game's id."""
        if not self.finished:
            raise ValueError(f"the debate is not finished ({self.turn} of {self.num_turns} quotes made); play it to "
                             "the end first.")
        return self._transcript(protocol, experiment)

    def board_transcript(self):
        """The game so far as a transcript: what ``QuoteRenderer`` draws the judge's view from."""
        return self._transcript(None, None)

    def _transcript(self, protocol, experiment):
        import numpy as np

        from debate.core.runner import Games
        from debate.tasks.quote.records import quote_games_to_transcripts

        turns = self.history
        games = Games(dict(
            claims=np.array([self.claims], np.int32), first_player=np.array([self.first_player]),
            actions=np.array([[t.sentence for t in turns]], np.int32).reshape(1, len(turns)),
            players=np.array([[t.player for t in turns]], np.int32).reshape(1, len(turns)),
            claim_probs=np.array([[t.judge_probs for t in turns]], np.float64).reshape(1, len(turns), 2),
            final_logits=self._logits[None], honest_margin=np.array([self._margin])))
        transcript = quote_games_to_transcripts(games, [self.question], self.task, protocol or self.default_protocol(),
                                                self.debater_names, self.judge_name, self.seed, experiment)[0]
        transcript.id = self.id
        transcript.meta.update({"mode": "ai-vs-ai" if self.human_player is None else "human-vs-ai",
                                "human_role": self.human_role, "num_quotes": self.num_turns, "source": "app",
                                **self.meta})
        return transcript

