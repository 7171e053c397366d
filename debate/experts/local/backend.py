"""In-process transformers backend: CPU or CUDA, batched across episodes, passage KV reused."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from debate.core.usage import Usage
from debate.experts.backend import GenerateRequest, Generation, ScoreRequest, Scores
from debate.experts.local import heap
from debate.experts.local.batcher import Batcher
from debate.experts.local.engine import ContextExceeded, Engine, Row
from debate.experts.library.library import LibraryEntry, LibraryError, open_library
from debate.experts.library.manifest import ExpertManifest
from debate.experts.local.adapters import TOKEN_ROUTED
from debate.experts.local.moe import ExpertChoice, check_options, options_key


_ENGINES: dict[tuple[str, ...], Engine] = {}
_BATCHERS: dict[tuple[str, ...], Batcher] = {}
_THREADS: dict[tuple[str, ...], ThreadPoolExecutor] = {}
"""One thread per set of weights does all of its torch work (load, prefills, batches): the same
16-row batch measured ~30% slower when run on a thread other than the one that loaded and
prefilled (bfloat16 and float32 alike, docs/performance.md), so the work never changes threads."""
_ON_THREAD = threading.local()
"""``key``: the weights whose thread this is (set once by the thread's initializer)."""


def _model_thread(key: tuple[str, ...]) -> ThreadPoolExecutor:
    if key not in _THREADS:
        heap.limit_arenas()  # before the model's thread makes an arena of its own
        _THREADS[key] = ThreadPoolExecutor(1, thread_name_prefix="debate-model", initializer=setattr, initargs=(_ON_THREAD, "key", key))
    return _THREADS[key]
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
        turn_cache_mb: int = 64,
        usd_per_1k_tokens: float = 0.0,
        moe_mask: ExpertChoice | None = None,
        moe_force: ExpertChoice | None = None,
        library: str | Path | None = None,
        adapter: str | None = None,
    ) -> None:
        self.path = str(path)
        self.library = None if library is None else str(library)
        """A LoRA-expert library (folder, or ``shipped``): requests pick an expert by ``adapter``."""
        self._entries: list[LibraryEntry] | None = None
        self.adapter = adapter
        """The expert a request gets when it names none (e.g. ``@token``: every turn token-routed)."""
        self.name = name or ("local:embedded" if self.path == "embedded" else f"local:{self.path}")
        if adapter is not None and self.library is None:
            raise LibraryError(f"model {self.name!r}: adapter {adapter!r} needs a 'library'")
        self._device, self._dtype = device, dtype
        self._prefix_entries = prefix_cache_entries
        self._turn_mb = turn_cache_mb
        """KV kept from earlier calls (``turn_cache.py``); backends sharing an engine share the first one's."""
        self._rate = usd_per_1k_tokens
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._moe = (moe_mask, moe_force)
        """Expert ablation (MoE models, ``debate.experts.local.moe``): applied per batch, never to the shared weights."""
        folder = Path(self.path).expanduser()
        if (moe_mask is not None or moe_force is not None) and (folder / "config.json").is_file():
            check_options(folder, moe_mask, moe_force)  # a bad option fails here, before any episode
        key = (self.path, device, dtype, self.library or "", options_key(moe_mask, moe_force))
        with _ENGINES_LOCK:
            self._thread = _model_thread(key[:4])
            # One queue per set of weights and ablation, all on the weights' one thread, so
            # backends sharing an engine never run it concurrently.
            self._batcher = _BATCHERS.setdefault(key, Batcher(self._run_batch, max_batch=max_batch, executor=self._thread))

    @property
    def engine(self) -> Engine:
        """Loaded on first use, so building a run's backends costs nothing until they are called.

        Backends on the same weights share one engine (and its prefix cache): a tournament of
        best-of-1 vs best-of-4 debaters on one model holds the model in memory once.
        """
        if self._engine is not None:
            return self._engine
        key = (self.path, self._device, self._dtype, self.library or "")
        loaded = _ENGINES.get(key)  # another backend on these weights loaded them already
        if loaded is not None:
            self._engine = loaded
            return loaded
        if getattr(_ON_THREAD, "key", None) != key:
            return self._thread.submit(lambda: self.engine).result()  # loaded on the weights' own thread
        with self._lock:
            if self._engine is None:
                with _ENGINES_LOCK:
                    if key not in _ENGINES:
                        _ENGINES[key] = self._load()
                        heap.trim(0)  # the tokenizer's parse and the load's temporaries: ~60 MB back
                    self._engine = _ENGINES[key]
            return self._engine

    def _load(self) -> Engine:
        kw: dict[str, Any] = {"device": self._device, "dtype": self._dtype, "prefix_cache_entries": self._prefix_entries,
                              "turn_cache_mb": self._turn_mb,
                              "library": self.library}
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
        await asyncio.wrap_future(self._thread.submit(lambda: self.engine))

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    # ---- experts ---------------------------------------------------------------------------
    def expert_manifests(self) -> list[ExpertManifest]:
        """The library's experts, read from their manifests (the model need not be loaded)."""
        if self.library is None:
            return []
        if self._entries is None:
            self._entries = open_library(self.library)
        return [e.manifest for e in self._entries]

    def expert_names(self) -> list[str]:
        return [m.name for m in self.expert_manifests()]

    def check_device(self) -> None:
        """Before a run: the device and dtype this model asks for exist here (one line naming the
        value, not an error in every episode once the first call tries to load the weights)."""
        from debate.experts.local.device import pick_device, pick_dtype

        pick_dtype(self._dtype, pick_device(self._device))

    def check_library(self) -> None:
        """Before a run: the library's manifests, the default ``adapter`` and every expert's base
        fingerprint against these weights (read from their files, the model is not loaded), so a
        bad library fails in one line before any episode starts, not in each of them."""
        if self.library is None:
            return
        folder = self._weights_dir()
        if folder is not None and any(folder.glob("*.safetensors")):
            from debate.experts.library.fingerprint import base_fingerprint

            self._entries = open_library(self.library, base_fingerprint=base_fingerprint(folder))
        self._check_adapter(self.adapter)

    def _weights_dir(self) -> Path | None:
        if self.path == "embedded":
            from debate.experts.embedded import embedded_model_dir

            return embedded_model_dir()
        p = Path(self.path).expanduser()
        return p if p.is_dir() else None

    def _adapter(self, requested: str | None) -> str | None:
        adapter = requested if requested is not None else self.adapter
        self._check_adapter(adapter)
        return adapter

    def _check_adapter(self, adapter: str | None) -> None:
        """An unknown expert fails its own request here, never the batch it would have joined."""
        if adapter in (None, "") or (adapter == TOKEN_ROUTED and self.library is not None):
            return
        names = self.expert_names()
        if adapter not in names:
            raise LibraryError(
                f"unknown expert {adapter!r}; " + (f"this library has {', '.join(names)} (or {TOKEN_ROUTED!r})" if names
                                                   else f"model {self.name!r} has no expert library")
            )

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Pooled base-model hidden states (``Engine.embed``), queued with the model's other work."""
        return await self._batcher.submit("embed", "", ("", list(texts)))

    async def generate(self, request: GenerateRequest) -> Generation:
        adapter = self._adapter(request.adapter)
        row = Row(request.prompt, request.max_tokens, request.temperature, list(request.stop), request.seed, adapter)
        res = await self._batcher.submit("generate", request.prefix, (request.prefix, row))
        return Generation(
            text=res.text,
            usage=Usage(prompt_tokens=res.prompt_tokens, completion_tokens=res.completion_tokens),
            finish_reason=res.finish_reason,
            meta=dict(res.meta),
        )

    async def score(self, request: ScoreRequest) -> Scores:
        adapter = self._adapter(request.adapter)
        res = await self._batcher.submit("score", request.prefix, (request.prefix, request.prompt, list(request.continuations), adapter))
        logprobs, n_prompt = res
        return Scores(logprobs=logprobs, usage=Usage(prompt_tokens=n_prompt), meta=dict(getattr(res, "meta", {})))

    async def token_logprobs(
        self, prompt: str, text: str, k: int, *, prefix: str = "", adapter: str | None = None
    ) -> list[tuple[str, float, list[tuple[str, float]]]]:
        """Per token of ``text`` after the prompt: the token, its logprob and the top ``k``
        (``Engine.token_logprobs``); ``debate serve`` answers OpenAI ``logprobs`` requests with it.
        ``adapter`` as in ``GenerateRequest`` (the payload's last item)."""
        self._check_adapter(adapter)
        return await self._batcher.submit("logprobs", prefix, (prefix, prompt, text, k, adapter))

    @property
    def batch_stats(self) -> dict[str, int]:
        """Batched calls run so far and the requests they served (``debate serve`` shows them)."""
        return {"batches": self._batcher.batches, "requests": self._batcher.items}

    def cost(self, usage: Usage) -> float:
        return usage.total / 1000 * self._rate

    def _run_batch(self, kind: str, payloads: list[Any]) -> list[Any]:
        # The batch runs under this backend's expert ablation (if any), holding the engine.
        try:
            with self.engine.moe.ablate(*self._moe, model=self.path):
                return self._run(kind, payloads)
        finally:
            heap.trim()  # freed heap pages back to the system, every few seconds at most

    def _run(self, kind: str, payloads: list[Any]) -> list[Any]:
        engine = self.engine
        prefix = payloads[0][0]
        if kind == "logprobs":
            return [_one(lambda p=p: engine.token_logprobs(*p[:5])) for p in payloads]
        if kind == "embed":
            return [engine.embed(p[1]) for p in payloads]
        if kind == "generate":
            try:
                return engine.generate(prefix, [p[1] for p in payloads])
            except ContextExceeded:
                if len(payloads) == 1:
                    raise
                return [_one(lambda p=p: engine.generate(prefix, [p[1]])[0]) for p in payloads]
        try:
            return engine.score(prefix, [p[1] for p in payloads], [p[2] for p in payloads], [p[3] for p in payloads])
        except ContextExceeded:
            if len(payloads) == 1:
                raise
            return [_one(lambda p=p: engine.score(prefix, [p[1]], [p[2]], [p[3]])[0]) for p in payloads]


def _one(fn: Any) -> Any:
    """Run one request on its own so a too-long prompt fails alone, not its whole batch."""
    try:
        return fn()
    except ContextExceeded as exc:
        return exc
