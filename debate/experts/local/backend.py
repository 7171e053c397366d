"""In-process transformers backend: CPU or CUDA, batched across episodes, passage KV reused."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from debate.core.usage import Usage
from debate.experts.backend import GenerateRequest, Generation, ScoreRequest, Scores
from debate.experts.local.batcher import Batcher
from debate.experts.local.engine import ContextExceeded, Engine, Row
from debate.experts.local.moe import ExpertChoice, check_options, options_key


_ENGINES: dict[tuple[str, str, str], Engine] = {}
_BATCHERS: dict[tuple[str, ...], Batcher] = {}
_ENGINES_LOCK = threading.Lock()


class LocalBackend:
    """A local model. ``path`` is an HF folder, a ``.gguf`` file, or ``"embedded"``."""

    def __init__(
        self,
        path: str | Path = "embedded",
        *,
        name: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        max_batch: int = 16,
        prefix_cache_entries: int = 8,
        usd_per_1k_tokens: float = 0.0,
        moe_mask: ExpertChoice | None = None,
        moe_force: ExpertChoice | None = None,
    ) -> None:
        self.path = str(path)
        self.name = name or ("local:embedded" if self.path == "embedded" else f"local:{self.path}")
        self._device, self._dtype = device, dtype
        self._prefix_entries = prefix_cache_entries
        self._rate = usd_per_1k_tokens
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._moe = (moe_mask, moe_force)
        """Expert ablation (MoE models, ``debate.experts.local.moe``): applied per batch, never to the shared weights."""
        folder = Path(self.path).expanduser()
        if (moe_mask is not None or moe_force is not None) and (folder / "config.json").is_file():
            check_options(folder, moe_mask, moe_force)  # a bad option fails here, before any episode
        key = (self.path, device, dtype, options_key(moe_mask, moe_force))
        with _ENGINES_LOCK:
            # One queue per set of weights (and ablation; the engine's routing lock keeps ablations
            # apart), so backends sharing an engine never run it concurrently.
            self._batcher = _BATCHERS.setdefault(key, Batcher(self._run_batch, max_batch=max_batch))

    @property
    def engine(self) -> Engine:
        """Loaded on first use, so building a run's backends costs nothing until they are called.

        Backends on the same weights share one engine (and its prefix cache): a tournament of
        best-of-1 vs best-of-4 debaters on one model holds the model in memory once.
        """
        with self._lock:
            if self._engine is None:
                key = (self.path, self._device, self._dtype)
                with _ENGINES_LOCK:
                    if key not in _ENGINES:
                        _ENGINES[key] = self._load()
                    self._engine = _ENGINES[key]
            return self._engine

    def _load(self) -> Engine:
        kw: dict[str, Any] = {"device": self._device, "dtype": self._dtype, "prefix_cache_entries": self._prefix_entries}
        if self.path == "embedded":
            from debate.experts.embedded import embedded_model_dir

            return Engine(embedded_model_dir(), **kw)
        p = Path(self.path).expanduser()
        if p.suffix == ".gguf":
            return Engine(p.parent, gguf_file=p.name, **kw)
        if not p.exists():
            raise FileNotFoundError(f"local model path {self.path!r} does not exist")
        return Engine(p, **kw)

    async def load(self) -> None:
        await asyncio.to_thread(lambda: self.engine)

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    async def generate(self, request: GenerateRequest) -> Generation:
        row = Row(request.prompt, request.max_tokens, request.temperature, list(request.stop), request.seed)
        res = await self._batcher.submit("generate", request.prefix, (request.prefix, row))
        return Generation(
            text=res.text,
            usage=Usage(prompt_tokens=res.prompt_tokens, completion_tokens=res.completion_tokens),
            finish_reason=res.finish_reason,
            meta=dict(res.meta),
        )

    async def score(self, request: ScoreRequest) -> Scores:
        res = await self._batcher.submit("score", request.prefix, (request.prefix, request.prompt, list(request.continuations)))
        logprobs, n_prompt = res
        return Scores(logprobs=logprobs, usage=Usage(prompt_tokens=n_prompt), meta=dict(getattr(res, "meta", {})))

    async def token_logprobs(
        self, prompt: str, text: str, k: int, *, prefix: str = "", adapter: str | None = None
    ) -> list[tuple[str, float, list[tuple[str, float]]]]:
        """Per token of ``text`` after the prompt: the token, its logprob and the top ``k``
        (``Engine.token_logprobs``); ``debate serve`` answers OpenAI ``logprobs`` requests with it.
        ``adapter`` as in ``GenerateRequest`` (the payload's last item)."""
        return await self._batcher.submit("logprobs", prefix, (prefix, prompt, text, k, adapter))

    @property
    def batch_stats(self) -> dict[str, int]:
        """Batched calls run so far and the requests they served (``debate serve`` shows them)."""
        return {"batches": self._batcher.batches, "requests": self._batcher.items}

    def cost(self, usage: Usage) -> float:
        return usage.total / 1000 * self._rate

    def _run_batch(self, kind: str, payloads: list[Any]) -> list[Any]:
        # The batch runs under this backend's expert ablation (if any), holding the engine.
        with self.engine.moe.ablate(*self._moe, model=self.path):
            return self._run(kind, payloads)

    def _run(self, kind: str, payloads: list[Any]) -> list[Any]:
        engine = self.engine
        prefix = payloads[0][0]
        if kind == "logprobs":
            return [_one(lambda p=p: engine.token_logprobs(*p[:4])) for p in payloads]
        if kind == "generate":
            try:
                return engine.generate(prefix, [p[1] for p in payloads])
            except ContextExceeded:
                if len(payloads) == 1:
                    raise
                return [_one(lambda p=p: engine.generate(prefix, [p[1]])[0]) for p in payloads]
        try:
            return engine.score(prefix, [p[1] for p in payloads], [p[2] for p in payloads])
        except ContextExceeded:
            if len(payloads) == 1:
                raise
            return [_one(lambda p=p: engine.score(prefix, [p[1]], [p[2]])[0]) for p in payloads]


def _one(fn: Any) -> Any:
    """Run one request on its own so a too-long prompt fails alone, not its whole batch."""
    try:
        return fn()
    except ContextExceeded as exc:
        return exc
