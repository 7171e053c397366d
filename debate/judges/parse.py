"""Read a judge's final answer out of free text.

Weak judges answer in every format there is, so the parser looks for *kinds* of evidence,
strongest first, and never guesses:

1. Explicit answers: an answer word with a separator ("Answer: B", "the final answer is (B)"),
   a choosing verb ("I choose option B"), "B is correct", ``\\boxed{B}``, or a JSON object with
   an ``answer`` key. The LAST one wins, because judges revise themselves mid-reply.
2. The reply opens or closes with the answer: a first or last line that is just the letter,
   "B. <text>", or exactly one option's text. Disagreeing lines make the reply ambiguous.
3. Otherwise: AMBIGUOUS when two or more letters are discussed, else UNPARSEABLE.

A bare letter in prose is never an answer ("A man walks" is not option A), and letters beyond
the options shown ("C" with two options) are not answers either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, model_validator

from debate.core.question import LETTERS
from debate.core.transcript import ParseStatus


class ParsedAnswer(BaseModel):
    """What the judge chose, as a *shown* option index (0 = "A"), and how sure the parser is."""

    model_config = ConfigDict(frozen=True)

    index: int | None
    status: ParseStatus
    confidence: float | None = None
    """The judge's stated confidence in [0, 1]; only reported with an OK answer."""
    reason: str = ""

    @model_validator(mode="after")
    def _index_iff_ok(self) -> "ParsedAnswer":
        if (self.index is not None) != (self.status is ParseStatus.OK):
            raise ValueError("index must be set exactly when status is OK")
        return self


def parse_answer(reply: str | None, options: Sequence[str], letters: Sequence[str] | None = None) -> ParsedAnswer:
    """Parse ``reply`` against the options as shown. Never raises: failures come back as ERROR."""
    try:
        return _parse(reply, list(options), list(letters) if letters is not None else None)
    except Exception as exc:  # noqa: BLE001 - the contract is "never raise"
        return ParsedAnswer(index=None, status=ParseStatus.ERROR, reason=f"parser error: {type(exc).__name__}")


# --- patterns -------------------------------------------------------------------------------

# Quantifiers are bounded so that adjacent optional runs cannot backtrack polynomially on
# long runs of spaces or markup: the parser must stay fast on any reply.
_FILL = r"[\s\"'*_`$(\[{]{0,12}"
_LATEX = r"(?:\\(?:boxed|text|textbf|mathrm|mathbf)\s{0,3}\{\s{0,3}){0,3}"
_TOKEN_PREFIX = _FILL + _LATEX + _FILL + r"(?:(?:option|choice|letter)\s+)?" + _FILL + _LATEX
_BOUNDARY = r"(?![A-Za-z0-9])"
_H = r"[^\S\n]{0,8}"  # horizontal whitespace only

_ANSWER_INTRO = (
    r"(?:\b|(?<=_))(?:answer|choice|verdict|selection|decision)\b" + _H + r"[\"'*_]{0,4}" + _H
    + r"(?P<sep>(?:(?:is|would\s+be|will\s+be|should\s+be|must\s+be|remains)\b" + _H
    + r"(?:(?:therefore|thus|clearly|probably|likely|definitely|then)\b" + _H + r")?)?[:=\-–]?)"
)
_CHOOSE_INTRO = (
    r"\b(?:choose|chose|pick|picked|select|selected|go\s+with|going\s+with|opt\s+for|vote\s+for|settle\s+on)\b"
    + _H + r"[:]?"
)
_BOXED_INTRO = r"\\boxed\s*\{"
_VERDICT_TAIL = (
    r"[*_)]{0,4}" + _H + r"is" + _H
    + r"(?:(?:the|my)\s+)?(?:(?:correct|right|best|true|final)\b(?:\s+(?:answer|option|choice))?|answer\b)"
)
_HEDGE = re.compile(r"\b(?:whether|if|unless|not\s+sure|unclear)\b[^.\n]*$", re.I)
_ARTICLE_I = re.compile(
    r"(?:'|\s+(?:think|believe|would|will|am|guess|feel|must|need|can|cannot|agree|say|lean|pick|choose)\b)"
)
_LOWER_OK = re.compile(r"[^\S\n]*(?:$|\n|[^\w\s])")
_MENTION_VERBS = (
    "is|are|was|were|has|had|seems|looks|appears|could|might|may|would|should|can|and|or|vs|versus|also|argues|claims|"
    "says|states|holds|gets|makes|wins|fits|matches|remains|lacks|offers|provides|relies|cites|quotes"
)
_CONFIDENCE = [
    re.compile(
        r"\bconfidence\b(?:\s{1,3}level)?[\"'*_\s]{0,6}(?:is|of)?[\s:=\"'*_]{0,6}(?P<v>\d{1,3}(?:\.\d{1,6})?)"
        r"\s{0,3}(?P<pct>%|percent)?(?:\s{0,3}/\s{0,3}(?P<den>\d{1,3}))?",
        re.I,
    ),
    re.compile(
        r"(?P<v>\d{1,3}(?:\.\d{1,6})?)\s{0,3}(?P<pct>%|percent)\s{0,3}"
        r"(?:confident|confidence|sure|certain|certainty)\b",
        re.I,
    ),
]
_CONF_STRIP = re.compile(
    r"\(?\s{0,3}(?:\d{1,3}(?:\.\d{1,6})?\s{0,3}(?:%|percent)\s{0,3}(?:confident|confidence|sure|certain)?|"
    r"confiden(?:ce|t)\b[^\n]*)\s{0,3}\)?",
    re.I,
)
_CLAUSE_END = re.compile(r"[.,;!?(\n—–]|\s(?:because|since|as|given|with)\s", re.I)
_THINK = re.compile(r"<think>.*?</think>", re.I | re.S)
_JSON_KEYS = ("answer", "final_answer", "finalanswer", "choice", "option", "letter", "verdict", "selected")


