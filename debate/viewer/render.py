"""Stored records as rich ``Text``, literally.

Model text is data, never markup: every string from the database enters a ``Text`` through
``literal`` (``Text(...)``/``append``), so ``[bold]``, ``[/]``, ``[link=x]`` or a stray ``[`` are
shown as typed, and control characters (escape sequences, carriage returns, bidi overrides)
are made visible instead of reaching the terminal.

A transcript becomes a flat list of ``Line``s (logical lines: one per line of text, wrapped
later by ``LineView`` at whatever width the screen has), so even a megabyte transcript is
built once, in one pass, and drawn a screenful at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from rich.style import Style
from rich.text import Text

from debate.core import LETTERS, EpisodeStatus, ParseStatus, Turn
from debate.protocols.quotes import QUOTE_RE
from debate.storage.browse import CallEntry, EpisodeBundle, EpisodeSummary, VerdictEntry

# -- literal text -----------------------------------------------------------------------------

_VISIBLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(32) if c not in (9, 10)}
_VISIBLE[9] = "    "
_VISIBLE[0x7F] = "\u2421"
_VISIBLE.update({c: "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_NEEDS_CHANGE = re.compile("[\x00-\x09\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def literal(text: str | None) -> str:
    """``text`` safe to draw: newlines kept, other control characters shown as symbols."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n")
    if _NEEDS_CHANGE.search(text) is None:  # the usual case, and ``translate`` is slow on megabytes
        return text
    return _NEEDS_CHANGE.sub(lambda m: _VISIBLE[ord(m.group())], text)


def lit(text: Any, style: Style | str = "") -> Text:
    """A ``Text`` that shows ``text`` exactly (never parsed as markup)."""
    return Text(literal(str(text)), style=style, no_wrap=True, end="")


# -- styles -----------------------------------------------------------------------------------

ROLE_STYLE: dict[str, Style] = {
    "debater_a": Style(color="#5fafff"),
    "debater_b": Style(color="#ff9f43"),
    "expert": Style(color="#d787ff"),
    "judge": Style(color="#e5c07b"),
}
OTHER_ROLE = Style(color="#aaaaaa")
VERIFIED = Style(color="#5fd75f", underline=True)
UNVERIFIED = Style(color="#ff5f5f", strike=True)
QUOTE_TAG = Style(dim=True)
DIM = Style(dim=True)
BOLD = Style(bold=True)
ERROR = Style(color="#ff5f5f")
GOOD = Style(color="#5fd75f")
STATUS_STYLE = {
    EpisodeStatus.COMPLETE: Style(color="#5fd75f"),
    EpisodeStatus.ERROR: Style(color="#ff5f5f", bold=True),
    EpisodeStatus.RUNNING: Style(color="#e5c07b"),
    EpisodeStatus.PENDING: Style(dim=True),
}


def role_style(role: str) -> Style:
    return ROLE_STYLE.get(role, OTHER_ROLE)


def role_label(role: str, protocol: str = "") -> str:
    if role == "expert":
        return "Consultant" if "consultancy" in protocol else "Expert"
    return {"debater_a": "Debater A", "debater_b": "Debater B", "judge": "Judge"}.get(role, role)


def correct_mark(correct: bool | None) -> Text:
    if correct is None:
        return Text("—", style=DIM)
    return Text("✓", style=GOOD) if correct else Text("✗", style=ERROR)


def order_label(order: tuple[int, ...]) -> str:
    """``(1, 0)`` -> ``"1 0"``: the underlying option shown as A, as B, ..."""
    return " ".join(str(i) for i in order)


# -- lines ------------------------------------------------------------------------------------


class Line(NamedTuple):
    """A logical line: ``text`` wraps to the view's width; ``gutter`` is repeated on every row.

    Plain text plus style ranges rather than a ``Text``: a megabyte transcript is tens of
    thousands of lines, and a ``Text`` is only built for the rows being drawn."""

    text: str
    spans: tuple[tuple[int, int, Style | str], ...] = ()
    style: Style | str = ""
    gutter: Text | None = None

    @classmethod
    def of(cls, text: Text, gutter: Text | None = None) -> "Line":
        """A line from a (single-line) ``Text``."""
        return cls(text.plain, tuple((s.start, s.end, s.style) for s in text.spans), text.style, gutter)

    def to_text(self, start: int = 0, end: int | None = None) -> Text:
        """``text[start:end]`` with its styles, as a ``Text``."""
        end = len(self.text) if end is None else end
        out = Text(self.text[start:end], style=self.style, no_wrap=True, end="")
        for s, e, style in self.spans:
            if e > start and s < end:
                out.stylize(style, max(s, start) - start, min(e, end) - start)
        return out


