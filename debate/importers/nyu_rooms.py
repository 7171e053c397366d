"""Read and check the NYU release: the metadata rows (``_Meta``) and each room file parsed into a
``_Room`` holding its question, roles, turns and verdicts, ready to be written as an episode.

The mapping from the release to questions, roles, turns and verdicts (and why) is described in
``debate.importers.nyu``. Nothing here touches a database: every problem with the input is raised
as a one-line ``DatasetError`` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from debate.core import EpisodeSpec, Kind, ParseStatus, Question, Role, RoleAssignment, Turn, Verdict
from debate.core.question import LETTERS
from debate.datasets.errors import DatasetError, from_validation
from debate.importers.nyu_fields import at, one_key
from debate.importers.nyu_text import Story, detokenise, render_content

DATASET = "quality_nyu_debates"
LICENSE = "CC-BY-4.0"
METADATA_FILE = "debates-metadata.jsonl"
ROOMS_DIR = "debates"
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


# -- metadata ---------------------------------------------------------------------------------------


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
            name = at(rec, "name", path, str, line=n)
            if name in seen:
                raise DatasetError(path, f"room {name!r} is listed twice", line=n)
            seen.add(name)
            status, body = one_key(at(rec, "status", path, dict, line=n), "field 'status'", path, line=n)
            final = correct = None
            if status == "Complete":
                label = "status.Complete"
                correct = at(body, "result.correctAnswerIndex", path, int, line=n, label=label)
                info = at(body, "result", path, dict, line=n, label=label).get("judgingInfo")
                if info is not None:
                    final = tuple(at(info, "finalJudgement", path, list, line=n, label=f"{label}.result.judgingInfo"))
            rows.append(
                _Meta(
                    line=n, name=name, is_human=at(rec, "setting.isHuman", path, bool, line=n),
                    is_debate=at(rec, "setting.isDebate", path, bool, line=n), status=status,
                    included=at(rec, "includedInPaper", path, bool, line=n), final_judgement=final, correct_index=correct,
                )
            )
    if not rows:
        raise DatasetError(path, "no rooms listed")
    return rows


# -- rooms ------------------------------------------------------------------------------------------


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
    tokens = at(data, f"{sm}.contents", path, list)
    key = tuple(tokens)
    story = stories.get(key)
    if story is None:
        if not all(isinstance(t, str) for t in key):
            raise DatasetError(path, f"field '{sm}.contents' should hold only strings (tokens)")
        story = stories[key] = detokenise(key)
    article_id = str(at(data, f"{sm}.articleId", path, (str, int)))
    title = at(data, f"{sm}.title", path, str)
    text = at(data, "setup.question", path, str)
    answers = at(data, "setup.answers", path, list)
    gold = at(data, "setup.correctAnswerIndex", path, int)
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

    role_names = at(data, "setup.roles", path, dict)
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
    _parse_rounds(room, at(data, "rounds", path, list), story, debaters)

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
        kind, body = one_key(item, f"rounds[{r}]", where)
        what = f"rounds[{r}].{kind}"
        if kind in ("SimultaneousSpeeches", "SequentialSpeeches"):
            speeches = at(body, "speeches", where, dict, label=what)
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
                text, quotes, clamped = render_content(at(speech, "content", where, list, label=sw), story, where, sw)
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
            dist = at(body, "distribution", where, list, label=what)
            end = at(body, "endDebate", where, bool, label=what)
            feedback = at(body, "feedback", where, dict, label=what)
            text, quotes, _ = render_content(at(feedback, "content", where, list, label=f"{what}.feedback"), story, where, f"{what}.feedback")
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
            for judge, record in sorted(at(body, "judgments", where, dict, label=what).items()):
                mode = record.get("mode") if isinstance(record, dict) else None
                for step, j in enumerate(at(record, "judgments", where, list, label=f"{what}.judgments.{judge}")):
                    jw = f"{what}.judgments.{judge}[{step}]"
                    fb = at(j, "feedback", where, dict, label=jw)
                    text, _, _ = render_content(at(fb, "content", where, list, label=f"{jw}.feedback"), story, where, f"{jw}.feedback")
                    raw = json.dumps({"offline_judge": judge, "mode": mode, "step": step, "end_debate": j.get("endDebate"),
                                      "feedback": text}, ensure_ascii=False)
                    offline.append((_verdict(at(j, "distribution", where, list, label=jw), where, jw,
                                            model=OFFLINE_JUDGE, kind="human_offline", raw=raw), False))
        elif kind == "NegotiateEnd":
            continue
        else:
            raise DatasetError(where, f"rounds[{r}]: unknown round type {kind!r}")
    room.events = live + offline


# -- the release ------------------------------------------------------------------------------------


def read_release(root: Path) -> tuple[Path, list[_Meta], str]:
    """The rooms folder, the metadata rows and the metadata file's sha256; checks the layout."""
    if not root.is_dir():
        raise DatasetError(root, "no such folder (expected the NYU debate release: debates/ and debates-metadata.jsonl)")
    meta_path = root / METADATA_FILE
    metas = _read_metadata(meta_path)
    rooms_dir = root / ROOMS_DIR
    if not rooms_dir.is_dir():
        raise DatasetError(rooms_dir, "no such folder (the release's room files)")
    return rooms_dir, metas, hashlib.sha256(meta_path.read_bytes()).hexdigest()


def parse_rooms(rooms_dir: Path, metas: list[_Meta], only_complete: bool) -> list[_Room]:
    stories: dict[tuple[str, ...], Story] = {}
    return [
        _parse_room(rooms_dir / f"{m.name}.json", m, stories) for m in metas if m.status == "Complete" or not only_complete
    ]


def load_rooms(root: str | Path, *, only_complete: bool = True) -> tuple[list[_Meta], list[_Room], str]:
    """Read and check the release: (every metadata row, the selected rooms parsed, metadata sha256)."""
    rooms_dir, metas, sha = read_release(Path(root).expanduser())
    return metas, parse_rooms(rooms_dir, metas, only_complete), sha


__all__ = [
    "DATASET", "LICENSE", "LIVE_JUDGE", "METADATA_FILE", "OFFLINE_JUDGE", "PROTOCOLS", "ROOMS_DIR",
    "load_rooms", "parse_rooms", "question_id", "read_release",
]
