"""Read-only browsing for the transcript viewer: filtered, paged episode lists and one
episode's whole record.

``open_browser`` opens the file read-only (an SQLite ``mode=ro`` URI), so a viewer can follow a
run that is still being written without ever taking the write lock. Every call is its own
short read, so each one sees the latest committed state (WAL readers never block the writer).

Lists are paged (``page(filter, offset, limit)``) and counted (``tally(filter)``) with the same
filter, so a viewer can show a 10,000-episode run while holding only the rows on screen.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, and_, create_engine, event, exists, func, literal_column, or_
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, col, select

from debate.core import EpisodeStatus, ParseStatus, Turn, Verdict
from debate.storage.engine import APPLICATION_ID, BUSY_TIMEOUT_S, SCHEMA_VERSION, check_file
from debate.storage.errors import StorageError
from debate.storage.tables import (
    EpisodeRow,
    ModelCallRow,
    PassageRow,
    QuestionRow,
    RunRow,
    TurnRow,
    VerdictRow,
)

_EPISODE_ROWID = literal_column("episodes.rowid")
"""Insertion order: the order the run planned its episodes."""


class EpisodeFilter(BaseModel):
    """Which episodes a list shows. Every field narrows; the default shows every episode."""

    model_config = ConfigDict(frozen=True)

    run_id: str | None = None
    variant: str | None = None
    """Protocol variant, e.g. ``debate`` or ``consultancy[incorrect]``."""
    correct: bool | None = None
    """True: the deciding verdict was right; False: it was wrong (parse failures included)."""
    parse_failure: bool = False
    """Only episodes whose deciding verdict could not be parsed."""
    error: bool = False
    """Only episodes that ended in an error."""
    status: EpisodeStatus | None = None
    order: tuple[int, ...] | None = None
    """Display order of the options (``order[k]`` is the option shown as letter k)."""
    model: str | None = None
    """A model playing any role (judge or expert) in the episode."""
    search: str | None = None
    """Substring of the question text or of any turn's text (ASCII case-insensitive)."""

    @property
    def active(self) -> dict[str, Any]:
        """The narrowing fields, by name (what a status line shows)."""
        out: dict[str, Any] = {}
        for name in ("variant", "correct", "status", "order", "model", "search"):
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = value
        if self.parse_failure:
            out["parse_failure"] = True
        if self.error:
            out["error"] = True
        return out


class EpisodeSummary(BaseModel):
    """One row of an episode list."""

    episode_id: str
    run_id: str
    protocol: str
    variant: str
    question_id: str
    question: str
    options: tuple[str, ...]
    gold_index: int
    order: tuple[int, ...]
    roles: dict[str, str]
    judge_model: str
    """The deciding verdict's judge, else the run's judge role ("" for judge-less protocols)."""
    status: EpisodeStatus
    correct: bool | None
    chosen: int | None
    parse_status: ParseStatus | None
    error: str | None
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None


class Tally(BaseModel):
    """Counts over the episodes a filter selects."""

    total: int = 0
    by_status: dict[str, int] = {}
    correct: int = 0
    incorrect: int = 0
    parse_failures: int = 0


class RunSummary(BaseModel):
    id: str
    name: str
    status: str
    created_at: datetime
    tally: Tally


class Facets(BaseModel):
    """The values each list filter can take in a run (what filter keys cycle through)."""

    variants: list[str] = []
    models: list[str] = []
    orders: list[tuple[int, ...]] = []


class VerdictEntry(BaseModel):
    verdict: Verdict
    is_final: bool
    correct: bool
    after_turns: int
    """How many turns had been stored when it was given (where it sits in the transcript)."""


class CallEntry(BaseModel):
    """A model call of the episode. ``prompt``/``reply`` are None unless asked for (they can be
    megabytes: every prompt repeats the transcript so far)."""

    model: str
    purpose: str
    role: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float
    error: str | None
    prompt_chars: int
    reply_chars: int
    prompt: str | None = None
    reply: str | None = None


class EpisodeBundle(BaseModel):
    """Everything stored about one episode (the passage excepted: ``Browser.passage``)."""

    summary: EpisodeSummary
    passage_hash: str
    turns: list[Turn]
    verdicts: list[VerdictEntry]
    calls: list[CallEntry]


