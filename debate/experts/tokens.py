"""How every local engine loads a tokenizer and turns text into token ids, so the torch and
vLLM backends agree exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PYTHON_COPIES = ("_vocab", "_merges")
"""Attributes where transformers' BPE tokenizers (Gemma's among them) keep the vocabulary and
merges they built the Rust tokenizer from. For Gemma 3 (262k tokens, 515k merges) these Python
dicts, lists and strings hold ~170 MB for the whole life of the process, and nothing reads them
once the Rust tokenizer exists (``tokenizer.json`` is saved from it)."""


def load_tokenizer(path: str | Path, **kwargs: Any) -> Any:
    """``AutoTokenizer.from_pretrained`` without the Python copies of vocabulary and merges."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), **kwargs)
    if getattr(tok, "_tokenizer", None) is not None:  # a Rust-backed tokenizer: it encodes without them
        for name in PYTHON_COPIES:
            if isinstance(getattr(tok, name, None), (dict, list)):
                setattr(tok, name, type(getattr(tok, name))())
    return tok


def encode(tokenizer: Any, text: str, *, bos: bool) -> list[int]:
    """The text's ids without special tokens, with the tokenizer's BOS in front when ``bos``:
    a prefix is encoded with BOS, the prompt after it on its own, never re-tokenised together."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if bos and tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id, *ids]
    return ids
