"""The single writer: every write of a run goes through one queue, one task and one thread.

SQLite allows one writer at a time. Funnelling hundreds of concurrent episodes through one
queue means they never contend for the lock ("database is locked"), and running the SQL on a
dedicated thread keeps the event loop (and the model calls it drives) responsive. Each item is
committed before its caller resumes, so a crash loses at most the items in flight, and
``start_episode`` clears the partial work of an attempt that never finished. Items that queue up
while a commit runs are written together in the next one (group commit, each item
redone alone if the group fails): with many episodes in flight the commit cost is shared.
Turns and model calls, most of a run's rows, are plain column values (:class:`RowInsert`): a
group's rows of one table go in as one multi-row INSERT, with no ORM object or flush per row.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlmodel import Session

from debate.core import CallRecord, EpisodeSpec, EpisodeStatus, Question, Turn, Verdict
from debate.storage import ops
from debate.storage.database import Database
from debate.storage.errors import StorageError
from debate.storage.tables import ModelCallRow, TurnRow, call_values, turn_values

T = TypeVar("T")


@dataclass(frozen=True)
class RowInsert:
    """A new row of ``table`` (``TurnRow`` or ``ModelCallRow``) belonging to ``episode_id``; for a
    turn, ``run_id`` is checked against the episode's run."""

    table: Any
    values: dict[str, Any]
    episode_id: str | None
    run_id: str | None = None


_Op = Callable[[Session], Any] | RowInsert
_Item = tuple[_Op, "asyncio.Future[Any]"]
_STOP = None
MAX_GROUP = 512
"""Most items one commit holds (see ``_transact_group``)."""


