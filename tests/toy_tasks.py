"""A three-player toy task written as a task package is (the README's "Adding a task" example).

Five face-down cards each vote for one of three claims; the claim with the most votes is true (ties
go to the lowest). Three players on three teams argue the claims ``[truth, truth+1, truth+2] mod 3``
and take turns turning one card face up. After three cards the judge, who sees only the face-up
cards, names a claim. One module serves as the package (its api and its renderer); register it with

    debate.tasks.register("toy_vote", "toy_tasks"); debate.records.rendering.register(toy_tasks.RENDERER)
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from debate.records.rendering import TaskRenderer
from debate.records.transcript import Transcript, Turn, players_from_roles

NAME = "toy_vote"
ROLES = ("honest", "liar-1", "liar-2")  # the role of teams 0, 1 and 2 (team 0 argues the truth)
DEBATER_KINDS: dict = {}  # only the generic debaters (random, greedy; mcts needs two teams)


@struct.dataclass
class Instance:
    cards: jax.Array  # [B, A] int32, the claim (0..2) each card votes for


@struct.dataclass
class State:
    cards: jax.Array  # [B, A] int32
    claims: jax.Array  # [B, 3] int32, the claim of each team
    revealed_by: jax.Array  # [B, A] int32, the player who turned each card, -1 while face down
    legal_action_mask: jax.Array  # [B, A] bool
    current_player: jax.Array  # [B] int32
    turn: jax.Array  # [B] int32
    terminated: jax.Array  # [B] bool


@dataclass(frozen=True)  # frozen: a task is a hashable static configuration
class ToyVoteTask:
    num_cards: int = 5
    num_reveals: int = 3
    name = NAME
    player_teams = (0, 1, 2)  # player i is on team i and argues claim i
    num_classes = 3  # the judge's logits are over the three claims

    @property
    def num_actions(self) -> int:  # action i turns card i
        return self.num_cards

    @property
    def num_turns(self) -> int:
        return self.num_reveals

    def init(self, instance: Instance, first_player) -> State:
        cards = jnp.asarray(instance.cards, jnp.int32)
        votes = jax.nn.one_hot(cards, 3, dtype=jnp.int32).sum(axis=1)  # [B, 3]
        claims = (jnp.argmax(votes, axis=1)[:, None] + jnp.arange(3)) % 3
        zeros, hidden = jnp.zeros(cards.shape[:1], jnp.int32), jnp.full(cards.shape, -1, jnp.int32)
        return State(cards=cards, claims=claims.astype(jnp.int32), revealed_by=hidden,
                     legal_action_mask=self._legal(hidden, zeros > 0), turn=zeros, terminated=zeros > 0,
                     current_player=jnp.broadcast_to(jnp.asarray(first_player, jnp.int32), zeros.shape))

    def _legal(self, revealed_by, terminated):  # face-down cards, none once the game is over
        return (revealed_by < 0) & ~terminated[:, None]

    def step(self, state: State, action) -> State:
        action = jnp.asarray(action, jnp.int32)
        rows, card = jnp.arange(action.shape[0]), jnp.clip(action, 0, self.num_actions - 1)
        # a no-op for an illegal or out-of-range action and for a finished game (its mask is empty)
        active = (action == card) & state.legal_action_mask[rows, card]
        revealed_by = state.revealed_by.at[rows, card].set(
            jnp.where(active, state.current_player, state.revealed_by[rows, card]))
        turn = state.turn + active
        terminated = state.terminated | (turn >= self.num_reveals)
        return state.replace(revealed_by=revealed_by, turn=turn, terminated=terminated,
                             legal_action_mask=self._legal(revealed_by, terminated),
                             current_player=jnp.where(active, (state.current_player + 1) % 3, state.current_player))

    def judge_view(self, state: State) -> jax.Array:  # [B, A, 3]: the face-up cards' votes, one-hot
        return jax.nn.one_hot(state.cards, 3) * (state.revealed_by >= 0)[..., None]

    def claim_probs(self, state: State, logits) -> jax.Array:  # [B, 3]: p(claim of team t)
        return jnp.take_along_axis(jax.nn.softmax(logits, axis=-1), state.claims, axis=1)

    def honest_margin(self, state: State, logits) -> jax.Array:  # the truth's logit minus the best lie's
        claim_logits = jnp.take_along_axis(logits, state.claims, axis=1)
        return claim_logits[:, 0] - claim_logits[:, 1:].max(axis=1)

    def split_static(self, state: State):  # search trees store only what moves change
        return state, (state.revealed_by, state.current_player, state.turn, state.terminated)

    def merge_static(self, static: State, moving) -> State:
        revealed_by, current_player, turn, terminated = moving
        return static.replace(revealed_by=revealed_by, current_player=current_player, turn=turn,
                              terminated=terminated, legal_action_mask=self._legal(revealed_by, terminated))

    def record_extras(self, final: State, actions) -> dict:
        return {"claims": final.claims}


# ------------------------------------------------------------------ the api module's functions
Task = ToyVoteTask


def make_task(**config) -> ToyVoteTask:
    return ToyVoteTask(**config)


def example(key, num_games: int, task: ToyVoteTask | None = None):
    task = task or ToyVoteTask()
    return task, Instance(cards=np.asarray(jax.random.randint(key, (num_games, task.num_cards), 0, 3), np.int32))


def task_of(transcript) -> ToyVoteTask:
    return ToyVoteTask(num_cards=len(transcript.instance["cards"]), num_reveals=transcript.instance["num_reveals"])


def instance_of(transcript) -> Instance:
    return Instance(cards=jnp.asarray([transcript.instance["cards"]], jnp.int32))


def check_turn(task, state, turn, transcript) -> None:
    expected = {"card": turn.action, "vote": int(state.cards[0, turn.action])}
    if turn.revealed != expected:
        raise ValueError(f"turn {turn.index + 1} records {turn.revealed} but replaying it gives {expected}.")


def to_transcripts(task, games, *, protocol, debaters, judge, seed, instance_ids=None, experiment=None):
    out = []
    for g in range(len(games)):
        cards, claims, probs = games.cards[g], games.claims[g].tolist(), games.claim_probs[g]
        turns = [Turn(index=t, player=int(games.players[g, t]), action=int(a), judge_probs=probs[t].tolist(),
                      revealed={"card": int(a), "vote": int(cards[a])}) for t, a in enumerate(games.actions[g])]
        winner = int(np.argmax(probs[-1]))  # the team whose claim the judge favours at the end
        out.append(Transcript(
            task=NAME, instance_id=instance_ids[g] if instance_ids is not None else f"toy:{g}", protocol=protocol,
            claims=claims, players=players_from_roles(ROLES, debaters, task.player_teams), judge=judge,
            first_player=int(games.first_player[g]), turns=turns, winner=winner, verdict_claim=claims[winner],
            ground_truth=claims[0], seeds={"experiment_seed": int(seed)}, experiment=experiment,
            instance={"cards": cards.tolist(), "num_reveals": task.num_reveals}).validate())
    return out


# ------------------------------------------------------------------ the renderer (no jax needed)
class ToyVoteRenderer(TaskRenderer):
    task = NAME
    instructions = "Three debaters each argue for a claim and turn cards face up; most cards vote for the truth."

    def turn_text(self, transcript, turn, names=None):
        who = self.role_name(transcript, turn.player) if names is None else names[turn.player]
        return f"{who} turns card {turn.revealed['card']}: a vote for claim {turn.revealed['vote']}"

    def describe_transcript(self, transcript, **options):
        lines = [f"turn {t.index + 1}: {self.turn_text(transcript, t)}" for t in transcript.turns]
        return "\n".join([self.judge_question(transcript), *lines,
                          f"verdict: claim {transcript.verdict_claim} (truth: {transcript.ground_truth})"])

    def judge_question(self, transcript):
        return "Which claim (0, 1 or 2) do most of the cards vote for?"

    def final_evidence(self, transcript):
        return ", ".join(f"card {t.revealed['card']} votes {t.revealed['vote']}" for t in transcript.turns)


RENDERER = ToyVoteRenderer()