@dataclass(frozen=True)
class _Patterns:
    """Regexes built for one set of letters (cached: judges reuse the same letters)."""

    explicit: tuple[tuple[str, re.Pattern[str]], ...]
    verdict_tail: re.Pattern[str]
    after_token: re.Pattern[str]
    bare_line: re.Pattern[str]
    lead_line: re.Pattern[str]
    mention: re.Pattern[str]


@lru_cache(maxsize=64)
def _patterns(letters: tuple[str, ...]) -> _Patterns:
    every = sorted(set(letters) | set(LETTERS), key=len, reverse=True)
    alt = "|".join(re.escape(x) for x in every)
    tok = _TOKEN_PREFIX + rf"(?P<letter>{alt}){_BOUNDARY}"
    return _Patterns(
        explicit=(
            ("answer statement", re.compile(_ANSWER_INTRO + r"(?P<tok>" + tok + ")?", re.I)),
            ("choosing verb", re.compile(_CHOOSE_INTRO + tok, re.I)),
            ("boxed", re.compile(_BOXED_INTRO + tok, re.I)),
        ),
        verdict_tail=re.compile(
            rf"(?:\b(?:option|choice)\s+|\(|\*\*|(?<![\w'’]))(?P<letter>{alt}){_BOUNDARY}" + _VERDICT_TAIL, re.I
        ),
        after_token=re.compile(
            r"[*_)\]}$\"']{0,6}\s{0,3}(?:\bor\b|/|&|\bvs\b\.?|\bversus\b)\s{0,3}" + tok,  # not "A\nVsb."
            re.I,
        ),
        bare_line=re.compile(
            r"[\s\"'*_`$(\[{#>]{0,12}" + _LATEX + r"(?:(?:option|choice|answer|letter)\s{0,3}:?\s{0,3})?" + _FILL
            + rf"(?P<letter>{alt})" + r"[\s\"'*_`$)\]}.:!]{0,12}",
            re.I,
        ),
        lead_line=re.compile(
            r"[\s\"'*_#>(\[]{0,12}" + rf"(?P<letter>{alt})"
            + r"[*_]{0,4}\s{0,3}[.):\-–\]][*_]{0,4}\s{1,3}(?P<rest>\S.*)"
        ),
        mention=re.compile(
            rf"(?i:(?:\b(?:option|choice|answer)\s+|\()(?P<p>{alt})){_BOUNDARY}"
            rf"|(?<![\w'’])(?P<s>{alt})(?:['’]s(?![\w'’])|(?![\w'’])"
            r"(?=[^\S\n]{0,8}(?:$|\n|[^\w\s]|(?:" + _MENTION_VERBS + r")\b)))",
        ),
    )


# --- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    pos: int
    index: int | None
    """Shown option index, or None when this piece of evidence is itself ambiguous."""
    how: str