class DatabaseWriter:
    """Async front of the database's write side. Use as ``async with DatabaseWriter(db) as w:``,
    or call ``start()`` and ``close()``. A method called before ``start()`` starts the writer."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self._runs: dict[str, str] = {}
        """episode id -> its run, for episodes this writer has looked up (writer thread only)."""

    async def __aenter__(self) -> "DatabaseWriter":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise StorageError("this DatabaseWriter is closed; make a new one")
        if self._task is not None:
            return
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="debate-db-writer")
        self._task = asyncio.create_task(self._run(), name="debate-db-writer")

    async def close(self) -> None:
        """Write everything queued so far, then stop. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._task is None or self._queue is None:
            return
        try:
            if not self._task.done():
                self._queue.put_nowait(_STOP)
                await asyncio.wait({self._task})
        finally:
            assert self._executor is not None
            self._executor.shutdown(wait=True)
        if not self._task.cancelled() and self._task.exception() is not None:
            raise self._task.exception()  # type: ignore[misc]

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        group: list[_Item] = []
        try:
            while (item := await self._queue.get()) is not _STOP:
                group = [item]
                stop = False
                while len(group) < MAX_GROUP and not self._queue.empty():  # whatever queued meanwhile joins
                    nxt = self._queue.get_nowait()
                    if nxt is _STOP:
                        stop = True
                        break
                    group.append(nxt)
                live = [(op, fut) for op, fut in group if not fut.cancelled()]  # callers that gave up: not written
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._transact_group, [op for op, _ in live])
                except Exception as exc:  # the commit itself failed: nothing of the group was saved
                    outcomes = [(False, exc)] * len(live)
                for (_, fut), (ok, value) in zip(live, outcomes):
                    if not fut.done():
                        fut.set_result(value) if ok else fut.set_exception(value)
                group = []
                if stop:
                    break
        finally:
            # Cancelled (loop shutting down) or stopped: nobody may wait forever on a write.
            pending = list(group)
            while not self._queue.empty():
                pending.append(self._queue.get_nowait())
            for it in pending:
                if it is not None and not it[1].done():
                    it[1].set_exception(StorageError("the database writer stopped; this write may not have been saved"))

    def _transact_group(self, ops_: list[_Op]) -> list[tuple[bool, Any]]:
        """Group commit: the items queued together share one transaction (one commit, the costly
        part). If any item fails, the whole group is rolled back and every item is redone in a
        transaction of its own, so a failing item fails alone. Callers still resume only after
        the commit that holds their item."""
        if len(ops_) > 1:
            try:
                with Session(self.db.write_engine, expire_on_commit=False) as session:
                    results = self._apply(session, ops_)
                    session.commit()
                return [(True, r) for r in results]
            except Exception:
                pass  # rolled back on leaving the session: redo the items one by one
        out: list[tuple[bool, Any]] = []
        for op in ops_:
            try:
                out.append((True, self._transact(op)))
            except Exception as exc:
                out.append((False, exc))
        return out

    def _transact(self, op: _Op) -> Any:
        with Session(self.db.write_engine, expire_on_commit=False) as session:
            (result,) = self._apply(session, [op])
            session.commit()
            return result

    def _apply(self, session: Session, ops_: list[_Op]) -> list[Any]:
        """Run ``ops_`` in order, except that row inserts wait and go in together (per table, in
        their order) just before the next other operation: they depend on nothing but their episode."""
        results: list[Any] = [None] * len(ops_)
        rows: list[tuple[int, RowInsert]] = []
        for i, op in enumerate(ops_):
            if isinstance(op, RowInsert):
                rows.append((i, op))
                continue
            self._insert(session, rows, results)
            rows = []
            results[i] = op(session)
        self._insert(session, rows, results)
        return results

    def _insert(self, session: Session, rows: list[tuple[int, RowInsert]], results: list[Any]) -> None:
        for _, row in rows:
            if row.episode_id is not None and row.episode_id not in self._runs:
                self._runs[row.episode_id] = ops.episode_run(session, row.episode_id)
            if row.run_id is not None and self._runs[row.episode_id or ""] != row.run_id:
                raise StorageError(f"episode {row.episode_id} belongs to run {self._runs[row.episode_id or '']!r}, not {row.run_id!r}")
        for table in dict.fromkeys(r.table for _, r in rows):
            mine = [(i, r) for i, r in rows if r.table is table]
            stmt = insert(table).returning(table.id, sort_by_parameter_order=True)
            ids = session.execute(stmt, [r.values for _, r in mine]).scalars().all()
            for (i, _), new_id in zip(mine, ids):
                results[i] = new_id

    async def _submit(self, op: _Op) -> Any:
        if self._closed:
            raise StorageError("this DatabaseWriter is closed")
        if self._task is None:
            await self.start()
        if not self.running:
            raise StorageError("the database writer task has stopped")
        assert self._queue is not None
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, fut))
        return await fut

    async def _do(self, op: Callable[..., T], **kwargs: Any) -> T:
        return await self._submit(functools.partial(op, **kwargs))

    # -- writes -------------------------------------------------------------------------------

    async def put_run(self, run_id: str, name: str, config_json: str, config_hash: str) -> None:
        """Create the run; an existing run with the same hash is resumed, a different hash raises
        ``ConfigMismatchError``."""
        await self._do(ops.put_run, run_id=run_id, name=name, config_json=config_json, config_hash=config_hash)

    async def set_run_status(self, run_id: str, status: str) -> None:
        await self._do(ops.set_run_status, run_id=run_id, status=status)

    async def put_questions(self, questions: list[Question]) -> dict[str, str]:
        """Store questions (passages once each); returns question id -> uid. Idempotent."""
        return await self._do(ops.put_questions, questions=list(questions))

    async def put_episodes(self, specs: list[EpisodeSpec], question_uids: dict[str, str]) -> int:
        """Insert the episodes not stored yet, as pending; returns how many were new."""
        return await self._do(ops.put_episodes, specs=list(specs), question_uids=dict(question_uids))

    async def start_episode(self, episode_id: str, redo: bool = False) -> int:
        """Delete an unfinished earlier attempt's turns, calls and verdicts; mark running.
        Returns the attempt number. A complete episode raises ``StorageError`` unless ``redo``."""
        return await self._do(ops.start_episode, episode_id=episode_id, redo=redo)

    async def add_turn(self, run_id: str, episode_id: str, turn: Turn) -> int:
        """Returns the new row id."""
        return int(await self._submit(RowInsert(TurnRow, turn_values(episode_id, turn), episode_id, run_id)))

    async def add_call(self, run_id: str, episode_id: str | None, call: CallRecord) -> int:
        """Returns the new row id. ``episode_id=None`` for calls outside any episode."""
        return int(await self._submit(RowInsert(ModelCallRow, call_values(run_id, episode_id, call), episode_id)))

    async def add_verdict(self, episode_id: str, verdict: Verdict, gold_index: int, is_final: bool) -> int:
        """Returns the new row id. A final verdict demotes any earlier final one of the episode."""
        return await self._do(
            ops.add_verdict, episode_id=episode_id, verdict=verdict, gold_index=gold_index, is_final=is_final
        )

    async def finish_episode(
        self,
        episode_id: str,
        status: EpisodeStatus,
        error: str | None = None,
        verdict: Verdict | None = None,
        gold_index: int | None = None,
    ) -> None:
        """Set the final status; with a verdict, copy its decision onto the episode (``gold_index``
        defaults to the stored question's). Does not add a verdict row: use ``add_verdict``."""
        await self._do(
            ops.finish_episode, episode_id=episode_id, status=status, error=error, verdict=verdict, gold_index=gold_index
        )