class Browser:
    """Read-only queries over a debate database. Use ``open_browser``."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine

    def __repr__(self) -> str:
        return f"Browser({str(self.path)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- runs ---------------------------------------------------------------------------------

    def runs(self) -> list[RunSummary]:
        """Every run, oldest first, with its episode counts."""
        with self._session() as s:
            runs = list(s.exec(select(RunRow).order_by(col(RunRow.created_at))))
            groups = s.exec(
                select(EpisodeRow.run_id, EpisodeRow.status, EpisodeRow.correct, EpisodeRow.parse_status, func.count())
                .group_by(EpisodeRow.run_id, EpisodeRow.status, EpisodeRow.correct, EpisodeRow.parse_status)
            ).all()
        by_run: dict[str, list[tuple[Any, ...]]] = {}
        for run_id, *rest in groups:
            by_run.setdefault(run_id, []).append(tuple(rest))
        return [
            RunSummary(id=r.id, name=r.name, status=r.status, created_at=r.created_at, tally=_tally(by_run.get(r.id, [])))
            for r in runs
        ]

    def run_ids(self) -> list[str]:
        with self._session() as s:
            return list(s.exec(select(RunRow.id).order_by(col(RunRow.created_at))))

    # -- episode lists ------------------------------------------------------------------------

    def tally(self, flt: EpisodeFilter) -> Tally:
        """Counts of the episodes ``flt`` selects: total, by status, right, wrong, unparsed."""
        q = select(EpisodeRow.status, EpisodeRow.correct, EpisodeRow.parse_status, func.count()).select_from(EpisodeRow)
        q = _where(_join(q, flt), flt).group_by(EpisodeRow.status, EpisodeRow.correct, EpisodeRow.parse_status)
        with self._session() as s:
            return _tally(s.exec(q).all())

    def count(self, flt: EpisodeFilter) -> int:
        q = _where(_join(select(func.count()).select_from(EpisodeRow), flt), flt)
        with self._session() as s:
            return int(s.exec(q).one())

    def page(self, flt: EpisodeFilter, offset: int, limit: int) -> list[EpisodeSummary]:
        """Episodes ``offset`` to ``offset + limit`` (in insertion order) of those ``flt`` selects."""
        q = select(EpisodeRow, QuestionRow.id, QuestionRow.question, QuestionRow.options_json, QuestionRow.gold_index)
        q = q.join(QuestionRow, col(QuestionRow.uid) == col(EpisodeRow.question_uid))
        q = _where(q, flt).order_by(_EPISODE_ROWID).offset(max(0, offset)).limit(max(0, limit))
        with self._session() as s:
            rows = s.exec(q).all()
        return [_summary(ep, qid, text, opts, gold) for ep, qid, text, opts, gold in rows]

    def facets(self, run_id: str | None = None) -> Facets:
        """Distinct variants, models and option orders (of one run, or of all)."""
        q = select(EpisodeRow.variant, EpisodeRow.roles_json, EpisodeRow.order_json, EpisodeRow.judge_model).distinct()
        if run_id is not None:
            q = q.where(EpisodeRow.run_id == run_id)
        variants: set[str] = set()
        models: set[str] = set()
        orders: set[tuple[int, ...]] = set()
        with self._session() as s:
            for variant, roles_json, order_json, judge in s.exec(q):
                variants.add(variant)
                models.update(json.loads(roles_json).values())
                if judge:
                    models.add(judge)
                orders.add(tuple(json.loads(order_json)))
        return Facets(variants=sorted(variants), models=sorted(models), orders=sorted(orders))

    # -- one episode --------------------------------------------------------------------------

    def episode(self, episode_id: str) -> EpisodeSummary | None:
        q = select(EpisodeRow, QuestionRow.id, QuestionRow.question, QuestionRow.options_json, QuestionRow.gold_index)
        q = q.join(QuestionRow, col(QuestionRow.uid) == col(EpisodeRow.question_uid)).where(EpisodeRow.id == episode_id)
        with self._session() as s:
            row = s.exec(q).first()
        return None if row is None else _summary(*row)

    def bundle(self, episode_id: str, call_text: bool = False) -> EpisodeBundle | None:
        """The episode with its turns, verdicts and model calls (prompts and replies only with
        ``call_text``), read in one transaction so the parts agree while a run is writing."""
        q = select(EpisodeRow, QuestionRow.id, QuestionRow.question, QuestionRow.options_json, QuestionRow.gold_index,
                   QuestionRow.passage_hash)
        q = q.join(QuestionRow, col(QuestionRow.uid) == col(EpisodeRow.question_uid)).where(EpisodeRow.id == episode_id)
        call_cols = [
            ModelCallRow.model, ModelCallRow.purpose, ModelCallRow.role, ModelCallRow.prompt_tokens,
            ModelCallRow.completion_tokens, ModelCallRow.latency_s, ModelCallRow.cost_usd, ModelCallRow.error,
            func.length(ModelCallRow.prompt), func.length(ModelCallRow.reply),
        ]
        if call_text:
            call_cols += [ModelCallRow.prompt, ModelCallRow.reply]
        with self._session() as s, s.begin():
            row = s.exec(q).first()
            if row is None:
                return None
            ep, qid, text, opts, gold, passage_hash = row
            turns = list(s.exec(select(TurnRow).where(TurnRow.episode_id == episode_id).order_by(col(TurnRow.idx), col(TurnRow.id))))
            verdicts = list(s.exec(select(VerdictRow).where(VerdictRow.episode_id == episode_id).order_by(col(VerdictRow.id))))
            calls = s.exec(select(*call_cols).where(ModelCallRow.episode_id == episode_id).order_by(col(ModelCallRow.id))).all()
        stamps = [t.created_at for t in turns]
        return EpisodeBundle(
            summary=_summary(ep, qid, text, opts, gold),
            passage_hash=passage_hash,
            turns=[t.to_turn() for t in turns],
            verdicts=[
                VerdictEntry(verdict=v.to_verdict(), is_final=v.is_final, correct=v.correct,
                             after_turns=bisect.bisect_right(stamps, v.created_at))
                for v in verdicts
            ],
            calls=[_call(c, call_text) for c in calls],
        )

    def version(self, episode_id: str) -> tuple[Any, ...]:
        """Changes whenever the episode's stored record does (what live mode polls)."""
        with self._session() as s, s.begin():
            ep = s.get(EpisodeRow, episode_id)
            if ep is None:
                return ()
            n = [
                s.exec(select(func.count(), func.max(t.id)).where(t.episode_id == episode_id)).one()  # type: ignore[attr-defined]
                for t in (TurnRow, VerdictRow, ModelCallRow)
            ]
        return (ep.status, ep.attempt, ep.finished_at, *n)

    def passage(self, passage_hash: str) -> str | None:
        with self._session() as s:
            row = s.get(PassageRow, passage_hash)
        return None if row is None else row.text


