"""The engine-facing surface of the quote task (the contract is in ``debate.core.task``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from debate.core.debaters import Debater, _masked_logits
from debate.core.runner import Games
from debate.tasks.quote import data
from debate.tasks.quote.game import HONEST, Instance, QuoteConsultancyTask, QuoteTask
from debate.tasks.quote.records import question_of, quote_games_to_transcripts

NAME = QuoteTask.name
Task = QuoteTask


def expert_debater(task: QuoteTask) -> Debater:
    """Quotes from the source's knowledge: the honest expert the sentences that prove the answer,
    the lying expert the true sentences that make its option look right; each the first such
    sentence not yet quoted, else a random one."""

    def select(params, key, state):
        wanted = jnp.where((state.current_player == HONEST)[:, None], state.supporting, state.misleading)
        preferred = wanted & state.legal_action_mask
        noise = jax.random.uniform(key, preferred.shape)
        scores = jnp.where(preferred, 2.0 - jnp.arange(preferred.shape[1]) / preferred.shape[1], noise)
        return jnp.argmax(_masked_logits(state.legal_action_mask, scores), axis=1).astype(jnp.int32)

    return Debater("expert", select)


DEBATER_KINDS = {"expert": lambda task, judge_fn, simulations: expert_debater(task)}


def make_task(**config) -> QuoteTask:
    return QuoteTask(**config)


def example(key: jax.Array, num_games: int, task: QuoteTask | None = None) -> tuple[QuoteTask, Instance]:
    """Easy generated stories (a seed from ``key``) embedded with the hashed word encoder."""
    task = task or QuoteTask(num_quotes=4, max_sentences=16, dim=32, encoder="hashed")
    seed = int(jax.random.randint(key, (), 0, 2**30))
    questions = data.load_questions("stories-easy", num_games, seed=seed)
    return task, data.instances_of(questions, data.hashed_embedder(task.dim), task)


def task_of(transcript) -> QuoteTask:
    inst = transcript.instance
    cls = QuoteConsultancyTask if inst.get("consultancy") else QuoteTask
    return cls(num_quotes=int(inst["num_quotes"]), max_sentences=int(inst["max_sentences"]),
               dim=int(inst.get("dim", 1)), num_options=len(inst["options"]), encoder=str(inst.get("encoder", "")))


def instance_of(transcript) -> Instance:
    """The transcript's question as an instance of one game. With the hashed encoder the embeddings
    are rebuilt exactly; with any other the rules replay on zero embeddings (the judge's values then
    need that encoder: rebuild the instance with ``data.instances_of``)."""
    task = task_of(transcript)
    question = question_of(transcript)
    embed = data.hashed_embedder(task.dim) if task.encoder == "hashed" else (
        lambda texts: np.zeros((len(texts), task.dim), np.float32))
    return data.instances_of([question], embed, task, liar_claims=[transcript.claims[1]])


def check_turn(task: QuoteTask, state, turn, transcript) -> None:
    sentences = transcript.instance["sentences"]
    expected = {"sentence": int(turn.action), "text": sentences[int(turn.action)]}
    got = {k: turn.revealed.get(k) for k in ("sentence", "text")}
    if got != expected:
        raise ValueError(f"turn {turn.index + 1} of transcript {str(transcript.id)[:8]} records {got} but quoting "
                         f"sentence {turn.action} reveals {expected}.")


def to_transcripts(task: QuoteTask, games: Games, *, protocol: str, debaters, judge: str, seed: int,
                   instance_ids=None, experiment: str | None = None) -> list:
    """One validated transcript per game; ``instance_ids`` are the question ids of the games."""
    if instance_ids is not None:
        questions = [data.question_by_id(i) for i in instance_ids]
    elif "question_number" in games.columns:
        questions = [data.question_by_number(n) for n in games.question_number]
    else:
        raise ValueError("quote transcripts need the question of every game: pass instance_ids (the question ids) "
                         "or play instances built by debate.tasks.quote.data.instances_of.")
    return quote_games_to_transcripts(games, questions, task, protocol, tuple(debaters), judge, seed, experiment,
                                      consultancy=isinstance(task, QuoteConsultancyTask))