def split_lines(text: str, spans: Iterable[tuple[int, int, Style]] = (), base: Style | str = "",
                gutter: Text | None = None) -> list[Line]:
    """``text`` (already ``literal``) as one ``Line`` per line, styled ranges carried over."""
    spans = sorted(spans, key=lambda s: s[0])
    out: list[Line] = []
    pos = 0
    first_open = 0  # spans before this index end before the current line
    for chunk in text.split("\n"):
        end = pos + len(chunk)
        while first_open < len(spans) and spans[first_open][1] <= pos:
            first_open += 1
        mine = []
        for i in range(first_open, len(spans)):
            s, e, style = spans[i]
            if s >= end:
                break
            if e > pos:
                mine.append((max(s, pos) - pos, min(e, end) - pos, style))
        out.append(Line(chunk, tuple(mine), base, gutter))
        pos = end + 1
    return out


def _block(text: str | None, gutter: Text | None, style: Style | str = "") -> list[Line]:
    return split_lines(literal(text), base=style, gutter=gutter)


def _rule(label: Text, style: Style) -> Line:
    head = Text("── ", style=style, end="")
    head.append_text(label)
    head.append(" ──", style=style)
    return Line.of(head)


# -- transcript -------------------------------------------------------------------------------


def transcript_lines(bundle: EpisodeBundle, *, call_text: bool = False, passage: str | None = None) -> list[Line]:
    """The whole episode as lines: header, the passage (if given), turns with quotes marked,
    verdicts where they were given, and the model calls with tokens and latency."""
    s = bundle.summary
    lines = header_lines(bundle)
    if passage is not None:
        lines.append(Line.of(Text("")))
        lines.append(_rule(Text("Passage (the experts' view; the judge never sees it)", style=BOLD), DIM))
        lines += _block(passage, Text("┆ ", style=DIM))
    by_position: dict[int, list[VerdictEntry]] = {}
    for v in bundle.verdicts:
        by_position.setdefault(min(v.after_turns, len(bundle.turns)), []).append(v)
    for v in by_position.get(0, []):
        lines += verdict_lines(v, s)
    for i, turn in enumerate(bundle.turns, start=1):
        lines += turn_lines(turn, s.protocol)
        for v in by_position.get(i, []):
            lines += verdict_lines(v, s)
    if s.error:
        lines.append(Line.of(Text("")))
        lines.append(_rule(Text("Error", style=ERROR + BOLD), ERROR))
        lines += _block(s.error, Text("│ ", style=ERROR), ERROR)
    lines.append(Line.of(Text("")))
    lines += call_lines(bundle.calls, call_text=call_text)
    return lines


def header_lines(bundle: EpisodeBundle) -> list[Line]:
    s = bundle.summary
    calls = bundle.calls
    out: list[Line] = []
    t = Text("Episode ", style=BOLD)
    t.append(lit(s.episode_id))
    t.append("  run ", style=DIM)
    t.append(lit(s.run_id))
    t.append("  ")
    t.append(lit(s.variant, BOLD))
    t.append("  ")
    t.append(lit(s.status.value, STATUS_STYLE[s.status]))
    t.append(f"  attempt {s.attempt}", style=DIM)
    out.append(Line.of(t))
    q = Text("Question ", style=BOLD)
    q.append(lit(s.question_id))
    q.append(": ")
    q.append(lit(s.question))
    out.append(Line.of(q))
    for k, opt in enumerate(s.order):
        o = Text(f"  {LETTERS[k]}  ", style=BOLD)
        o.append(lit(s.options[opt] if opt < len(s.options) else "?"))
        o.append(f"   (option {opt})", style=DIM)
        if opt == s.gold_index:
            o.append("  ★ gold", style=GOOD)
        if s.chosen == opt:
            o.append("  ◀ judge chose", style=BOLD)
        out.append(Line.of(o))
    roles = Text("Roles ", style=BOLD)
    for i, (role, model) in enumerate(sorted(s.roles.items())):
        roles.append(" · " if i else "")
        roles.append(role_label(role, s.protocol), style=role_style(role))
        roles.append("=")
        roles.append(lit(model))
    out.append(Line.of(roles))
    r = Text("Outcome ", style=BOLD)
    r.append_text(correct_mark(s.correct))
    r.append(" correct" if s.correct else (" incorrect" if s.correct is False else " no verdict"))
    r.append("  parse ", style=DIM)
    r.append(s.parse_status.value if s.parse_status else "—",
             style=GOOD if s.parse_status is ParseStatus.OK else (ERROR if s.parse_status else DIM))
    if s.judge_model:
        r.append("  judge ", style=DIM)
        r.append(lit(s.judge_model))
    out.append(Line.of(r))
    c = Text("Calls ", style=BOLD)
    c.append(f"{len(calls)}  tokens {sum(x.prompt_tokens for x in calls):,} in / "
             f"{sum(x.completion_tokens for x in calls):,} out  latency {sum(x.latency_s for x in calls):.2f} s  "
             f"cost ${sum(x.cost_usd for x in calls):.4f}")
    out.append(Line.of(c))
    legend = Text("Quotes ", style=BOLD)
    legend.append("verified", style=VERIFIED)
    legend.append(" · ")
    legend.append("unverified", style=UNVERIFIED)
    out.append(Line.of(legend))
    return out


