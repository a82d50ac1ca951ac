"""The quote judge: a small trainable network that reads the question, the options and the quoted
sentences (as embeddings, with their positions in the passage and the option each quoter argues)
and scores every option; it never reads the passage.

Per option, a short sequence ``[question, option, quote_1 .. quote_K]`` goes through a few
pre-norm self-attention blocks, and the option token's output is that option's logit. Each quote
token adds what a judge needs to weigh it: the passage position (a learned embedding: "the latest
move decides" is a comparison of positions), whether its quoter argues this option, another one or
none, and its cosine similarity to the option and to the question. Options are scored by the same
weights and see each other only through the sides, so the judge is equivariant in option order:
its scores under both orders are the same, and the mean over orders that the protocols take is
exact (tests check it).

Encoders: ``words`` (``judges.word_encoder``, trained from scratch with this head, part of the
checkpoint) or ``minilm`` (frozen pretrained embeddings precomputed outside, ``judges.minilm``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from judges.word_encoder import WordEncoder

KIND_QUESTION, KIND_OPTION, KIND_FOR, KIND_AGAINST, KIND_UNARGUED = range(5)
ENCODERS = ("words", "minilm")


@dataclass(frozen=True)
class QuoteJudgeConfig:
    dim: int = 64  # D, width of the sentence embeddings the judge reads
    width: int = 64
    heads: int = 4
    layers: int = 2
    max_sentences: int = 64
    num_quotes: int = 4  # K of the random quote subsets it is trained on (recorded)
    encoder: str = "words"
    vocab_size: int = 0  # the words encoder's vocabulary (0 for a frozen encoder)
    max_words: int = 16  # words per sentence the words encoder reads

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODERS)}.")
        if self.encoder == "words" and self.vocab_size < 3:
            raise ValueError("the words encoder needs its vocabulary size (build the tokenizer first).")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be a multiple of heads {self.heads}.")

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nnx.Module):
    def __init__(self, width: int, heads: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(width, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(num_heads=heads, in_features=width, decode=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(width, rngs=rngs)
        self.up = nnx.Linear(width, 2 * width, rngs=rngs)
        self.down = nnx.Linear(2 * width, width, rngs=rngs)

    def __call__(self, x, mask):
        x = x + self.attention(self.norm1(x), mask=mask)
        return x + self.down(jax.nn.gelu(self.up(self.norm2(x))))


def _unit(x):
    # a zero vector (an unseen quote slot) stays zero with a finite gradient: the norm's own gradient
    # is NaN at zero, so the square root only sees positive inputs (the double-where trick)
    square = jnp.sum(x * x, axis=-1, keepdims=True)
    norm = jnp.where(square > 0, jnp.sqrt(jnp.where(square > 0, square, 1.0)), 0.0)
    return x / jnp.maximum(norm, 1e-6)


class QuoteJudge(nnx.Module):
    def __init__(self, config: QuoteJudgeConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.encoder = WordEncoder(config.vocab_size, config.dim, rngs=rngs) if config.encoder == "words" else None
        self.project = nnx.Linear(config.dim, config.width, rngs=rngs)
        self.kind = nnx.Embed(5, config.width, rngs=rngs)
        self.position = nnx.Embed(config.max_sentences, config.width, rngs=rngs)
        self.match = nnx.Linear(2, config.width, rngs=rngs)
        self.blocks = nnx.List([Block(config.width, config.heads, rngs=rngs) for _ in range(config.layers)])
        self.norm = nnx.LayerNorm(config.width, rngs=rngs)
        self.out = nnx.Linear(config.width, 1, rngs=rngs)

    def embed(self, x):
        """Sentence embeddings from word ids (the words encoder) or, already embedded, unchanged."""
        if jnp.issubdtype(x.dtype, jnp.integer):
            if self.encoder is None:
                raise ValueError("this judge reads precomputed embeddings, not word ids.")
            return self.encoder(x)
        return x

    def __call__(self, view) -> jnp.ndarray:
        """[B, O] option logits for a ``debate.tasks.quote.game.JudgeView``."""
        question, options, quotes = _unit(view.question), _unit(view.options), _unit(view.quotes)
        b, o, _ = options.shape
        k = quotes.shape[1]
        option_ids = jnp.arange(o)[None, :, None]
        side = view.side[:, None, :]
        kind = jnp.where(side < 0, KIND_UNARGUED, jnp.where(side == option_ids, KIND_FOR, KIND_AGAINST))  # [B, O, K]
        cos_option = jnp.einsum("bkd,bod->bok", quotes, options)
        cos_question = jnp.einsum("bkd,bd->bk", quotes, question)[:, None, :].repeat(o, axis=1)
        quote_tokens = (self.project(quotes)[:, None] + self.kind(kind)
                        + self.position(jnp.clip(view.position, 0, self.config.max_sentences - 1))[:, None]
                        + self.match(jnp.stack([cos_option, cos_question], axis=-1)))  # [B, O, K, W]
        question_token = (self.project(question) + self.kind(jnp.asarray(KIND_QUESTION)))[:, None, None].repeat(o, axis=1)
        option_tokens = (self.project(options) + self.kind(jnp.asarray(KIND_OPTION)))[:, :, None]
        x = jnp.concatenate([question_token, option_tokens, quote_tokens], axis=2).reshape(b * o, 2 + k, -1)
        present = jnp.concatenate([jnp.ones((b, 2), bool), view.valid], axis=1)
        present = jnp.repeat(present, o, axis=0)  # [B * O, T]
        mask = jnp.broadcast_to(present[:, None, None, :], (b * o, 1, 2 + k, 2 + k))  # keys only: no empty rows
        for block in self.blocks:
            x = block(x, mask)
        return self.out(self.norm(x[:, 1]))[:, 0].reshape(b, o)


def make_quote_judge(config: QuoteJudgeConfig, seed: int = 0) -> QuoteJudge:
    return QuoteJudge(config, rngs=nnx.Rngs(seed))


def quote_judge_function(model: QuoteJudge):
    """``(judge_fn, params)`` for the engine: the head over precomputed embeddings, a pure function
    of arrays (plain ``jax.jit`` over the split state; NOTES.md)."""
    graphdef, state = nnx.split(model)

    def judge_fn(params, view):
        return nnx.merge(graphdef, params)(view)

    return judge_fn, state


def judge_flops(config: QuoteJudgeConfig) -> int:
    """Multiply-adds x 2 of one judge evaluation (O options, K + 2 tokens), for speed reports."""
    t, w, o = config.num_quotes + 2, config.width, 2
    per_block = t * (4 * w * w + 2 * t * w + 4 * w * w)  # q,k,v,out projections; scores and mixing; MLP
    return 2 * o * (t * config.dim * w + config.layers * per_block + w)