# -- query pieces -----------------------------------------------------------------------------


def _join(q: Any, flt: EpisodeFilter) -> Any:
    """Only a search needs the question text."""
    if flt.search:
        q = q.join(QuestionRow, col(QuestionRow.uid) == col(EpisodeRow.question_uid))
    return q


def _where(q: Any, flt: EpisodeFilter) -> Any:
    if flt.run_id is not None:
        q = q.where(EpisodeRow.run_id == flt.run_id)
    if flt.variant is not None:
        q = q.where(EpisodeRow.variant == flt.variant)
    if flt.correct is not None:
        q = q.where(col(EpisodeRow.correct).is_(flt.correct))
    if flt.parse_failure:
        q = q.where(col(EpisodeRow.parse_status).is_not(None), EpisodeRow.parse_status != ParseStatus.OK.value)
    if flt.error:
        q = q.where(EpisodeRow.status == EpisodeStatus.ERROR.value)
    if flt.status is not None:
        q = q.where(EpisodeRow.status == EpisodeStatus(flt.status).value)
    if flt.order is not None:
        q = q.where(EpisodeRow.order_json == json.dumps(list(flt.order)))
    if flt.model:
        # roles_json is canonical JSON (``json.dumps``, sorted keys): a role's value reads `: "model"`.
        needle = ": " + json.dumps(flt.model, ensure_ascii=False)
        q = q.where(or_(col(EpisodeRow.roles_json).contains(needle, autoescape=True), EpisodeRow.judge_model == flt.model))
    if flt.search:
        term = flt.search
        in_turns = exists().where(
            and_(col(TurnRow.episode_id) == col(EpisodeRow.id), col(TurnRow.text).contains(term, autoescape=True))
        )
        q = q.where(or_(col(QuestionRow.question).contains(term, autoescape=True), in_turns))
    return q


