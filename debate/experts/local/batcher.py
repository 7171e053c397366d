"""Gathers concurrent requests into batches for one model that can only do one thing at a time.

Requests from all episodes in flight queue here; the worker takes the oldest request, gathers
every queued request of the same kind and prefix (up to ``max_batch``), and runs them as one
batched call in the model's worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Item:
    kind: str
    group: str
    payload: Any
    future: asyncio.Future[Any] = field(repr=False)


class Batcher:
    def __init__(
        self, run_batch: Callable[[str, list[Any]], list[Any]], *, max_batch: int = 16, gather_s: float = 0.005,
        executor: Executor | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._executor = executor
        """Where batches run (the model's own thread); None: asyncio's default executor."""
        self.max_batch = max_batch
        self.gather_s = gather_s
        self._queue: list[_Item] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.items = 0

    async def submit(self, kind: str, group: str, payload: Any) -> Any:
        self._ensure_worker()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(kind, group, payload, fut))
        assert self._wake is not None
        self._wake.set()
        return await fut

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            # A new event loop (the API called twice in one process) gets a new worker.
            self._loop = loop
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._work())

    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.gather_s)
            while self._queue:
                head = self._queue[0]
                batch = [it for it in self._queue if it.kind == head.kind and it.group == head.group][: self.max_batch]
                taken = {id(it) for it in batch}
                self._queue = [it for it in self._queue if id(it) not in taken]
                live = [it for it in batch if not it.future.cancelled()]
                if not live:
                    continue
                try:
                    results = await asyncio.get_running_loop().run_in_executor(
                        self._executor, self._run_batch, head.kind, [it.payload for it in live])
                except BaseException as exc:  # noqa: BLE001 - each caller gets the failure
                    for it in live:
                        if not it.future.done():
                            it.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                self.batches += 1
                self.items += len(live)
                for it, res in zip(live, results):
                    if not it.future.done():
                        if isinstance(res, BaseException):
                            it.future.set_exception(res)
                        else:
                            it.future.set_result(res)
            self._wake.clear()
