"""Rebuild a room's story text from its token list, and render speeches whose quotes are token
spans of that story.

**Detokeniser.** Contexts are rebuilt from each room's token list rather than taken from
``derived_stories.jsonl``: quote spans index those tokens, and the same article comes in three
tokenisations across rooms (PTB tokens in 611 rooms, whitespace-split words in 5, line/sentence
chunks in 15; four articles appear in two of them), so only the room's own tokens give quotes that
are exact substrings of the room's context. The derived file is also not upstream data. Token
rules follow the upstream viewer's rendering (PTB brackets and quote marks mapped back, no
space before punctuation and clitics, none after opening brackets), plus: whitespace and empty
tokens are emitted as they are with no space around them, and ``--`` joins its neighbours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debate.core import QuoteCheck
from debate.datasets.errors import DatasetError
from debate.importers.nyu_fields import at, one_key

_PTB_MAP = {
    "-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
    "``": '"', "''": '"', "`": "'",
}
_NO_SPACE_BEFORE = frozenset(
    {".", ",", ";", ":", "!", "?", "...", "%", "''", "'", ")", "]", "}", "-RRB-", "-RSB-", "-RCB-", "--", "°"}
)
_NO_SPACE_AFTER = frozenset({"``", "`", "(", "[", "{", "-LRB-", "-LSB-", "-LCB-", "$", "#", "£", "€", "--"})
_CLITICS = frozenset({"'s", "n't", "'re", "'ve", "'ll", "'m", "'d"})


def _space_between(prev: str, cur: str) -> bool:
    if not prev or not cur or prev[-1].isspace() or cur[0].isspace():
        return False
    if cur in _NO_SPACE_BEFORE or cur.lower() in _CLITICS or prev in _NO_SPACE_AFTER:
        return False
    if cur.lower() == "na" and prev.lower() in ("gon", "wan"):  # PTB splits "gonna" as "gon na"
        return False
    return True


@dataclass(frozen=True)
class Story:
    """A detokenised story: its text, and where each token landed in it (``text[starts[i]:ends[i]]``
    is token ``i`` as rendered)."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.starts)

    def span(self, start: int, end: int) -> str:
        """Tokens ``start`` to ``end`` (exclusive) as they read in ``text``, trimmed of surrounding
        whitespace: always a substring of ``text``."""
        if not 0 <= start < end <= len(self):
            raise IndexError(f"span [{start}, {end}) is outside a story of {len(self)} tokens")
        return self.text[self.starts[start] : self.ends[end - 1]].strip()


def detokenise(tokens: list[str] | tuple[str, ...]) -> Story:
    """Join a QuALITY token list (PTB tokens, whitespace-split words or text chunks) into text."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    prev = ""
    ptb, before, after = _PTB_MAP, _NO_SPACE_BEFORE, _NO_SPACE_AFTER
    for tok in tokens:
        # _space_between, inlined for the common case (stories run to 7,000+ tokens)
        if prev and tok and tok not in before and prev not in after and _space_between(prev, tok):
            parts.append(" ")
            pos += 1
        piece = ptb.get(tok, tok)
        starts.append(pos)
        parts.append(piece)
        pos += len(piece)
        ends.append(pos)
        if tok:
            prev = tok
    return Story("".join(parts), tuple(starts), tuple(ends))


_QUOTE_TAG = re.compile(r"<(/?quote)>", re.I)


def render_content(content: Any, story: Story, where: Path, what: str) -> tuple[str, list[QuoteCheck], list[list[int]]]:
    """A speech's ``Text``/``Quote`` items as text with ``<quote>…</quote>``, its quote checks, and
    the spans that ran past the story's end (clamped to it; one quote in the release does)."""
    if not isinstance(content, list):
        raise DatasetError(where, f"{what}: content should be a list")
    parts: list[str] = []
    quotes: list[QuoteCheck] = []
    clamped: list[list[int]] = []
    for k, item in enumerate(content):
        kind, body = one_key(item, f"{what}.content[{k}]", where)
        if kind == "Text":
            # A literal tag in typed text (four judges wrote "use <quote> tags") would read as a quote.
            parts.append(_QUOTE_TAG.sub(r"‹\1›", at(body, "text", where, str, label=f"{what}.content[{k}].Text")))
        elif kind == "Quote":
            span = at(body, "span", where, list, label=f"{what}.content[{k}].Quote")
            if len(span) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in span):
                raise DatasetError(where, f"{what}.content[{k}]: quote span should be two token indices, got {span!r}")
            start, end = span
            if end > len(story):
                clamped.append([start, end])
                end = len(story)
            if not 0 <= start < end:
                raise DatasetError(where, f"{what}.content[{k}]: quote span {span!r} is outside the story ({len(story)} tokens)")
            text = story.span(start, end)
            parts.append(f"<quote>{text}</quote>")
            quotes.append(QuoteCheck(text=text, verified=True))
        else:
            raise DatasetError(where, f"{what}.content[{k}]: unknown content item {kind!r}")
    return "".join(parts), quotes, clamped


__all__ = ["Story", "detokenise", "render_content"]