def turn_lines(turn: Turn, protocol: str = "") -> list[Line]:
    style = role_style(turn.role.value)
    label = Text(role_label(turn.role.value, protocol), style=style + BOLD)
    label.append(f" · round {turn.round} · {turn.kind.value.replace('_', ' ')}", style=style)
    if turn.argues_for_letter:
        label.append(" · for ", style=style)
        label.append(lit(turn.argues_for_letter, style + BOLD))
    if turn.quotes:
        label.append(f" · quotes {turn.n_verified}", style=style)
        label.append("✓", style=GOOD)
        label.append(f" {turn.n_unverified}", style=style)
        label.append("✗", style=ERROR)
    if not turn.visible_to_judge:
        label.append(" · not shown to the judge", style=DIM)
    out = [Line.of(Text("")), _rule(label, style)]
    gutter = Text("│ ", style=style)
    meta = dict(turn.meta)
    routing = meta.pop("routing", None)
    if routing is not None:
        out.append(Line.of(routing_text(routing), Text("⇢ ", style=style)))
    if meta:
        out.append(Line.of(meta_text(meta), Text("· ", style=DIM)))
    text = literal(turn.text)
    spans = []
    checks = list(turn.quotes)
    for i, m in enumerate(QUOTE_RE.finditer(text)):
        verified = checks[i].verified if i < len(checks) else False
        spans.append((m.start(), m.start(1), QUOTE_TAG))
        spans.append((m.start(1), m.end(1), VERIFIED if verified else UNVERIFIED))
        spans.append((m.end(1), m.end(), QUOTE_TAG))
    out += split_lines(text, spans, gutter=gutter)
    return out


def routing_text(routing: Any) -> Text:
    t = Text("router ", style=BOLD)
    if isinstance(routing, dict):
        for i, (k, v) in enumerate(routing.items()):
            t.append("  " if i else "")
            t.append(lit(k, DIM))
            t.append("=", style=DIM)
            t.append(lit(_short(v)))
    elif isinstance(routing, list):
        for i, v in enumerate(routing):
            t.append("  " if i else "")
            t.append(lit(_short(v)))
    else:
        t.append(lit(_short(routing)))
    return t


def meta_text(meta: dict[str, Any]) -> Text:
    t = Text("", style=DIM)
    for i, (k, v) in enumerate(meta.items()):
        t.append("  " if i else "")
        t.append(lit(k))
        t.append("=")
        t.append(lit(_short(v)))
    return t


def _short(value: Any, limit: int = 80) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list) and value and all(isinstance(x, float) for x in value):
        return "[" + ", ".join(f"{x:.3g}" for x in value) + "]"
    if isinstance(value, list) and len(value) > 4:
        return f"[{len(value)} items]"
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict_lines(entry: VerdictEntry, s: EpisodeSummary) -> list[Line]:
    v = entry.verdict
    style = role_style("judge")
    label = Text("Judge", style=style + BOLD)
    label.append(" · final verdict" if entry.is_final else " · intermediate verdict", style=style)
    if v.judge_kind:
        label.append(" · ")
        label.append(lit(v.judge_kind, style))
    if v.judge_model:
        label.append(" · ")
        label.append(lit(v.judge_model, style))
    label.append(" · parse ", style=style)
    label.append(v.status.value, style=GOOD if v.status is ParseStatus.OK else ERROR)
    if v.chosen is not None:
        label.append(" · chose ", style=style)
        letter = LETTERS[s.order.index(v.chosen)] if v.chosen in s.order else "?"
        label.append(lit(letter, style + BOLD))
    label.append(" ")
    label.append_text(correct_mark(entry.correct))
    gutter = Text("│ ", style=style)
    out = [Line.of(Text("")), _rule(label, style)]
    width = max((len(s.options[o]) for o in s.order if o < len(s.options)), default=0)
    width = min(width, 40)
    for k, opt in enumerate(s.order):
        p = None if v.probabilities is None or opt >= len(v.probabilities) else v.probabilities[opt]
        row = Text(f"{LETTERS[k]}  ", style=BOLD)
        name = s.options[opt] if opt < len(s.options) else "?"
        row.append(lit(name if len(name) <= width else name[: width - 1] + "…"))
        row.append(" " * (width - min(len(name), width) + 2))
        if p is None:
            row.append("  —  ", style=DIM)
        else:
            filled = round(max(0.0, min(1.0, p)) * 20)
            row.append(f"{p:5.3f} ")
            row.append("█" * filled, style=style)
            row.append("░" * (20 - filled), style=DIM)
        if opt == s.gold_index:
            row.append("  ★ gold", style=GOOD)
        if v.chosen == opt:
            row.append("  ◀ chosen", style=BOLD)
        out.append(Line.of(row, gutter))
    if v.confidence is not None:
        out.append(Line.of(Text(f"confidence {v.confidence:.3f}", style=DIM), gutter))
    if v.raw and v.judge_kind != "logprob":
        out.append(Line.of(Text("raw reply:", style=DIM), gutter))
        out += _block(v.raw, gutter)
    return out


