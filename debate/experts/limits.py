"""Per-model limits shared by every episode: a cap on calls in flight and an optional rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from asyncio_throttle import Throttler

from debate.core.usage import Usage
from debate.experts.backend import Backend, GenerateRequest, Generation, ScoreRequest, Scores


QUEUE_WAIT: ContextVar[float] = ContextVar("debate_queue_wait", default=0.0)
"""Seconds the current call waited for a free slot or the rate limit, so call records can report
model latency without the queueing in front of it."""


class LimitedBackend:
    """Wraps a backend so that at most ``max_concurrency`` calls (connections) are open at once
    and, if ``requests_per_second`` is set, calls start no faster than that."""

    def __init__(
        self, inner: Backend, *, max_concurrency: int = 8, requests_per_second: float | None = None, name: str | None = None
    ) -> None:
        self.inner = inner
        self.name = name or inner.name
        """The name the run's config uses, so calls, verdicts and role maps agree in reports."""
        self._max = max_concurrency
        self._rps = requests_per_second
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem: asyncio.Semaphore | None = None
        self._throttle: Throttler | None = None

    def _limits(self) -> tuple[asyncio.Semaphore, Throttler | None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._sem is None:
            # Primitives are bound to a loop; a second asyncio.run() in one process gets fresh ones.
            self._loop = loop
            self._sem = asyncio.Semaphore(self._max)
            self._throttle = Throttler(rate_limit=max(1, round(self._rps)), period=max(1, round(self._rps)) / self._rps) if self._rps else None
        return self._sem, self._throttle

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Hold a connection slot (and pass the rate limit) for one call; record the wait."""
        sem, throttle = self._limits()
        t0 = time.perf_counter()
        async with sem:
            if throttle is not None:
                async with throttle:
                    pass
            QUEUE_WAIT.set(time.perf_counter() - t0)
            yield

    async def generate(self, request: GenerateRequest) -> Generation:
        async with self._slot():
            return await self.inner.generate(request)

    async def score(self, request: ScoreRequest) -> Scores:
        async with self._slot():
            return await self.inner.score(request)

    def cost(self, usage: Usage) -> float:
        return self.inner.cost(usage)