def _tally(groups: Any) -> Tally:
    by_status: Counter[str] = Counter()
    t = Tally()
    for status, correct, parse_status, n in groups:
        by_status[status] += n
        t.total += n
        if correct is True or correct == 1:
            t.correct += n
        elif correct is False or correct == 0:
            t.incorrect += n
        if parse_status is not None and parse_status != ParseStatus.OK.value:
            t.parse_failures += n
    t.by_status = {st.value: by_status.get(st.value, 0) for st in EpisodeStatus}
    return t


def _summary(ep: EpisodeRow, qid: str, text: str, options_json: str, gold: int) -> EpisodeSummary:
    roles: dict[str, str] = json.loads(ep.roles_json)
    return EpisodeSummary(
        episode_id=ep.id,
        run_id=ep.run_id,
        protocol=ep.protocol,
        variant=ep.variant,
        question_id=qid,
        question=text,
        options=tuple(json.loads(options_json)),
        gold_index=gold,
        order=tuple(json.loads(ep.order_json)),
        roles=roles,
        judge_model=ep.judge_model or roles.get("judge", ""),
        status=EpisodeStatus(ep.status),
        correct=ep.correct,
        chosen=ep.chosen,
        parse_status=None if ep.parse_status is None else ParseStatus(ep.parse_status),
        error=ep.error,
        attempt=ep.attempt,
        started_at=ep.started_at,
        finished_at=ep.finished_at,
    )


def _call(row: Any, call_text: bool) -> CallEntry:
    model, purpose, role, p_tok, c_tok, latency, cost, error, p_len, r_len, *text = row
    return CallEntry(
        model=model, purpose=purpose, role=role, prompt_tokens=p_tok, completion_tokens=c_tok, latency_s=latency,
        cost_usd=cost, error=error, prompt_chars=p_len or 0, reply_chars=r_len or 0,
        prompt=text[0] if call_text else None, reply=text[1] if call_text else None,
    )


# -- opening ----------------------------------------------------------------------------------


def _readonly_engine(path: Path) -> Engine:
    uri = f"file:{pathname2url(str(path.resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_S)

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=2, max_overflow=4)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return engine


def open_browser(path: str | Path) -> Browser:
    """Open the debate database at ``path`` read-only. Raises ``StorageError`` when it is missing
    or is not a debate database; never creates it, and changes it only to upgrade an older schema."""
    path = Path(path).expanduser()
    if not path.exists():
        raise StorageError(f"{path}: no such database")
    check_file(path)
    engine = _readonly_engine(path)
    try:
        with engine.connect() as conn:
            app_id = conn.exec_driver_sql("PRAGMA application_id").scalar()
            version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
            tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())
    except Exception as e:  # noqa: BLE001 - any failure to read it means it is not usable here
        engine.dispose()
        raise StorageError(f"{path} cannot be read as a debate database ({e})") from e
    if not tables:
        engine.dispose()
        raise StorageError(f"{path} is empty: no run has been written to it yet")
    if app_id != APPLICATION_ID or "episodes" not in tables:
        engine.dispose()
        raise StorageError(f"{path} is not a debate database (an SQLite file with other tables)")
    if version > SCHEMA_VERSION:
        engine.dispose()
        raise StorageError(f"{path} has schema version {version}; this code knows up to {SCHEMA_VERSION}")
    if 0 < version < SCHEMA_VERSION:
        # Written by an older version: upgrade it once (the only write this function makes).
        engine.dispose()
        from debate.storage.database import open_database

        open_database(path).close()
        engine = _readonly_engine(path)
    return Browser(path, engine)


__all__ = [
    "Browser",
    "CallEntry",
    "EpisodeBundle",
    "EpisodeFilter",
    "EpisodeSummary",
    "Facets",
    "RunSummary",
    "Tally",
    "VerdictEntry",
    "open_browser",
]
