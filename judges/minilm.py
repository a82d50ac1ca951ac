"""The all-MiniLM-L6-v2 sentence encoder (sentence-transformers) as Flax NNX modules.

A 6-layer BERT (hidden 384, 12 heads, feed-forward 1536, exact-erf GELU, post-LayerNorm, learned
absolute positions and token types) whose token states are mean-pooled over the attention mask and
L2-normalised, as the model's ``modules.json`` (Transformer, Pooling, Normalize) prescribes. The
weights come from the folder's ``model.safetensors`` (torch names, no ``bert.`` prefix), read with
``safetensors.numpy`` into the abstract state of ``nnx.eval_shape`` and merged; the sizes come from
its ``config.json``; the tokenizer is the folder's ``tokenizer.json`` through transformers.

``MiniLMEncoder.encode`` pads every batch to a fixed number of rows and tokens, so the jitted
forward compiles once per shape. ``reference_encode`` is the same computation in plain numpy,
straight from the safetensors arrays: the tests hold the NNX model to it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from judges.model_files import WEIGHTS, find_model

MODEL_NAME = "all-MiniLM-L6-v2"
#: BERT's position table has 512 rows: longer inputs cannot be encoded.
MAX_POSITIONS_LIMIT = 512


@dataclass(frozen=True)
class EncoderConfig:
    """The sizes of a BERT encoder, from a Hugging Face ``config.json``."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def read_config(folder: Path) -> EncoderConfig:
    """The sizes in ``folder/config.json``; an architecture this module does not implement is refused."""
    raw = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    unsupported = {key: raw.get(key) for key, want in (("hidden_act", "gelu"), ("position_embedding_type", "absolute"))
                   if raw.get(key, want) != want}
    if unsupported or raw.get("model_type", "bert") != "bert":
        raise ValueError(f"{folder}/config.json describes a model this BERT encoder does not implement "
                         f"({unsupported or raw.get('model_type')}); pass the folder of all-MiniLM-L6-v2.")
    return EncoderConfig(vocab_size=raw["vocab_size"], hidden_size=raw["hidden_size"],
                         num_layers=raw["num_hidden_layers"], num_heads=raw["num_attention_heads"],
                         intermediate_size=raw["intermediate_size"], max_positions=raw["max_position_embeddings"],
                         type_vocab_size=raw["type_vocab_size"], layer_norm_eps=raw["layer_norm_eps"])


def check_pooling(folder: Path) -> None:
    """Only mean pooling is implemented: a folder asking for another is refused, not silently misread."""
    path = Path(folder) / "1_Pooling" / "config.json"
    if not path.is_file():
        return  # the hub layout without sentence-transformers files: mean pooling is the model's
    pooling = json.loads(path.read_text(encoding="utf-8"))
    modes = sorted(k.removeprefix("pooling_mode_") for k, v in pooling.items() if k.startswith("pooling_mode_") and v)
    if modes != ["mean_tokens"]:
        raise ValueError(f"{path} asks for pooling {modes}, but only mean pooling is implemented; "
                         "pass the folder of all-MiniLM-L6-v2.")


# ------------------------------------------------------------------------------ the network
class Embeddings(nnx.Module):
    def __init__(self, config: EncoderConfig, *, rngs: nnx.Rngs):
        self.word = nnx.Embed(config.vocab_size, config.hidden_size, rngs=rngs)
        self.position = nnx.Embed(config.max_positions, config.hidden_size, rngs=rngs)
        self.token_type = nnx.Embed(config.type_vocab_size, config.hidden_size, rngs=rngs)
        self.norm = layer_norm(config, rngs)

    def __call__(self, ids: jax.Array, token_types: jax.Array) -> jax.Array:
        positions = jnp.arange(ids.shape[1])
        return self.norm(self.word(ids) + self.position(positions)[None] + self.token_type(token_types))


def layer_norm(config: EncoderConfig, rngs: nnx.Rngs) -> nnx.LayerNorm:
    # the two-pass variance, as torch computes it: E[x^2] - E[x]^2 loses digits at eps 1e-12
    return nnx.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps, use_fast_variance=False, rngs=rngs)


