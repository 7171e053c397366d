"""Hosted models (OpenAI, Anthropic, OpenRouter, vLLM and other OpenAI-compatible servers)
through litellm.

Retries live here and only here: litellm is told not to retry (``num_retries=0``) so that one
policy decides what is transient (timeouts, dropped connections, 429, 5xx) and what is a bug
in the request (other 4xx), which must surface at once instead of burning the budget.

litellm is imported on first use: it takes seconds to import, and most commands never call a
hosted model. Before that import ``LITELLM_LOCAL_MODEL_COST_MAP`` defaults to ``True`` so that
prices come from the pinned litellm release rather than a network fetch at import time.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import os
import time
from functools import cache
from types import ModuleType
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from debate.core.usage import Usage
from debate.experts.backend import GenerateRequest, Generation, ScoreRequest, Scores

TOP_LOGPROBS = 20
"""The most alternatives OpenAI-compatible servers return per position."""

MAX_RETRY_AFTER_S = 600.0
"""A server's ``Retry-After`` longer than this is treated as this (the total budget still applies)."""


class ScoresWithMeta(Scores):
    """``Scores`` plus the retry record (``attempts``, ``retry_wait_s``), like ``Generation.meta``."""

    meta: dict[str, Any] = {}


class RetryBudgetExceeded(TimeoutError):
    """The call's total time budget (``total_timeout_s``) ran out before an attempt succeeded."""


