"""The engine's per-token log-probabilities in OpenAI's two response shapes.

Chat: ``{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}``; legacy completions:
``{"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}``. JSON has no
``-inf``, so an impossible token reads ``-9999.0``, as OpenAI writes it.
"""

from __future__ import annotations

import math
from typing import Any

Position = tuple[str, float, list[tuple[str, float]]]
"""One generated position: the token, its log-probability, the most likely (token, logprob) pairs."""

FLOOR = -9999.0


def _lp(value: float) -> float:
    return value if math.isfinite(value) else FLOOR


def _bytes(token: str) -> list[int]:
    return list(token.encode("utf-8"))


def chat_logprobs(positions: list[Position]) -> dict[str, Any]:
    return {
        "content": [
            {"token": tok, "logprob": _lp(lp), "bytes": _bytes(tok),
             "top_logprobs": [{"token": t, "logprob": _lp(v), "bytes": _bytes(t)} for t, v in top]}
            for tok, lp, top in positions
        ],
        "refusal": None,
    }


def completion_logprobs(positions: list[Position], prompt: str) -> dict[str, Any]:
    """Offsets count from the start of the prompt, as OpenAI's do when the prompt is not echoed."""
    offsets, at = [], len(prompt)
    for tok, _, _ in positions:
        offsets.append(at)
        at += len(tok)
    tops = []
    for _, _, top in positions:
        seen: dict[str, float] = {}
        for t, v in top:
            seen.setdefault(t, _lp(v))  # two ids can spell the same text: keep the likelier
        tops.append(seen)
    return {"tokens": [p[0] for p in positions], "token_logprobs": [_lp(p[1]) for p in positions],
            "top_logprobs": tops, "text_offset": offsets}
