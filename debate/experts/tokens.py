"""How every local engine turns text into token ids, so the torch and vLLM backends agree exactly."""

from __future__ import annotations

from typing import Any


def encode(tokenizer: Any, text: str, *, bos: bool) -> list[int]:
    """The text's ids without special tokens, with the tokenizer's BOS in front when ``bos``:
    a prefix is encoded with BOS, the prompt after it on its own, never re-tokenised together."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if bos and tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id, *ids]
    return ids