@cache
def _litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # its "Give Feedback / Get Help" banner on every error
    return litellm


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: timeouts, connection failures, rate limits and server errors (5xx)."""
    lib = _litellm()
    transient = (
        lib.Timeout,
        lib.APIConnectionError,
        lib.RateLimitError,
        lib.InternalServerError,
        lib.ServiceUnavailableError,
    )
    if isinstance(exc, transient):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status in (408, 429) or status >= 500)


class LiteLLMBackend:
    """A model behind litellm; ``model`` is litellm's model string (e.g. ``openai/gpt-4o-mini``).

    ``max_retries`` is the total number of attempts per call (the first one included), spaced
    by full-jitter exponential backoff starting near ``wait_initial_s`` and capped at
    ``wait_max_s``, or by the server's ``Retry-After`` (``retry-after-ms``) when it sends one.
    ``timeout_s`` bounds each attempt; ``total_timeout_s`` (optional) bounds the whole call,
    attempts and waits together: no retry starts, or waits, past it. ``generate`` reports
    ``meta={"attempts", "retry_wait_s"}``; ``score`` returns ``ScoresWithMeta`` with the same;
    a failed call's exception carries them as ``exc.retry_meta``. ``extra`` is passed to every ``litellm.acompletion`` call (``top_p``,
    ``drop_params``, provider headers, ...). The API key is held privately and never logged.
    """

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120,
        max_retries: int = 3,
        extra: dict[str, Any] | None = None,
        wait_initial_s: float = 1.0,
        wait_max_s: float = 30.0,
        total_timeout_s: float | None = None,
    ) -> None:
        self.name = model
        self.model = model
        self.api_base = api_base
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max(1, max_retries)
        self.extra = dict(extra or {})
        self.wait_initial_s = wait_initial_s
        self.wait_max_s = wait_max_s
        self.total_timeout_s = total_timeout_s

    def __repr__(self) -> str:
        return f"LiteLLMBackend(model={self.model!r}, api_base={self.api_base!r})"

    def context_window(self) -> int | None:
        """Input tokens the model accepts, from litellm's model table (None when unknown)."""
        try:
            info = _litellm().get_model_info(self.model)
        except Exception:  # noqa: BLE001 - unknown models (local servers) have no entry
            return None
        return info.get("max_input_tokens") or info.get("max_tokens")

    def _check_context(self, prompt: str, max_tokens: int) -> None:
        """Refuse a prompt that cannot fit before paying for the call (and never retry it)."""
        window = self.context_window()
        if window is None:
            return
        lib = _litellm()
        n = lib.token_counter(model=self.model, messages=[{"role": "user", "content": prompt}])
        if n > window:
            raise lib.ContextWindowExceededError(
                message=f"prompt is {n} tokens; {self.model} accepts {window}", model=self.model,
                llm_provider=self.model.split("/")[0],
            )

    async def generate(self, request: GenerateRequest) -> Generation:
        kwargs: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature}
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.seed is not None:
            kwargs["seed"] = request.seed
        self._check_context(request.full_prompt, request.max_tokens)
        response, meta = await self._complete(request.full_prompt, kwargs, request.adapter)
        choice = response.choices[0]
        text = _field(choice.message, "content") or ""
        return Generation(
            text=text,
            usage=_usage(response),
            finish_reason=choice.finish_reason or "stop",
            meta=meta,
        )

    async def score(self, request: ScoreRequest) -> Scores:
        """Log-probability of each continuation as the next token after the prompt.

        One request asks for the top 20 next tokens; a continuation scores the log-probability
        of the tokens equal to it once whitespace is stripped (" B" and "B" are summed), case-
        sensitively, or case-insensitively when no case-sensitive match exists; ``-inf`` when
        none is among the top 20. This is exact for one-token continuations such as option
        letters; a continuation longer than one token is never a whole token and scores ``-inf``.
        """
        kwargs = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
        self._check_context(request.full_prompt, 1)
        response, meta = await self._complete(request.full_prompt, kwargs, request.adapter)
        top = _first_top_logprobs(response.choices[0])
        return ScoresWithMeta(
            logprobs=[_match_logprob(c, top) for c in request.continuations], usage=_usage(response), meta=meta
        )

    def cost(self, usage: Usage) -> float:
        """US dollars from litellm's price table; 0.0 for models it does not price (local servers)."""
        try:
            prompt, completion = _litellm().cost_per_token(
                model=self.model, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
            )
            total = float(prompt) + float(completion)
        except Exception:  # noqa: BLE001 - unknown models are normal, and cost must never fail a run
            return 0.0
        return total if math.isfinite(total) and total >= 0 else 0.0

    def _model_for(self, adapter: str | None) -> str:
        """The model string a call names (see :func:`adapter_model`)."""
        return adapter_model(self.model, adapter)

    async def _acompletion(self, lib: ModuleType, call: dict[str, Any]) -> Any:
        """The provider call itself (``LiteLLMRouterBackend`` sends it through a litellm Router)."""
        return await lib.acompletion(**call)

    def _response_meta(self, response: Any) -> dict[str, Any]:
        """Extra call-record fields read off a response (the router backend adds ``deployment``)."""
        return {}

    async def _complete(self, content: str, kwargs: dict[str, Any], adapter: str | None = None) -> tuple[Any, dict[str, Any]]:
        """One ``acompletion`` call under the retry policy (the only retry layer); returns the
        response and ``{"attempts": n, "retry_wait_s": seconds slept between attempts}``."""
        lib = _litellm()
        call: dict[str, Any] = {
            "model": self._model_for(adapter),
            "messages": [{"role": "user", "content": content}],
            "timeout": self.timeout_s,
            "num_retries": 0,
            **kwargs,
            **self.extra,
        }
        if self.api_base is not None:
            call["api_base"] = self.api_base
        if self._api_key is not None:
            call["api_key"] = self._api_key
        deadline = None if self.total_timeout_s is None else time.monotonic() + self.total_timeout_s
        backoff = wait_random_exponential(multiplier=self.wait_initial_s, max=self.wait_max_s)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            after = retry_after_s(exc) if exc is not None else None
            return min(after, MAX_RETRY_AFTER_S) if after is not None else backoff(state)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.max_retries:
                return True
            # Don't sleep into (or past) the budget: a retry that can't start in time is pointless.
            return deadline is not None and time.monotonic() + state.upcoming_sleep >= deadline

        retrying = AsyncRetrying(stop=stop, wait=wait, retry=retry_if_exception(is_transient), reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._attempt(lib, call, deadline)
        except Exception as exc:
            meta = _retry_meta(retrying)
            if meta["attempts"] > 1:
                exc.add_note(f"gave up after {meta['attempts']} attempt(s), {meta['retry_wait_s']:.2f}s waiting")
            try:
                exc.retry_meta = meta  # type: ignore[attr-defined]
            except AttributeError:  # pragma: no cover - exceptions with __slots__
                pass
            if self._api_key and self._api_key in str(exc):
                clean = RuntimeError(f"{type(exc).__name__} (message withheld: it contained the API key)")
                clean.retry_meta = meta  # type: ignore[attr-defined]
                raise clean from None
            raise
        return response, {**_retry_meta(retrying), **self._response_meta(response)}

    async def _attempt(self, lib: ModuleType, call: dict[str, Any], deadline: float | None) -> Any:
        """One request; its timeout is ``timeout_s`` or what is left of the total budget."""
        if deadline is None:
            return await self._acompletion(lib, call)
        left = deadline - time.monotonic()
        if left <= 0:
            raise RetryBudgetExceeded(f"total time budget of {self.total_timeout_s}s spent")
        try:
            return await asyncio.wait_for(self._acompletion(lib, {**call, "timeout": min(self.timeout_s, left)}), left)
        except TimeoutError:
            raise lib.Timeout(
                message=f"total time budget of {self.total_timeout_s}s spent", model=self.model, llm_provider=""
            ) from None


def adapter_model(model: str, adapter: str | None) -> str:
    """An adapter (LoRA expert) replaces the model name after the provider prefix
    (``openai/base`` -> ``openai/<expert>``), as vLLM multi-LoRA and ``debate serve`` expect."""
    if not adapter:
        return model
    if adapter.startswith("@"):
        raise ValueError(f"adapter {adapter!r} (per-token routing) needs the local backend, not {model!r}")
    provider, slash, _ = model.partition("/")
    return f"{provider}/{adapter}" if slash else adapter


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``, in seconds or
    as an HTTP date), read from the litellm exception's response headers; None when absent."""
    sources = [getattr(exc, "litellm_response_headers", None), getattr(exc, "headers", None)]
    response = getattr(exc, "response", None)
    sources.append(getattr(response, "headers", None))
    for headers in sources:
        if not headers:
            continue
        try:
            ms = headers.get("retry-after-ms") or headers.get("Retry-After-Ms")
            raw = headers.get("retry-after") or headers.get("Retry-After")
        except Exception:  # noqa: BLE001 - odd header containers are not worth failing a call over
            continue
        try:
            if ms is not None:
                return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
        if raw is None:
            continue
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(str(raw))
        except (TypeError, ValueError):
            continue
        return max(0.0, when.timestamp() - time.time())
    return None