class SelfAttention(nnx.Module):
    def __init__(self, config: EncoderConfig, precision, *, rngs: nnx.Rngs):
        d = config.hidden_size
        self.config, self.precision = config, precision
        self.query, self.key, self.value, self.out = (nnx.Linear(d, d, precision=precision, rngs=rngs) for _ in range(4))

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        batch, length, width = x.shape
        heads = lambda y: y.reshape(batch, length, self.config.num_heads, self.config.head_dim)
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision=self.precision) / math.sqrt(self.config.head_dim)
        # finfo.min rather than -inf: an all-padding row (batch padding) stays finite
        scores = jnp.where(mask[:, None, None, :] > 0, scores, jnp.finfo(scores.dtype).min)
        context = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v, precision=self.precision)
        return self.out(context.reshape(batch, length, width))


class Layer(nnx.Module):
    """One post-LayerNorm BERT block."""

    def __init__(self, config: EncoderConfig, precision, *, rngs: nnx.Rngs):
        self.attention = SelfAttention(config, precision, rngs=rngs)
        self.attention_norm = layer_norm(config, rngs)
        self.intermediate = nnx.Linear(config.hidden_size, config.intermediate_size, precision=precision, rngs=rngs)
        self.output = nnx.Linear(config.intermediate_size, config.hidden_size, precision=precision, rngs=rngs)
        self.output_norm = layer_norm(config, rngs)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = self.attention_norm(x + self.attention(x, mask))
        return self.output_norm(x + self.output(jax.nn.gelu(self.intermediate(x), approximate=False)))


class MiniLM(nnx.Module):
    """BERT encoder + mean pooling (+ L2 normalisation): sentence embeddings [batch, hidden]."""

    def __init__(self, config: EncoderConfig, precision: str | None = "highest", *, rngs: nnx.Rngs):
        self.embeddings = Embeddings(config, rngs=rngs)
        self.layers = nnx.List([Layer(config, precision, rngs=rngs) for _ in range(config.num_layers)])

    def token_states(self, ids: jax.Array, token_types: jax.Array, mask: jax.Array) -> jax.Array:
        x = self.embeddings(ids, token_types)
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def __call__(self, ids: jax.Array, token_types: jax.Array, mask: jax.Array, normalize: bool = True) -> jax.Array:
        pooled = mean_pool(self.token_states(ids, token_types, mask), mask)
        return l2_normalize(pooled) if normalize else pooled


def mean_pool(states, mask):
    """Mean of the states of the real tokens (sentence-transformers clamps the count at 1e-9)."""
    weights = mask[..., None].astype(states.dtype)
    return (states * weights).sum(axis=1) / jnp.maximum(weights.sum(axis=1), 1e-9)


def l2_normalize(x):
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # torch F.normalize's eps


def encoder_flops(config: EncoderConfig, length: int) -> int:
    """FLOPs (multiply-add = 2) of one sentence of ``length`` tokens: the matrix products of every
    layer (Q, K, V, output: 4 d^2 per token; feed-forward: 2 d f per token; scores and weighted
    values: 2 L d per token), times 2. Embedding lookups, LayerNorms, softmax and pooling are left out
    (under 1%)."""
    d, f, layers = config.hidden_size, config.intermediate_size, config.num_layers
    per_token = 4 * d * d + 2 * d * f + 2 * length * d
    return 2 * layers * length * per_token


# ------------------------------------------------------------------------------ the weights
#: torch module names (after ``encoder.layer.N.``) -> NNX path inside ``layers[N]``.
LAYER_PARTS = {
    "attention.self.query": ("attention", "query"),
    "attention.self.key": ("attention", "key"),
    "attention.self.value": ("attention", "value"),
    "attention.output.dense": ("attention", "out"),
    "attention.output.LayerNorm": ("attention_norm",),
    "intermediate.dense": ("intermediate",),
    "output.dense": ("output",),
    "output.LayerNorm": ("output_norm",),
}
EMBEDDING_PARTS = {
    "embeddings.word_embeddings": ("embeddings", "word"),
    "embeddings.position_embeddings": ("embeddings", "position"),
    "embeddings.token_type_embeddings": ("embeddings", "token_type"),
    "embeddings.LayerNorm": ("embeddings", "norm"),
}
#: Stored but unused: the position index buffer and BERT's [CLS] pooler (sentence-transformers mean-pools).
UNUSED = re.compile(r"embeddings\.position_ids|pooler\..*")
LAYER_KEY = re.compile(r"encoder\.layer\.(\d+)\.(.+)")


