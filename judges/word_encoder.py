"""A sentence encoder trained from scratch: a word-level tokenizer over the texts it is built on and
the mean of learned word vectors.

It needs no download (the quickstart and the default tests use it); its vectors are learned together
with the quote judge (``judges.quote_judge``) and frozen afterwards, when instances carry the
sentence embeddings it computes. The tokenizer is a ``tokenizers`` WordLevel model (lower case,
split on whitespace and punctuation) wrapped as a ``transformers.PreTrainedTokenizerFast``, saved
beside the judge's checkpoint as ``tokenizer.json``.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Iterable

import jax.numpy as jnp
import numpy as np
from flax import nnx

PAD, UNK = "[PAD]", "[UNK]"
TOKENIZER_FILE = "tokenizer.json"


def _pre_tokenizer():
    from tokenizers import normalizers, pre_tokenizers

    return normalizers.Lowercase(), pre_tokenizers.Whitespace()


def build_tokenizer(texts: Iterable[str], max_words: int = 20_000, min_count: int = 1):
    """A word-level ``PreTrainedTokenizerFast`` over the words of ``texts`` (the most frequent
    ``max_words``; id 0 is padding, 1 unknown words)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    normalizer, pre = _pre_tokenizer()
    counts = collections.Counter()
    for text in texts:
        counts.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    words = [w for w, c in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0])) if c >= min_count][:max_words]
    vocab = {PAD: 0, UNK: 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token=UNK, pad_token=PAD)


def save_tokenizer(tokenizer, directory: str | Path) -> None:
    tokenizer.backend_tokenizer.save(str(Path(directory) / TOKENIZER_FILE))


def load_tokenizer(directory: str | Path):
    from transformers import PreTrainedTokenizerFast

    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise ValueError(f"{path} is missing: the words encoder's tokenizer is saved beside its judge; pass the "
                         "directory written by the quote judge's training.")
    return PreTrainedTokenizerFast(tokenizer_file=str(path), unk_token=UNK, pad_token=PAD)


def token_ids(tokenizer, texts: list[str], max_length: int) -> np.ndarray:
    """[N, max_length] int32 word ids, padded with 0 and cut at ``max_length`` words."""
    if not texts:
        return np.zeros((0, max_length), np.int32)
    out = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length, return_tensors="np")
    return np.asarray(out["input_ids"], np.int32)


class WordEncoder(nnx.Module):
    """Mean of learned word vectors (padding left out): ids [..., L] -> [..., D]."""

    def __init__(self, vocab_size: int, dim: int, *, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab_size, dim, embedding_init=nnx.initializers.normal(1.0), rngs=rngs)

    def __call__(self, ids: jnp.ndarray) -> jnp.ndarray:
        present = (ids > 0).astype(jnp.float32)[..., None]
        total = (self.embed(ids) * present).sum(axis=-2)
        return total / jnp.maximum(present.sum(axis=-2), 1.0)