_CALL_HEAD = f"{'#':>3}  {'role':<10} {'purpose':<9} {'model':<20} {'tokens in→out':>15} {'latency':>9} {'cost':>9}"


def call_lines(calls: list[CallEntry], *, call_text: bool = False) -> list[Line]:
    out = [_rule(Text(f"Model calls ({len(calls)})", style=BOLD), DIM), Line.of(Text(_CALL_HEAD, style=DIM))]
    for i, c in enumerate(calls, start=1):
        row = Text(f"{i:>3}  ")
        row.append(f"{c.role[:10]:<10} ", style=role_style(c.role))
        row.append(f"{c.purpose[:9]:<9} ")
        model = literal(c.model)
        row.append(f"{model[:20]:<20} ")
        row.append(f"{f'{c.prompt_tokens:,}→{c.completion_tokens:,}':>15} ")
        row.append(f"{c.latency_s:>7.2f} s ")
        row.append(f"{'$' + format(c.cost_usd, '.4f'):>9}")
        out.append(Line.of(row))
        if c.error:
            out += _block(c.error, Text("    ! ", style=ERROR), ERROR)
        if call_text:
            if c.prompt is not None:
                out.append(Line.of(Text(f"prompt ({c.prompt_chars:,} chars):", style=DIM), Text("    ")))
                out += _block(c.prompt, Text("    │ ", style=DIM), DIM)
            if c.reply is not None:
                out.append(Line.of(Text(f"reply ({c.reply_chars:,} chars):", style=DIM), Text("    ")))
                out += _block(c.reply, Text("    │ ", style=role_style(c.role)))
    if not call_text and calls:
        out.append(Line.of(Text("(t shows every call's prompt and reply; v shows the passage)", style=DIM)))
    return out


# -- episode list rows ------------------------------------------------------------------------

COLUMNS: tuple[tuple[str, int], ...] = (
    ("#", 6),
    ("protocol/variant", 24),
    ("question", 12),
    ("order", 5),
    ("judge", 16),
    ("status", 8),
    ("✓", 1),
    ("parse", 11),
    ("question text", 0),  # the rest of the width
)


def _cell(text: Text, width: int) -> Text:
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def list_header(width: int) -> Text:
    row = Text(style=BOLD, no_wrap=True, end="")
    used = 0
    for name, w in COLUMNS:
        w = w or max(0, width - used)
        row.append_text(_cell(Text(name), w))
        row.append(" ")
        used += w + 1
    row.truncate(width)
    return row


def list_row(position: int, e: EpisodeSummary, width: int) -> Text:
    """One episode as a fixed-column row of ``width`` cells (``position`` is 0-based)."""
    parse = e.parse_status.value if e.parse_status else "—"
    cells = (
        Text(str(position + 1), style=DIM),
        lit(e.variant),
        lit(e.question_id),
        Text(order_label(e.order)),
        lit(e.judge_model),
        Text(e.status.value, style=STATUS_STYLE[e.status]),
        correct_mark(e.correct),
        Text(parse, style=DIM if e.parse_status in (None, ParseStatus.OK) else ERROR),
        lit(" ".join(e.question.split())),
    )
    row = Text(no_wrap=True, end="")
    used = 0
    for (_, w), cell in zip(COLUMNS, cells):
        w = w or max(0, width - used)
        row.append_text(_cell(cell, w))
        row.append(" ")
        used += w + 1
    row.truncate(width)
    return row
