"""Import the NYU human/AI debate and consultancy transcripts (Michael et al. 2023, *Debate Helps
Supervise Unreliable Experts*) into a debate database.

The release (``quality_nyu_debates``: ``debates/<room>.json`` plus ``debates-metadata.jsonl``) holds
631 "rooms", one debate or consultancy each on a two-option QuALITY question. ``import_nyu`` turns
every room into one episode, in two runs:

* ``run_name`` (default ``nyu-debates``): every imported room (by default the 561 ``Complete``
  ones; ``only_complete=False`` adds the 41 ``InProgress`` and 29 ``WaitingToBegin`` ones).
* ``run_name + "-paper"``: the 413 rooms with ``includedInPaper`` (all ``Complete``), the
  sample the paper's results are computed on. Same questions, its own episodes (the run id is
  part of an episode's id). ``debate report DB --run nyu-debates-paper`` then gives the paper's
  numbers: human debate 130/154 = 84.4 %, human consultancy 71/96 = 74.0 % (the
  ``human_consultancy (all)`` row), AI debate 68/87, AI consultancy 61/76.

Mapping (what a reader of the database needs to know):

* **Protocol** from the metadata's ``setting``: ``human_debate``, ``human_consultancy``,
  ``ai_debate``, ``ai_consultancy``. Episode ``params``: ``room`` (the file's name),
  ``included_in_paper``, and for consultancy ``side`` = ``correct`` | ``incorrect`` (whether
  the consultant argued the gold answer), so consultancy splits into report rows like our own
  ``consultancy[correct]``/``[incorrect]``, with the CLI's pooled ``(all)`` row beside them.
* **Roles**: ``debater_a``/``debater_b`` (debates) or ``expert`` (consultancy) map to
  ``human`` or ``gpt-4`` (the release names the AI debater ``GPT-4``); ``judge`` is ``human``
  when the room had a live judge. Upstream, ``Debater A``/``Debater B`` *are* answer indices 0
  and 1 (``Debater(answerIndex)``), and speeches are keyed by that index, so a speech's
  ``argues_for`` is its key. A consultancy room has a single debater, ``Debater A`` or
  ``Debater B``, who argues ``answers[0]`` or ``answers[1]`` accordingly.
* **Question**: ``id`` = ``nyu-<articleId>-<hash of the question text>`` (stable; rooms asking
  the same question share it), options = ``setup.answers`` in the room's order (episode
  ``order`` is the identity, so letter A is always ``answers[0]``), gold =
  ``setup.correctAnswerIndex``, context = the room's own story, detokenised (see below). The
  source names the room, so every room has its own question row (uid); ids group them.
* **Turns**, in the room's order: each speech (``SimultaneousSpeeches`` in answer order,
  ``SequentialSpeeches`` in timestamp order) is a ``speech`` turn with quotes rendered as
  ``<quote>…</quote>`` from their token spans and checked ``verified=True`` (they are spans of
  the story by construction; each quote text is an exact substring of the stored context). A
  literal ``<quote>``/``</quote>`` typed into text (four judge messages do) becomes ``‹quote›``,
  so every tag pair in a turn is one of its quotes.
  Each ``JudgeFeedback`` is a judge turn, kind ``judge_question`` (the final one, with
  ``endDebate``, kind ``verdict``) with the judge's distribution in ``meta``. ``round`` counts
  speech rounds from 1; a judge turn carries the number of speech rounds before it (0 for the
  judge's prior before any speech). ``NegotiateEnd`` votes and scratchpads are not imported.
* **Verdicts**: every live ``JudgeFeedback`` distribution is a verdict (``judge_model`` and
  ``judge_kind`` ``human``), in transcript order, so belief over turns can be plotted; the
  ``endDebate`` one is final and the live judge's last (it equals the metadata's
  ``finalJudgement``; both are checked). Offline judges' judgments (judges who read the finished
  transcript later) are non-final verdicts of another judge model, ``human-offline``
  (``judge_kind="human_offline"``), with a JSON ``raw`` naming the judge, mode and step: the
  report lists them under "Also judged by", and ``--judge human-offline`` scores each episode's
  latest one (with two offline judges on a room, the one whose name sorts last).
* **Decision rule** (reproduces the paper exactly): the judge chose option *i* iff its
  probability is **> 0.5**. When no option exceeds 0.5 (the exact 0.5/0.5 tie; one final
  verdict, a human consultancy in the paper set) the verdict has ``chosen=None`` and status
  ``ambiguous``, which the report counts as wrong, as the paper does. Argmax would differ only on
  one intermediate distribution, ``[0.49999999999999994, 0.5]``, which this rule calls a tie.
* **Status**: a room with a final verdict is ``complete``. 44 ``Complete`` human-debate rooms
  (ended by mutual agreement or time-up) never had a live judge, only offline judges: their
  transcript is imported but the episode is ``error`` with that reason, so reports list them as
  errors, outside ``n``. Unfinished rooms (``only_complete=False``) stay ``running``.

**Detokeniser.** Contexts are rebuilt from each room's token list rather than taken from
``derived_stories.jsonl``: quote spans index those tokens, and the same article comes in three
tokenisations across rooms (PTB tokens in 611 rooms, whitespace-split words in 5, line/sentence
chunks in 15; four articles appear in two of them), so only the room's own tokens give quotes that
are exact substrings of the room's context. The derived file is also not upstream data. Token
rules follow the upstream viewer's rendering (PTB brackets and quote marks mapped back, no
space before punctuation and clitics, none after opening brackets), plus: whitespace and empty
tokens are emitted as they are with no space around them, and ``--`` joins its neighbours.

Re-importing is idempotent: runs are resumed (a different metadata file or option under the
same name is refused with ``ConfigMismatchError``), questions and episodes are not duplicated,
finished episodes are skipped and unfinished ones are rewritten. Every problem with the input is
found before the database is touched and raised as a one-line ``DatasetError`` naming the file.
Rows are written through ``debate.storage.ops`` in transactions of 100 rooms, each episode's
turns and verdicts flushed together, rather than through ``DatabaseWriter``, which commits every
turn on its own (minutes for an import, against about 15 s).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from debate.core import EpisodeSpec, EpisodeStatus, Kind, ParseStatus, Question, QuoteCheck, Role, RoleAssignment, Turn, Verdict
from debate.core.question import LETTERS
from debate.datasets.errors import DatasetError, from_validation
from debate.storage import ConfigMismatchError, open_database
from debate.storage.finished import FinishedEpisode, FinishedRun, write_finished_runs

DATASET = "quality_nyu_debates"
LICENSE = "CC-BY-4.0"
METADATA_FILE = "debates-metadata.jsonl"
ROOMS_DIR = "debates"
FORMAT_VERSION = 1
PAPER_SUFFIX = "-paper"
LIVE_JUDGE = "human"
"""``judge_model`` of the live judge's verdicts (every belief it reported; the last one is final)."""
OFFLINE_JUDGE = "human-offline"
"""``judge_model`` of the offline judges' verdicts: another judge, never final for the episode."""
PROTOCOLS = {
    (True, True): "human_debate",
    (True, False): "human_consultancy",
    (False, True): "ai_debate",
    (False, False): "ai_consultancy",
}
_PROB_SUM_TOLERANCE = 1e-6