def _retry_meta(retrying: AsyncRetrying) -> dict[str, Any]:
    stats = retrying.statistics
    return {"attempts": int(stats.get("attempt_number", 1)), "retry_wait_s": round(float(stats.get("idle_for", 0.0)), 6)}


def _field(obj: Any, key: str) -> Any:
    """Read ``key`` from a litellm object or a plain dict (providers return either)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _usage(response: Any) -> Usage:
    usage = _field(response, "usage")
    return Usage(
        prompt_tokens=int(_field(usage, "prompt_tokens") or 0),
        completion_tokens=int(_field(usage, "completion_tokens") or 0),
    )


def _first_top_logprobs(choice: Any) -> list[tuple[str, float]]:
    """(token, logprob) pairs offered for the first generated position; empty when absent."""
    content = _field(_field(choice, "logprobs"), "content") or []
    if not content:
        return []
    pairs = []
    for item in _field(content[0], "top_logprobs") or []:
        token, logprob = _field(item, "token"), _field(item, "logprob")
        if isinstance(token, str) and isinstance(logprob, (int, float)):
            pairs.append((token, float(logprob)))
    return pairs


def _match_logprob(continuation: str, top: list[tuple[str, float]]) -> float:
    want = continuation.strip()
    if not want:
        return float("-inf")
    exact = [lp for tok, lp in top if tok.strip() == want]
    if not exact:
        exact = [lp for tok, lp in top if tok.strip().casefold() == want.casefold()]
    return _logsumexp(exact)


def _logsumexp(values: list[float]) -> float:
    if not values:
        return float("-inf")
    if len(values) == 1:
        return values[0]
    peak = max(values)
    if peak == float("-inf"):
        return peak
    return peak + math.log(sum(math.exp(v - peak) for v in values))