class _Ctx:
    """The options and letters of one parse, and how to map text onto them."""

    def __init__(self, options: list[str], letters: list[str]) -> None:
        self.options = options
        self.letters = letters
        self.by_letter = {letter.casefold(): i for i, letter in enumerate(letters)}
        self.norm_options = [_norm(o) for o in options]
        self.longest = max(len(o) for o in options)
        self.p = _patterns(tuple(letters))

    def letter_index(self, letter: str) -> int | None:
        return self.by_letter.get(letter.casefold())

    def option_for_text(self, text: str) -> int | None:
        """The one option whose text ``text`` is (normalised), else None."""
        for candidate in (text, _CLAUSE_END.split(text, maxsplit=1)[0]):
            n = _norm(candidate)
            hits = {i for i, o in enumerate(self.norm_options) if n and o == n}
            if len(hits) == 1:
                return hits.pop()
        return None


def _parse(reply: str | None, options: list[str], letters: list[str] | None) -> ParsedAnswer:
    if not options:
        return ParsedAnswer(index=None, status=ParseStatus.ERROR, reason="no options given")
    letters = letters if letters is not None else list(LETTERS[: len(options)])
    if len(letters) < len(options) or any(not str(x) for x in letters[: len(options)]):
        return ParsedAnswer(index=None, status=ParseStatus.ERROR, reason="fewer letters than options")
    if reply is None or not reply.strip():
        return ParsedAnswer(index=None, status=ParseStatus.EMPTY, reason="empty reply")
    text = _THINK.sub(" ", reply)
    if not text.strip():
        return ParsedAnswer(index=None, status=ParseStatus.EMPTY, reason="reply is only hidden reasoning")
    ctx = _Ctx(options, [str(x) for x in letters[: len(options)]])

    explicit = _explicit_hits(text, ctx)
    if explicit:
        return _decide(max(explicit, key=lambda h: h.pos), text)
    lines = _edge_line_hits(text, ctx)
    if lines:
        if len({h.index for h in lines}) == 1 or any(h.index is None for h in lines):
            return _decide(min(lines, key=lambda h: (h.index is not None, -h.pos)), text)
        return ParsedAnswer(index=None, status=ParseStatus.AMBIGUOUS, reason="first and last lines disagree")
    mentioned = _mentions(text, ctx)
    if len(mentioned) >= 2:
        shown = ", ".join(ctx.letters[i] for i in sorted(mentioned))
        return ParsedAnswer(index=None, status=ParseStatus.AMBIGUOUS, reason=f"mentions {shown} with no final answer")
    return ParsedAnswer(index=None, status=ParseStatus.UNPARSEABLE, reason="no final answer found")


def _decide(hit: _Hit, text: str) -> ParsedAnswer:
    if hit.index is None:
        return ParsedAnswer(index=None, status=ParseStatus.AMBIGUOUS, reason=f"{hit.how} names several options")
    return ParsedAnswer(index=hit.index, status=ParseStatus.OK, confidence=_confidence(text), reason=hit.how)


def _explicit_hits(text: str, ctx: _Ctx) -> list[_Hit]:
    hits: list[_Hit] = []
    for how, pattern in ctx.p.explicit:
        for m in pattern.finditer(text):
            if m.groupdict().get("tok") is None and "tok" in pattern.groupindex:
                # "Answer: Concisely": an answer word with a separator, then one option's text.
                if m.group("sep").strip():
                    index = ctx.option_for_text(_rest_of_line(text, m.end(), ctx.longest + 40))
                    if index is not None:
                        hits.append(_Hit(m.start(), index, f"{how} (option text)"))
                continue
            hit = _token_hit(text, m, ctx, how)
            if hit is not None:
                hits.append(hit)
    for m in ctx.p.verdict_tail.finditer(text):
        if _HEDGE.search(text[max(0, m.start() - 60) : m.start()]):
            continue
        letter = m.group("letter")
        if letter != letter.upper() and not re.match(r"option|choice", m.group(0), re.I):
            continue
        index = ctx.letter_index(letter)
        if index is not None:
            hits.append(_Hit(m.start(), index, "letter declared correct"))
    hits.extend(_json_hits(text, ctx))
    return hits


