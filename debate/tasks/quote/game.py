"""The quote game: two debaters who can read a hidden passage quote its sentences to a judge who
cannot, each arguing for one answer option of a question about it.

A move quotes one not-yet-quoted sentence (action = sentence index); ``num_quotes`` K quotes in all,
alternating, either side first (consultancy: ``QuoteConsultancyTask``, one side quoting alone). A
quote is verified by construction: the judge sees exactly that sentence and its position in the
passage, and who quoted it, never the rest. Pure, batched and ``jax.jit``-able like every task
(``debate.core.task``); ``step`` is a no-op on finished games and illegal moves.

The judge never reads text inside the game: each instance carries precomputed sentence, question
and option embeddings (from any encoder, ``judges.text_encoders``), so one judge evaluation inside
search costs a small network over K + 2 vectors, not a transformer pass over the passage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

HONEST, LIAR = 0, 1
NUM_PLAYERS = 2
NO_QUOTE = -1


@struct.dataclass
class Instance:
    """What one game starts from (every leaf [B, ...])."""

    sentences: jax.Array  # [B, S, D] float32 sentence embeddings (zeros past the passage's end)
    sentence_valid: jax.Array  # [B, S] bool, True for the passage's sentences
    question: jax.Array  # [B, D] question embedding
    options: jax.Array  # [B, O, D] option embeddings
    label: jax.Array  # [B] int32, the correct option
    liar_claim: jax.Array  # [B] int32, the wrong option the liar argues
    supporting: jax.Array  # [B, S] bool, sentences that prove the answer (the expert's honest quotes)
    misleading: jax.Array  # [B, S] bool, true sentences that make the liar's option look right
    question_number: jax.Array | None = None  # [B] int32, the question's number in this process (data.question_by_number)


@struct.dataclass
class State:
    sentences: jax.Array
    sentence_valid: jax.Array
    question: jax.Array
    options: jax.Array
    supporting: jax.Array
    misleading: jax.Array
    label: jax.Array  # [B]
    claims: jax.Array  # [B, 2] option argued by each player
    quoted_by: jax.Array  # [B, S] int32 player who quoted each sentence, -1 if not quoted
    quotes: jax.Array  # [B, K] int32 sentence of each quote in order, NO_QUOTE where not yet made
    legal_action_mask: jax.Array  # [B, S] bool
    current_player: jax.Array  # [B] int32
    first_player: jax.Array  # [B] int32
    turn: jax.Array  # [B] int32
    terminated: jax.Array  # [B] bool


@struct.dataclass
class JudgeView:
    """What a quote judge sees: the question, the options, and each quote with its position in the
    passage and the option its quoter argues (``side``; -1 for a quote nobody argued with)."""

    question: jax.Array  # [B, D]
    options: jax.Array  # [B, O, D]
    quotes: jax.Array  # [B, K, D] embeddings of the quoted sentences (zeros where none)
    position: jax.Array  # [B, K] int32 sentence index of each quote (0 where none)
    side: jax.Array  # [B, K] int32 option argued by the quoter, -1 where none
    valid: jax.Array  # [B, K] bool


@dataclass(frozen=True)
class QuoteTask:
    """Static configuration; the methods are pure functions of arrays."""

    num_quotes: int = 4  # K, quotes by both sides together
    max_sentences: int = 64  # S, the action space (passages are padded to it)
    dim: int = 64  # D, the embedding width the instances carry
    num_options: int = 2  # O
    encoder: str = ""  # what made the embeddings ("hashed": rebuilt exactly on replay; else recorded only)

    name = "quote"
    player_teams = (HONEST, LIAR)

    def __post_init__(self):
        if self.num_quotes < 1:
            raise ValueError(f"num_quotes must be at least 1 (got {self.num_quotes}).")
        if self.num_quotes > self.max_sentences:
            raise ValueError(f"num_quotes {self.num_quotes} is more than the {self.max_sentences} sentences a "
                             "passage can have; pass fewer quotes.")
        if self.num_options < 2:
            raise ValueError(f"a question needs at least 2 options (got {self.num_options}).")

    @property
    def num_actions(self) -> int:
        return self.max_sentences

    @property
    def num_turns(self) -> int:
        return self.num_quotes

    @property
    def num_classes(self) -> int:
        """Claims are options: the judge scores ``num_options`` of them."""
        return self.num_options

    # ------------------------------------------------------------------ game
    def init(self, instance: Instance, first_player) -> State:
        valid = jnp.asarray(instance.sentence_valid, bool)
        batch = valid.shape[0]
        label = jnp.asarray(instance.label, jnp.int32)
        first = jnp.broadcast_to(jnp.asarray(first_player, jnp.int32), (batch,))
        return State(
            sentences=jnp.asarray(instance.sentences, jnp.float32), sentence_valid=valid,
            question=jnp.asarray(instance.question, jnp.float32), options=jnp.asarray(instance.options, jnp.float32),
            supporting=jnp.asarray(instance.supporting, bool), misleading=jnp.asarray(instance.misleading, bool),
            label=label, claims=jnp.stack([label, jnp.asarray(instance.liar_claim, jnp.int32)], axis=1),
            quoted_by=jnp.full(valid.shape, -1, jnp.int32), quotes=jnp.full((batch, self.num_quotes), NO_QUOTE, jnp.int32),
            legal_action_mask=valid, current_player=first, first_player=first,
            turn=jnp.zeros((batch,), jnp.int32), terminated=~valid.any(axis=1))

    def next_player(self, state: State, active) -> jax.Array:
        return jnp.where(active, (state.current_player + 1) % NUM_PLAYERS, state.current_player)

    def step(self, state: State, action) -> State:
        action = jnp.asarray(action, jnp.int32)
        b = jnp.arange(state.turn.shape[0])
        in_range = (action >= 0) & (action < self.num_actions)
        action = jnp.clip(action, 0, self.num_actions - 1)
        active = state.legal_action_mask[b, action] & in_range & ~state.terminated
        quoted_by = state.quoted_by.at[b, action].set(jnp.where(active, state.current_player, state.quoted_by[b, action]))
        slot = jnp.minimum(state.turn, self.num_quotes - 1)
        quotes = state.quotes.at[b, slot].set(jnp.where(active, action, state.quotes[b, slot]))
        turn = state.turn + active
        return self._after(state, quoted_by, quotes, self.next_player(state, active), turn, state.terminated)

    def _after(self, state, quoted_by, quotes, current_player, turn, terminated) -> State:
        legal = state.sentence_valid & (quoted_by < 0)
        terminated = terminated | (turn >= self.num_quotes) | ~legal.any(axis=1)
        return state.replace(quoted_by=quoted_by, quotes=quotes, current_player=current_player, turn=turn,
                             terminated=terminated, legal_action_mask=legal & ~terminated[:, None])

    # ------------------------------------------- compact states for search trees
    def split_static(self, state: State):
        moving = (state.quoted_by.astype(jnp.int8), state.quotes.astype(jnp.int16), state.current_player, state.turn,
                  state.terminated)
        return state, moving

    def merge_static(self, static: State, moving) -> State:
        quoted_by, quotes, current_player, turn, terminated = moving
        return self._after(static, quoted_by.astype(jnp.int32), quotes.astype(jnp.int32), current_player, turn,
                           terminated)

    # ------------------------------------------- exact game trees
    def state_key(self, state: State) -> jax.Array:
        """Who quoted each sentence, the player to move, and whether it is over: the judge reads
        quotes as a set (with positions and sides), so the order they came in does not matter."""
        return jnp.concatenate([state.quoted_by, state.current_player[:, None], state.terminated[:, None].astype(jnp.int32)],
                               axis=1)

    def tree_size_bound(self, state: State, game_index: int = 0) -> int:
        if bool(state.terminated[game_index]):
            return 1
        n = int(jnp.sum(state.legal_action_mask[game_index]))
        left = max(0, self.num_quotes - int(state.turn[game_index]))
        return sum(math.comb(n, d) * 2 ** d for d in range(min(left, n) + 1))

    # ------------------------------------------- what the judge sees
    def judge_view(self, state: State) -> JudgeView:
        valid = state.quotes >= 0
        index = jnp.maximum(state.quotes, 0)
        quotes = jnp.take_along_axis(state.sentences, index[:, :, None], axis=1) * valid[:, :, None]
        quoter = jnp.take_along_axis(state.quoted_by, index, axis=1)
        side = jnp.where(valid, jnp.take_along_axis(state.claims, jnp.maximum(quoter, 0), axis=1), -1)
        return JudgeView(question=state.question, options=state.options, quotes=quotes,
                         position=jnp.where(valid, state.quotes, 0), side=side, valid=valid)

    def honest_margin(self, state: State, logits) -> jax.Array:
        """Judge logit of the correct option minus that of the liar's option."""
        pick = lambda c: jnp.take_along_axis(logits, c[:, None], axis=1)[:, 0]  # noqa: E731
        return pick(state.claims[:, HONEST]) - pick(state.claims[:, LIAR])

    def claim_probs(self, state: State, logits) -> jax.Array:
        honest = jax.nn.sigmoid(self.honest_margin(state, logits))
        return jnp.stack([honest, 1.0 - honest], axis=1)

    def record_extras(self, final: State, actions) -> dict:
        return {"quotes": final.quotes}


@dataclass(frozen=True)
class QuoteConsultancyTask(QuoteTask):
    """One consultant (``first_player``) makes every quote: as many as both debaters together, so
    twice what one debater gets."""

    name = "quote_consultancy"

    def next_player(self, state: State, active) -> jax.Array:
        return state.current_player

    @classmethod
    def of(cls, task: QuoteTask) -> "QuoteConsultancyTask":
        return cls(num_quotes=task.num_quotes, max_sentences=task.max_sentences, dim=task.dim,
                   num_options=task.num_options, encoder=task.encoder)


def quotes_view(sentences, question, options, quote_index, side, valid) -> JudgeView:
    """A judge view for arbitrary quotes (no game): training on random quote subsets, baselines."""
    quotes = jnp.take_along_axis(sentences, jnp.maximum(quote_index, 0)[:, :, None], axis=1) * valid[:, :, None]
    return JudgeView(question=question, options=options, quotes=quotes, position=jnp.where(valid, quote_index, 0),
                     side=jnp.where(valid, side, -1), valid=valid)