# -- detokenising -----------------------------------------------------------------------------------

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


# -- reading the release ----------------------------------------------------------------------------


def _at(obj: Any, path: str, where: Path, kind: type | tuple[type, ...], *, line: int | None = None, label: str = "") -> Any:
    """``obj`` followed along the dotted ``path``, checked to be ``kind``; else a DatasetError.
    ``label`` says where ``obj`` itself sits in the file, for the message."""
    cur = obj
    full = f"{label}.{path}" if label else path
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise DatasetError(where, f"missing field '{full}'", line=line, field=full)
        cur = cur[key]
    if not isinstance(cur, kind) or (kind is int and isinstance(cur, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DatasetError(where, f"field '{full}' should be {names}, got {type(cur).__name__}", line=line, field=full)
    return cur


def _one_key(obj: Any, what: str, where: Path, line: int | None = None) -> tuple[str, Any]:
    if not isinstance(obj, dict) or len(obj) != 1:
        raise DatasetError(where, f"{what} should be an object with one key, got {json.dumps(obj)[:80]}", line=line)
    ((key, value),) = obj.items()
    return key, value


@dataclass(frozen=True)
class _Meta:
    line: int
    name: str
    is_human: bool
    is_debate: bool
    status: str
    included: bool
    final_judgement: tuple[float, ...] | None
    correct_index: int | None

    @property
    def protocol(self) -> str:
        return PROTOCOLS[(self.is_human, self.is_debate)]


def _read_metadata(path: Path) -> list[_Meta]:
    if not path.is_file():
        raise DatasetError(path, "no such file (the release's room metadata)")
    rows: list[_Meta] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for n, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as e:
                raise DatasetError(path, f"not valid JSON ({e.msg})", line=n) from None
            if not isinstance(rec, dict):
                raise DatasetError(path, "each line should be a JSON object", line=n)
            name = _at(rec, "name", path, str, line=n)
            if name in seen:
                raise DatasetError(path, f"room {name!r} is listed twice", line=n)
            seen.add(name)
            status, body = _one_key(_at(rec, "status", path, dict, line=n), "field 'status'", path, line=n)
            final = correct = None
            if status == "Complete":
                label = "status.Complete"
                correct = _at(body, "result.correctAnswerIndex", path, int, line=n, label=label)
                info = _at(body, "result", path, dict, line=n, label=label).get("judgingInfo")
                if info is not None:
                    final = tuple(_at(info, "finalJudgement", path, list, line=n, label=f"{label}.result.judgingInfo"))
            rows.append(
                _Meta(
                    line=n, name=name, is_human=_at(rec, "setting.isHuman", path, bool, line=n),
                    is_debate=_at(rec, "setting.isDebate", path, bool, line=n), status=status,
                    included=_at(rec, "includedInPaper", path, bool, line=n), final_judgement=final, correct_index=correct,
                )
            )
    if not rows:
        raise DatasetError(path, "no rooms listed")
    return rows


@dataclass
class _Room:
    meta: _Meta
    path: Path
    question: Question
    roles: dict[str, str]
    side: str | None
    """Consultancy only: whether the consultant argued the gold answer."""
    events: list[Turn | tuple[Verdict, bool]] = field(default_factory=list)
    """Turns and (verdict, is_final) pairs, in the order they happened."""
    final: Verdict | None = None
    error: str | None = None

    @property
    def protocol(self) -> str:
        return self.meta.protocol

    def spec(self, run_id: str) -> EpisodeSpec:
        params: dict[str, Any] = {"room": self.meta.name, "included_in_paper": self.meta.included}
        if self.side is not None:
            params["side"] = self.side
        return EpisodeSpec(
            run_id=run_id, question_id=self.question.id, protocol=self.protocol, params=params,
            roles=RoleAssignment(models=self.roles), seed=0, order=tuple(range(len(self.question.options))),
        )


def question_id(article_id: str, question: str) -> str:
    """Stable id of a QuALITY question in this release: article id plus a hash of its text."""
    digest = hashlib.sha256(" ".join(question.split()).encode()).hexdigest()[:10]
    return f"nyu-{article_id}-{digest}"


def _verdict(dist: list[Any], where: Path, what: str, *, model: str, kind: str, raw: str) -> Verdict:
    """A judge distribution as a verdict: chosen iff probability > 0.5 (the paper's rule)."""
    if len(dist) != 2 or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in dist):
        raise DatasetError(where, f"{what}: distribution should be two numbers, got {dist!r}")
    probs = [float(p) for p in dist]
    if any(not 0.0 <= p <= 1.0 for p in probs) or abs(sum(probs) - 1.0) > _PROB_SUM_TOLERANCE:
        raise DatasetError(where, f"{what}: distribution {dist!r} is not a probability distribution")
    above = [i for i, p in enumerate(probs) if p > 0.5]
    chosen = above[0] if above else None
    return Verdict(
        chosen=chosen, probabilities=probs, raw=raw,
        status=ParseStatus.OK if chosen is not None else ParseStatus.AMBIGUOUS,
        confidence=max(probs), judge_model=model, judge_kind=kind,
    )


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
        kind, body = _one_key(item, f"{what}.content[{k}]", where)
        if kind == "Text":
            # A literal tag in typed text (four judges wrote "use <quote> tags") would read as a quote.
            parts.append(_QUOTE_TAG.sub(r"‹\1›", _at(body, "text", where, str, label=f"{what}.content[{k}].Text")))
        elif kind == "Quote":
            span = _at(body, "span", where, list, label=f"{what}.content[{k}].Quote")
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


def _debater_index(role_name: str) -> int | None:
    if role_name.startswith("Debater ") and len(role_name) == 9 and role_name[-1] in LETTERS:
        return LETTERS.index(role_name[-1])
    return None


def _model(name: str) -> str:
    return "gpt-4" if name.strip().upper() == "GPT-4" else "human"


def _parse_room(path: Path, meta: _Meta, stories: dict[tuple[str, ...], Story]) -> _Room:
    if not path.is_file():
        raise DatasetError(path, f"no such file (room listed in {METADATA_FILE} line {meta.line})")
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(path, f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise DatasetError(path, f"not UTF-8 text ({e.reason})") from None

    sm = "setup.sourceMaterial.QuALITYSourceMaterial"
    tokens = _at(data, f"{sm}.contents", path, list)
    key = tuple(tokens)
    story = stories.get(key)
    if story is None:
        if not all(isinstance(t, str) for t in key):
            raise DatasetError(path, f"field '{sm}.contents' should hold only strings (tokens)")
        story = stories[key] = detokenise(key)
    article_id = str(_at(data, f"{sm}.articleId", path, (str, int)))
    title = _at(data, f"{sm}.title", path, str)
    text = _at(data, "setup.question", path, str)
    answers = _at(data, "setup.answers", path, list)
    gold = _at(data, "setup.correctAnswerIndex", path, int)
    if meta.correct_index is not None and meta.correct_index != gold:
        raise DatasetError(path, f"correctAnswerIndex {gold} disagrees with {METADATA_FILE} line {meta.line} ({meta.correct_index})")
    try:
        question = Question(
            id=question_id(article_id, text), question=text, options=tuple(answers), gold_index=gold,
            context=story.text, title=title,
            source={
                "dataset": DATASET, "room": meta.name, "license": LICENSE, "article_id": article_id,
                "is_human": meta.is_human, "is_debate": meta.is_debate, "included_in_paper": meta.included,
                "status": meta.status,
            },
        )
    except ValidationError as e:
        raise from_validation(path, None, e) from None
    if len(question.options) != 2:
        raise DatasetError(path, f"expected 2 answers, got {len(question.options)}", field="answers")

    role_names = _at(data, "setup.roles", path, dict)
    debaters = {i: name for r, name in role_names.items() if (i := _debater_index(r)) is not None}
    if not debaters or any(i >= len(question.options) for i in debaters):
        raise DatasetError(path, f"setup.roles names no debater for the {len(question.options)} answers: {sorted(role_names)}")
    if meta.is_debate != (len(debaters) == 2):
        raise DatasetError(path, f"a {meta.protocol} room should have {'two debaters' if meta.is_debate else 'one debater'}, "
                                 f"setup.roles has {sorted(role_names)}")
    roles: dict[str, str] = {}
    side: str | None = None
    if meta.is_debate:
        roles[Role.DEBATER_A.value] = _model(str(debaters[0]))
        roles[Role.DEBATER_B.value] = _model(str(debaters[1]))
    else:
        ((consultant, name),) = debaters.items()
        roles[Role.EXPERT.value] = _model(str(name))
        side = "correct" if consultant == gold else "incorrect"
    if "Judge" in role_names:
        roles[Role.JUDGE.value] = "human"

    room = _Room(meta=meta, path=path, question=question, roles=roles, side=side)
    _parse_rounds(room, _at(data, "rounds", path, list), story, debaters)

    if meta.status == "Complete":
        if meta.final_judgement is None:
            if room.final is not None:
                raise DatasetError(path, f"the room has a final judgement but {METADATA_FILE} line {meta.line} has none")
            room.error = "no live judge: the room ended without a judge's verdict (offline judgments only)"
        elif room.final is None:
            raise DatasetError(path, "the room is Complete with a finalJudgement but has no JudgeFeedback with endDebate")
        elif room.final.probabilities != [float(p) for p in meta.final_judgement]:
            raise DatasetError(path, f"the final JudgeFeedback {room.final.probabilities} disagrees with "
                                     f"{METADATA_FILE} line {meta.line} ({list(meta.final_judgement)})")
    return room


def _parse_rounds(room: _Room, rounds: list[Any], story: Story, debaters: dict[int, Any]) -> None:
    where = room.path
    n_options = len(room.question.options)
    speech_round = 0
    live: list[Turn | tuple[Verdict, bool]] = []
    offline: list[tuple[Verdict, bool]] = []
    n_turns = 0

    for r, item in enumerate(rounds):
        kind, body = _one_key(item, f"rounds[{r}]", where)
        what = f"rounds[{r}].{kind}"
        if kind in ("SimultaneousSpeeches", "SequentialSpeeches"):
            speeches = _at(body, "speeches", where, dict, label=what)
            if not speeches:
                continue
            speech_round += 1
            entries = []
            for key, speech in speeches.items():
                if not (key.isdigit() and int(key) < n_options):
                    raise DatasetError(where, f"{what}: speech key {key!r} is not an answer index")
                if int(key) not in debaters:
                    raise DatasetError(where, f"{what}: a speech for answer {key} but no Debater {LETTERS[int(key)]} in setup.roles")
                if not isinstance(speech, dict):
                    raise DatasetError(where, f"{what}.speeches.{key} should be an object")
                ts = speech.get("timestamp")
                order = ts if kind == "SequentialSpeeches" and isinstance(ts, (int, float)) else 0
                entries.append((order, int(key), speech))
            for ts, k, speech in sorted(entries, key=lambda e: (e[0], e[1])):
                sw = f"{what}.speeches.{k}"
                text, quotes, clamped = render_content(_at(speech, "content", where, list, label=sw), story, where, sw)
                meta: dict[str, Any] = {
                    "speaker": speech.get("speaker"), "timestamp": speech.get("timestamp"),
                    "simultaneous": kind == "SimultaneousSpeeches", "source_round": r,
                }
                if clamped:
                    meta["clamped_quote_spans"] = clamped
                role = (Role.DEBATER_A, Role.DEBATER_B)[k] if room.meta.is_debate else Role.EXPERT
                live.append(Turn(
                    index=n_turns, round=speech_round, role=role, kind=Kind.SPEECH, text=text, argues_for=k,
                    argues_for_letter=LETTERS[k], quotes=quotes, meta=meta,
                ))
                n_turns += 1
        elif kind == "JudgeFeedback":
            dist = _at(body, "distribution", where, list, label=what)
            end = _at(body, "endDebate", where, bool, label=what)
            feedback = _at(body, "feedback", where, dict, label=what)
            text, quotes, _ = render_content(_at(feedback, "content", where, list, label=f"{what}.feedback"), story, where, f"{what}.feedback")
            if room.final is not None:
                raise DatasetError(where, f"{what}: a JudgeFeedback after the one that ended the debate")
            verdict = _verdict(dist, where, what, model=LIVE_JUDGE, kind="human", raw=text)
            live.append(Turn(
                index=n_turns, round=speech_round, role=Role.JUDGE, kind=Kind.VERDICT if end else Kind.JUDGE_QUESTION,
                text=text, quotes=quotes,
                meta={"distribution": verdict.probabilities, "end_debate": end, "speaker": feedback.get("speaker"),
                      "timestamp": feedback.get("timestamp"), "source_round": r},
            ))
            n_turns += 1
            live.append((verdict, end))
            if end:
                room.final = verdict
        elif kind == "OfflineJudgments":
            for judge, record in sorted(_at(body, "judgments", where, dict, label=what).items()):
                mode = record.get("mode") if isinstance(record, dict) else None
                for step, j in enumerate(_at(record, "judgments", where, list, label=f"{what}.judgments.{judge}")):
                    jw = f"{what}.judgments.{judge}[{step}]"
                    fb = _at(j, "feedback", where, dict, label=jw)
                    text, _, _ = render_content(_at(fb, "content", where, list, label=f"{jw}.feedback"), story, where, f"{jw}.feedback")
                    raw = json.dumps({"offline_judge": judge, "mode": mode, "step": step, "end_debate": j.get("endDebate"),
                                      "feedback": text}, ensure_ascii=False)
                    offline.append((_verdict(_at(j, "distribution", where, list, label=jw), where, jw,
                                            model=OFFLINE_JUDGE, kind="human_offline", raw=raw), False))
        elif kind == "NegotiateEnd":
            continue
        else:
            raise DatasetError(where, f"rounds[{r}]: unknown round type {kind!r}")
    room.events = live + offline


# -- writing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    """What ``import_nyu`` found and wrote."""

    db_path: str
    run_id: str
    paper_run_id: str
    rooms_listed: int
    """Rooms in the metadata (631 in the release)."""
    rooms_imported: int
    """Rooms imported into ``run_id`` (561: the Complete ones, by default)."""
    left_out: dict[str, int]
    """Rooms not imported, by status (``InProgress``, ``WaitingToBegin``)."""
    by_protocol: dict[str, int]
    """Imported rooms per protocol."""
    paper_by_protocol: dict[str, int]
    """Rooms included in the paper (imported into ``paper_run_id``) per protocol."""
    no_live_judge: int
    """Complete rooms without a live judge, stored as ``error`` episodes."""
    unfinished: int
    """Rooms still in progress, stored as ``running`` episodes (``only_complete=False`` only)."""
    questions: int
    """Distinct questions (article, question text) among the imported rooms."""
    written: int
    """Episodes written by this call, both runs together."""
    skipped: int
    """Episodes already finished in the database, left as they were."""

    @property
    def included_in_paper(self) -> int:
        return sum(self.paper_by_protocol.values())

    def lines(self) -> list[str]:
        def counts(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

        left = f"; left out {counts(self.left_out)}" if self.left_out else ""
        return [
            f"{self.rooms_imported} of {self.rooms_listed} rooms imported into run {self.run_id!r}{left}",
            f"  by protocol: {counts(self.by_protocol)}; {self.questions} distinct questions",
            f"{self.included_in_paper} rooms included in the paper, also in run {self.paper_run_id!r}: "
            f"{counts(self.paper_by_protocol)}",
            f"{self.no_live_judge} rooms without a live judge (stored as errors); {self.unfinished} unfinished",
            f"{self.written} episodes written, {self.skipped} already in {self.db_path} (skipped)",
        ]


def _run_config(root: Path, subset: str, only_complete: bool | None, metadata_sha: str) -> tuple[str, str]:
    """The run's config JSON and hash. The folder is recorded but not hashed: moving the data
    doesn't stop a re-import from resuming; a changed metadata file does."""
    config: dict[str, Any] = {
        "importer": "nyu", "format_version": FORMAT_VERSION, "dataset": DATASET, "subset": subset,
        "metadata_sha256": metadata_sha,
    }
    if only_complete is not None:
        config["only_complete"] = only_complete
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return json.dumps({**config, "root": str(root)}, sort_keys=True), digest


def _write(db_path: Path, runs: list[tuple[str, str, str, list[_Room]]]) -> tuple[int, int]:
    """Write the runs through storage's bulk writer. Returns (written, skipped as finished)."""
    return write_finished_runs(db_path, [
        FinishedRun(run_id, config_json, config_hash,
                    [FinishedEpisode(room.spec(run_id), room.question, room.events, room.final, room.error) for room in rooms])
        for run_id, config_json, config_hash, rooms in runs
    ])


def _read_release(root: Path) -> tuple[Path, list[_Meta], str]:
    """The rooms folder, the metadata rows and the metadata file's sha256; checks the layout."""
    if not root.is_dir():
        raise DatasetError(root, "no such folder (expected the NYU debate release: debates/ and debates-metadata.jsonl)")
    meta_path = root / METADATA_FILE
    metas = _read_metadata(meta_path)
    rooms_dir = root / ROOMS_DIR
    if not rooms_dir.is_dir():
        raise DatasetError(rooms_dir, "no such folder (the release's room files)")
    return rooms_dir, metas, hashlib.sha256(meta_path.read_bytes()).hexdigest()


def _parse_rooms(rooms_dir: Path, metas: list[_Meta], only_complete: bool) -> list[_Room]:
    stories: dict[tuple[str, ...], Story] = {}
    return [
        _parse_room(rooms_dir / f"{m.name}.json", m, stories) for m in metas if m.status == "Complete" or not only_complete
    ]


def load_rooms(root: str | Path, *, only_complete: bool = True) -> tuple[list[_Meta], list[_Room], str]:
    """Read and check the release: (every metadata row, the selected rooms parsed, metadata sha256)."""
    rooms_dir, metas, sha = _read_release(Path(root).expanduser())
    return metas, _parse_rooms(rooms_dir, metas, only_complete), sha


def _check_runs(db_path: Path, configs: dict[str, tuple[str, str]]) -> None:
    """Refuse a run name already used with another config before the slow part, not after it."""
    if not db_path.is_file():
        return
    db = open_database(db_path)
    try:
        for run_id, (_, config_hash) in configs.items():
            row = db.run(run_id)
            if row is not None and row.config_hash != config_hash:
                raise ConfigMismatchError(run_id, row.config_hash, config_hash)
    finally:
        db.close()


def import_nyu(
    root: str | Path, db_path: str | Path, *, run_name: str = "nyu-debates", only_complete: bool = True
) -> ImportSummary:
    """Import the NYU debate release at ``root`` into the database at ``db_path``: every
    (by default every ``Complete``) room into run ``run_name``, the rooms included in the paper
    also into run ``run_name + "-paper"``. Safe to repeat. See the module docstring for the
    mapping. Synchronous (no event loop); from async code use ``asyncio.to_thread``.

    Raises ``DatasetError`` (one line, naming the file) for anything wrong with the release,
    before the database is touched, and ``ConfigMismatchError`` when ``run_name`` already holds
    an import of another metadata file or with another ``only_complete``."""
    if not run_name or not run_name.strip():
        raise ValueError("run_name must not be empty")
    root, db_path = Path(root).expanduser(), Path(db_path).expanduser()
    rooms_dir, metas, sha = _read_release(root)
    paper_run = f"{run_name}{PAPER_SUFFIX}"
    configs = {
        run_name: _run_config(root, "all", only_complete, sha),
        paper_run: _run_config(root, "included_in_paper", None, sha),
    }
    _check_runs(db_path, configs)
    rooms = _parse_rooms(rooms_dir, metas, only_complete)
    paper_rooms = [r for r in rooms if r.meta.included]
    written, skipped = _write(db_path, [(run_name, *configs[run_name], rooms), (paper_run, *configs[paper_run], paper_rooms)])
    imported = {r.meta.name for r in rooms}
    return ImportSummary(
        db_path=str(db_path), run_id=run_name, paper_run_id=paper_run, rooms_listed=len(metas),
        rooms_imported=len(rooms),
        left_out=dict(Counter(m.status for m in metas if m.name not in imported)),
        by_protocol=dict(Counter(r.protocol for r in rooms)),
        paper_by_protocol=dict(Counter(r.protocol for r in paper_rooms)),
        no_live_judge=sum(r.error is not None for r in rooms),
        unfinished=sum(r.final is None and r.error is None for r in rooms),
        questions=len({r.question.id for r in rooms}), written=written, skipped=skipped,
    )


__all__ = [
    "ImportSummary", "Story", "detokenise", "import_nyu", "load_rooms", "question_id", "render_content",
]