def _token_hit(text: str, m: re.Match[str], ctx: _Ctx, how: str) -> _Hit | None:
    """Turn a matched answer token into a hit, rejecting prose ("the answer is a bit...")."""
    letter = m.group("letter")
    if letter != letter.upper() and not _LOWER_OK.match(text, m.end()):
        return None
    if letter == "I" and _ARTICLE_I.match(text, m.end()):
        return None
    index = ctx.letter_index(letter)
    if index is None:
        return None  # out of range: not an answer
    alt = ctx.p.after_token.match(text, m.end())
    if alt is not None:
        other = ctx.letter_index(alt.group("letter"))
        if other is not None and other != index:
            return _Hit(m.start(), None, how)
    return _Hit(m.start(), index, how)


def _json_hits(text: str, ctx: _Ctx) -> list[_Hit]:
    hits: list[_Hit] = []
    decoder = json.JSONDecoder()
    pos = text.find("{")
    tries = 0
    while pos != -1 and tries < 20:
        tries += 1
        try:
            obj, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            value = next((v for k, v in obj.items() if str(k).casefold() in _JSON_KEYS), None)
            if isinstance(value, str):
                index = _value_index(value, ctx)
                if index is not None:
                    hits.append(_Hit(pos, index, "json answer"))
        pos = text.find("{", end)
    return hits


def _value_index(value: str, ctx: _Ctx) -> int | None:
    """A JSON answer value: a letter in any dress ("B", "(B)", "Option B"), or an option's text."""
    m = ctx.p.bare_line.fullmatch(value.strip())
    if m is not None:
        return ctx.letter_index(m.group("letter"))
    m = ctx.p.lead_line.fullmatch(value.strip())
    if m is not None:
        return ctx.letter_index(m.group("letter"))
    return ctx.option_for_text(value)


def _edge_line_hits(text: str, ctx: _Ctx) -> list[_Hit]:
    """The reply's first and last non-empty lines, when they are an answer on their own."""
    lines = [(m.start(), m.group(0)) for m in re.finditer(r"[^\n]+", text) if m.group(0).strip()]
    edges = [lines[0]] if len(lines) == 1 else [lines[0], lines[-1]]
    hits: list[_Hit] = []
    for pos, raw in edges:
        line = _CONF_STRIP.sub(" ", raw).strip() or raw.strip()
        bare = ctx.p.bare_line.fullmatch(line)
        if bare is not None:
            index = ctx.letter_index(bare.group("letter"))
            if index is not None:
                hits.append(_Hit(pos, index, "bare letter"))
            continue
        lead = ctx.p.lead_line.fullmatch(line)
        if lead is not None:
            index = ctx.letter_index(lead.group("letter"))
            if index is not None:
                named = ctx.option_for_text(lead.group("rest"))
                agrees = named is None or named == index
                hits.append(_Hit(pos, index if agrees else None, "letter then option text"))
            continue
        index = ctx.option_for_text(line)
        if index is not None and _norm(line) == ctx.norm_options[index]:
            hits.append(_Hit(pos, index, "option text"))
    return hits


def _mentions(text: str, ctx: _Ctx) -> set[int]:
    found: set[int] = set()
    for m in ctx.p.mention.finditer(text):
        index = ctx.letter_index(m.group("p") or m.group("s"))
        if index is not None:
            found.add(index)
    return found


def _confidence(text: str) -> float | None:
    """The last stated confidence: "Confidence: 80%", "confidence: 0.8", "(90% confident)", "8/10"."""
    best: tuple[int, float] | None = None
    for pattern in _CONFIDENCE:
        for m in pattern.finditer(text):
            value = _confidence_value(m)
            if value is not None and (best is None or m.start() > best[0]):
                best = (m.start(), value)
    return best[1] if best else None


def _confidence_value(m: re.Match[str]) -> float | None:
    v = float(m.group("v"))
    den = m.groupdict().get("den")
    if den:
        v = v / float(den) if float(den) > 0 else -1.0
    elif m.group("pct") or v > 1:
        v = v / 100
    return v if 0.0 <= v <= 1.0 else None


def _rest_of_line(text: str, start: int, limit: int) -> str:
    """The text after an answer word, up to the end of its line (or the next line, if empty).

    Capped at ``limit`` characters so that a reply repeating "answer is" stays linear."""
    return text[start : start + limit + 20].lstrip()[:limit].split("\n", 1)[0]


def _norm(text: str) -> str:
    """Case-, punctuation- and markup-blind form of a phrase, for matching option text."""
    text = re.sub(r"\\(?:boxed|text|textbf|mathrm)\s*\{", " ", text)
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.casefold()).split())