def nnx_path(torch_key: str) -> tuple[tuple, bool] | None:
    """(NNX state path, transpose?) of a safetensors key; None for the unused ones."""
    if UNUSED.fullmatch(torch_key):
        return None
    module, _, leaf = torch_key.rpartition(".")
    layer = LAYER_KEY.fullmatch(module)
    if layer is not None and layer.group(2) in LAYER_PARTS:
        path = ("layers", int(layer.group(1)), *LAYER_PARTS[layer.group(2)])
    elif module in EMBEDDING_PARTS:
        path = EMBEDDING_PARTS[module]
    else:
        raise ValueError(f"unexpected weight {torch_key!r} in {WEIGHTS}; pass the folder of all-MiniLM-L6-v2.")
    if leaf == "bias":
        return (*path, "bias"), False
    if module.endswith("LayerNorm"):
        return (*path, "scale"), False
    if module.startswith("embeddings."):
        return (*path, "embedding"), False
    return (*path, "kernel"), True  # torch Linear stores [out, in]; NNX kernels are [in, out]


def nested(flat: dict[tuple, np.ndarray]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def weights_by_path(tensors: dict[str, np.ndarray]) -> dict[tuple, np.ndarray]:
    flat = {}
    for key, value in tensors.items():
        mapped = nnx_path(key)
        if mapped is not None:
            path, transpose = mapped
            flat[path] = np.ascontiguousarray(value.T if transpose else value)
    return flat


def flat_paths(tree) -> dict[tuple, tuple]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {tuple(k.key for k in path): tuple(leaf.shape) for path, leaf in leaves}


def load_model(folder: Path, config: EncoderConfig, precision: str | None = "highest") -> MiniLM:
    """The NNX model with the folder's weights: every parameter filled once, with its exact shape."""
    from safetensors.numpy import load_file

    abstract = nnx.eval_shape(lambda: MiniLM(config, precision, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    weights = weights_by_path(load_file(str(Path(folder) / WEIGHTS)))
    want, have = flat_paths(state.to_pure_dict()), {path: tuple(v.shape) for path, v in weights.items()}
    if want != have:
        differ = sorted(set(want) ^ set(have), key=str) or [p for p in want if want[p] != have[p]]
        raise ValueError(f"{folder}/{WEIGHTS} does not fit {config} (first mismatch: {differ[0]}); "
                         "pass the folder of all-MiniLM-L6-v2.")
    nnx.replace_by_pure_dict(state, nested({path: jnp.asarray(v) for path, v in weights.items()}))
    return nnx.merge(graphdef, state)


# ------------------------------------------------------------------------------ tokenizer
def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def check_texts(texts: Sequence[str], max_length: int) -> list[str]:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a list of strings (wrap a single text in a list: [text]).")
    if not 2 <= max_length <= MAX_POSITIONS_LIMIT:
        raise ValueError(f"max_length {max_length} is out of range; pass 2 to {MAX_POSITIONS_LIMIT} tokens "
                         "([CLS] and [SEP] count).")
    return list(texts)


def tokenize(tokenizer, texts: list[str], max_length: int, fixed: bool) -> dict[str, np.ndarray]:
    """int32 ids, token types and mask; ``fixed``: every row padded to ``max_length`` (one shape)."""
    batch = tokenizer(texts, padding="max_length" if fixed else True, truncation=True, max_length=max_length,
                      return_tensors="np", return_token_type_ids=True, return_attention_mask=True)
    return {key: np.asarray(batch[key], np.int32) for key in ("input_ids", "token_type_ids", "attention_mask")}


def rows_for(count: int, batch_size: int) -> int:
    """Rows per compiled batch: ``batch_size``, or the next power of two for fewer texts (so one
    query does not pay for 64 rows; at most log2(batch_size) + 1 shapes compile)."""
    return batch_size if count >= batch_size else min(batch_size, 1 << max(count - 1, 0).bit_length())


def pad_rows(arrays: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """Rows of padding (id 0, mask 0) up to ``rows``; their embeddings are dropped."""
    return {k: np.pad(v, ((0, rows - v.shape[0]), (0, 0))) for k, v in arrays.items()}


# ------------------------------------------------------------------------------ the encoder
def _embed(graphdef, state, ids, token_types, mask, *, normalize: bool):
    return nnx.merge(graphdef, state)(ids, token_types, mask, normalize)


class MiniLMEncoder:
    """Sentences -> unit vectors [N, 384] (float32) with all-MiniLM-L6-v2."""

    def __init__(self, folder: Path | str, *, normalize: bool = True, precision: str | None = "highest"):
        self.folder = Path(folder)
        self.config = read_config(self.folder)
        check_pooling(self.folder)
        self.normalize = normalize
        self.name = MODEL_NAME
        self.dim = self.config.hidden_size
        self.tokenizer = load_tokenizer(self.folder)
        graphdef, self.state = nnx.split(load_model(self.folder, self.config, precision))
        # plain jax.jit over the split state: nnx.jit re-walks the module graph on every call
        self._embed = jax.jit(partial(_embed, graphdef, normalize=normalize))

    def encode(self, texts: Sequence[str], batch_size: int = 64, max_length: int = 32) -> np.ndarray:
        """Embeddings [len(texts), dim]; texts longer than ``max_length`` tokens are truncated."""
        texts = check_texts(texts, max_length)
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size} is out of range; pass 1 or more.")
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        tokens = tokenize(self.tokenizer, texts, max_length, fixed=True)
        rows = rows_for(len(texts), batch_size)
        outputs = []  # dispatched first, read back after: the device works while Python slices
        for start in range(0, len(texts), rows):
            outputs.append(self.embed_tokens(pad_rows({k: v[start:start + rows] for k, v in tokens.items()}, rows)))
        return np.concatenate([np.asarray(out) for out in outputs])[:len(texts)].astype(np.float32)

    def embed_tokens(self, tokens: dict[str, np.ndarray]) -> jax.Array:
        """The compiled forward on one tokenized batch (``tokenize`` output), not read back: for timing."""
        return self._embed(self.state, tokens["input_ids"], tokens["token_type_ids"], tokens["attention_mask"])

    def __repr__(self) -> str:
        return f"MiniLMEncoder({self.name}, dim={self.dim}, folder={str(self.folder)!r})"


def load_minilm(directory: Path | str | None = None, *, normalize: bool = True,
                precision: str | None = "highest") -> MiniLMEncoder:
    """The encoder from ``directory``, else the cache or the installed wheel (``find_model``)."""
    return MiniLMEncoder(find_model("minilm", directory), normalize=normalize, precision=precision)


# ------------------------------------------------------------------------------ numpy reference
def _np_layer_norm(x, weight, bias, eps):
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + eps) * weight + bias


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def reference_encode(folder: Path | str, texts: Sequence[str], max_length: int = 32, normalize: bool = True,
                     dtype=np.float32, tensors: dict[str, np.ndarray] | None = None, tokenizer=None) -> np.ndarray:
    """The same embeddings in plain numpy, from the torch-named safetensors arrays (padding to the
    longest text, not to ``max_length``: the results must not depend on it). ``tensors`` and
    ``tokenizer`` may be passed in to time the forward pass alone."""
    from safetensors.numpy import load_file
    from scipy.special import erf

    folder = Path(folder)
    texts = check_texts(texts, max_length)
    config = read_config(folder)
    if not texts:
        return np.zeros((0, config.hidden_size), np.float32)
    w = tensors if tensors is not None else load_file(str(folder / WEIGHTS))
    w = {k: v.astype(dtype, copy=False) for k, v in w.items() if v.dtype.kind == "f"}
    tokens = tokenize(tokenizer or load_tokenizer(folder), texts, max_length, fixed=False)
    ids, types, mask = tokens["input_ids"], tokens["token_type_ids"], tokens["attention_mask"]
    batch, length = ids.shape
    heads, head_dim, eps = config.num_heads, config.head_dim, config.layer_norm_eps

    def linear(x, name):
        # W @ x^T as one 2-D product: numpy's stacked [b, l, d] @ W^T, and even 2-D x @ W^T for few
        # rows, take OpenBLAS's slow paths here (~10x)
        weight = w[f"{name}.weight"]
        flat = x.reshape(-1, x.shape[-1])
        return (weight @ flat.T).T.reshape(*x.shape[:-1], weight.shape[0]) + w[f"{name}.bias"]

    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length][None]
         + w["embeddings.token_type_embeddings.weight"][types])
    x = _np_layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for n in range(config.num_layers):
        p = f"encoder.layer.{n}"
        split = lambda y: y.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)  # [b, h, l, d]
        q, k, v = (split(linear(x, f"{p}.attention.self.{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
        scores = np.where(mask[:, None, None, :] > 0, scores, np.finfo(dtype).min)
        context = (_np_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = _np_layer_norm(x + linear(context, f"{p}.attention.output.dense"),
                           w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"], eps)
        hidden = linear(x, f"{p}.intermediate.dense")
        hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))  # exact GELU
        x = _np_layer_norm(x + linear(hidden, f"{p}.output.dense"),
                           w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"], eps)
    weights = mask[..., None].astype(dtype)
    pooled = (x * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    if normalize:
        pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
    return pooled.astype(np.float32)
