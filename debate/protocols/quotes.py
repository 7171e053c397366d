"""Quote verification: is a ``<quote>`` really in the passage?

Matching is exact after normalising case, whitespace, curly quotes and punctuation, so a
quote survives re-typing but not paraphrase.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from debate.core.transcript import QuoteCheck

QUOTE_RE = re.compile(r"<quote>(.*?)</quote>", re.S | re.I)
_TRANSLATE = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


@lru_cache(maxsize=64)
def _normalised_passage(passage: str) -> str:
    return f" {normalise(passage)} "


def verify_quotes(text: str, passage: str) -> list[QuoteCheck]:
    """One check per ``<quote>`` in ``text``; an empty quote is never verified."""
    hay = _normalised_passage(passage)
    checks = []
    for m in QUOTE_RE.finditer(text):
        needle = normalise(m.group(1))
        checks.append(QuoteCheck(text=m.group(1), verified=bool(needle) and f" {needle} " in hay))
    return checks


def close_quotes(text: str) -> str:
    """Close a ``<quote>`` left open when the speech hit its token limit, so it is still checked."""
    opened, closed = text.lower().count("<quote>"), text.lower().count("</quote>")
    return text + "</quote>" * max(0, opened - closed)
