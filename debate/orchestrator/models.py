"""Builds one shared backend per configured model (so local weights load once per run)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from debate.config import _OPERATIONAL_MODEL, ConfigError, ModelSpec, RunConfig
from debate.experts.backend import Backend
from debate.experts.limits import LimitedBackend
from debate.storage.call_cache_store import CallCacheStore, open_call_cache
from debate.experts.call_cache import CachingBackend
from debate.judges.base import Judge
from debate.judges.generative import GenerativeJudge
from debate.judges.logprob import LogProbJudge

if TYPE_CHECKING:
    from debate.experts.litellm_router import Deployment


def build_backend(name: str, spec: ModelSpec, cache: CallCacheStore | None = None, cache_mode: str = "use") -> Backend:
    if spec.backend == "local":
        from debate.experts.local import LocalBackend

        inner: Backend = LocalBackend(
            spec.model, name=name, device=spec.device, dtype=spec.dtype,
            max_batch=spec.max_batch, usd_per_1k_tokens=spec.usd_per_1k_tokens, turn_cache_mb=spec.turn_cache_mb,
            moe_mask=spec.moe_mask, moe_force=spec.moe_force, library=spec.library, adapter=spec.adapter,
        )
    elif spec.backend == "litellm":
        from debate.experts.litellm_backend import LiteLLMBackend

        key = None
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if key is None:
                raise ConfigError(f"model {name!r}: environment variable {spec.api_key_env} is not set")
        if spec.deployments:
            from debate.experts.litellm_router import LiteLLMRouterBackend

            inner = LiteLLMRouterBackend(spec.model, _deployments(name, spec, key), timeout_s=spec.timeout_s,
                                         total_timeout_s=spec.total_timeout_s, max_retries=spec.max_retries)
        else:
            inner = LiteLLMBackend(spec.model, api_base=spec.api_base, api_key=server_key(spec.model, spec.api_base, key),
                                   timeout_s=spec.timeout_s,
                                   total_timeout_s=spec.total_timeout_s, max_retries=spec.max_retries)
    elif spec.backend == "vllm":
        from debate.experts.vllm_backend import VLLMBackend

        inner = VLLMBackend(spec.model, name=name, dtype=spec.dtype, max_batch=spec.max_batch,
                            adapters=getattr(spec, "library", None), usd_per_1k_tokens=spec.usd_per_1k_tokens)
    else:
        from debate.experts.scripted import ScriptedBackend

        inner = ScriptedBackend(name=name, replies=dict(spec.replies or {}), delay_s=spec.delay_s)
    if cache is not None:
        inner = CachingBackend(inner, cache, cache_mode, spec=_cache_spec(spec), name=name)  # type: ignore[arg-type]
    return LimitedBackend(inner, max_concurrency=spec.max_concurrency, requests_per_second=spec.requests_per_second, name=name)


NO_KEY = "no-key"
"""What an OpenAI-compatible server that checks no key is sent (the OpenAI client insists on one)."""


def server_key(model: str, api_base: str | None, key: str | None) -> str | None:
    """The key for an ``openai/`` model at ``api_base``: the configured one, else ``OPENAI_API_KEY``,
    else :data:`NO_KEY` — a keyless ``debate serve`` or vLLM must not need a made-up variable."""
    if key is not None or api_base is None or not model.startswith("openai/"):
        return key
    return os.environ.get("OPENAI_API_KEY") or NO_KEY


def _deployments(name: str, spec: ModelSpec, key: str | None) -> list[Deployment]:
    """The spec's deployments for the router backend, each key read from its environment variable."""
    from debate.experts.litellm_router import Deployment

    out = []
    for d in spec.deployments:
        dkey = key
        if d.api_key_env:
            dkey = os.environ.get(d.api_key_env)
            if dkey is None:
                raise ConfigError(f"model {name!r}, deployment {d.name or d.api_base!r}: environment variable {d.api_key_env} is not set")
        model = d.model or spec.model
        out.append(Deployment(name=d.name or d.api_base, model=model, api_base=d.api_base, api_key=server_key(model, d.api_base, dkey),
                              max_concurrency=d.max_concurrency, rpm=d.rpm, weight=d.weight))
    return out


def model_names(config: RunConfig) -> set[str]:
    """Every model name the run's roles refer to."""
    names = {config.expert, config.judge}
    for p in config.protocols:
        names.update(p.roles.values())
    return names


def build_backends(config: RunConfig, given: dict[str, Backend] | None = None) -> dict[str, Backend]:
    """Resolve every referenced model; ``given`` supplies ready backends by name (tests, scripts).

    With ``config.call_cache`` set (and ``call_cache_mode`` not ``off``) each backend is wrapped
    as ``LimitedBackend(CachingBackend(inner))``, so a hit still counts against the limits but
    never reaches the model."""
    given = dict(given or {})
    cache = open_call_cache(config.call_cache) if config.call_cache and config.call_cache_mode != "off" else None
    out: dict[str, Backend] = {}
    for name in sorted(model_names(config)):
        if name in given:
            # Given backends keep their own limits; the wrapper only names them as the config does.
            inner = given[name]
            if cache is not None:
                spec = _cache_spec(config.models[name]) if name in config.models else {"backend": "given"}
                inner = CachingBackend(inner, cache, config.call_cache_mode, spec=spec, name=name)  # type: ignore[assignment]
            out[name] = LimitedBackend(inner, max_concurrency=1_000_000, name=name)
        else:
            out[name] = build_backend(name, config.model_spec(name), cache, config.call_cache_mode)
    return out


def _cache_spec(spec: ModelSpec) -> dict:
    """The parts of a model spec that change its outputs (the call cache's key)."""
    data = spec.model_dump(mode="json")
    for key in (*_OPERATIONAL_MODEL, "api_key_env", "best_of"):
        data.pop(key, None)
    for key in ("moe_mask", "moe_force"):  # unset ablations leave existing cache keys as they were
        if data.get(key) is None:
            data.pop(key, None)
    return data


def make_judge(kind: str, backend: Backend) -> Judge:
    return LogProbJudge(backend) if kind == "logprob" else GenerativeJudge(backend)
