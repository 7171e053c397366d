"""One model served by several deployments (vLLM servers, ``debate serve`` processes), with calls
spread across them by litellm's Router.

The Router picks a deployment per call (weighted shuffle: ``weight``, or ``rpm`` when set), and
``enable_weighted_failover`` re-picks another deployment of the group when one fails (a stopped
server, a full deployment), so one dead deployment costs no call. A failed deployment cools
down for ``COOLDOWN_S`` before it is tried again. Per-deployment ``max_concurrency`` is
litellm's ``max_parallel_requests``; litellm answers a call that finds every deployment full
with a 429 at once, which this backend turns into waiting for a free slot (a full pool is a
queue, not an error). Everything else (timeouts, retries, Retry-After, total budgets, the
context pre-check, cost) is :class:`LiteLLMBackend`'s, unchanged: the Router itself never retries.

Each call's record names the deployment that answered it (``params.deployment``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from debate.experts.litellm_backend import LiteLLMBackend, _litellm, adapter_model

COOLDOWN_S = 10.0
"""Seconds a deployment that failed is left out before it is tried again."""

SLOTS_FULL = "max_parallel_requests slots in use"
"""How litellm words the 429 it raises itself when a deployment's slots are all taken."""


@dataclass(frozen=True)
class Deployment:
    """One server for the model. ``name`` labels it in call records (default: its ``api_base``)."""

    name: str
    model: str
    api_base: str | None = None
    api_key: str | None = None
    max_concurrency: int | None = None
    rpm: int | None = None
    weight: float = 1.0

    def litellm_params(self, model: str) -> dict[str, Any]:
        params: dict[str, Any] = {"model": model, "weight": self.weight}
        if self.api_base is not None:
            params["api_base"] = self.api_base
        if self.api_key is not None:
            params["api_key"] = self.api_key
        if self.max_concurrency is not None:
            params["max_parallel_requests"] = self.max_concurrency
        if self.rpm is not None:
            params["rpm"] = self.rpm
        return params


class LiteLLMRouterBackend(LiteLLMBackend):
    """A :class:`LiteLLMBackend` whose calls go through a litellm Router over ``deployments``.

    ``model`` is the model string results are named by (the deployments serve the same weights;
    each may spell it differently, e.g. another ``--served-model-name``). A request's adapter
    (LoRA expert) is routed in its own group, built on first use, whose deployments name the
    adapter as their model, as vLLM's multi-LoRA serving and ``debate serve`` expect; a
    deployment's ``max_concurrency`` counts per group (the base model, each expert).
    """

    def __init__(self, model: str, deployments: list[Deployment], **kwargs: Any) -> None:
        if not deployments:
            raise ValueError(f"model {model!r}: a router needs at least one deployment")
        names = [d.name for d in deployments]
        if len(set(names)) != len(names):
            raise ValueError(f"model {model!r}: deployment names must differ, got {names}")
        super().__init__(model, **kwargs)
        self.deployments = list(deployments)
        self._groups: set[str] = set()
        self._labels: dict[str, str] = {}
        """litellm deployment id -> the deployment's name (one id per deployment and adapter group)."""
        self._router: Any = None
        self._freed = asyncio.Event()

    def __repr__(self) -> str:
        return f"LiteLLMRouterBackend(model={self.model!r}, deployments={[d.name for d in self.deployments]!r})"

    @property
    def router(self) -> Any:
        """Built on first use (litellm is imported lazily)."""
        if self._router is None:
            lib = _litellm()
            from litellm.types.router import AllowedFailsPolicy

            self._router = lib.Router(
                model_list=[], routing_strategy="simple-shuffle", enable_weighted_failover=True, num_retries=0,
                cooldown_time=COOLDOWN_S,
                # litellm's own "all slots in use" 429 says nothing about the server's health.
                allowed_fails_policy=AllowedFailsPolicy(RateLimitErrorAllowedFails=1_000_000),
            )
        return self._router

    def _model_for(self, adapter: str | None) -> str:
        """The router group for this adapter (None: the base model), created on first use."""
        group = f"{self.model}@{adapter}" if adapter else self.model
        if group not in self._groups:
            for i, d in enumerate(self.deployments):
                deployment_id = f"{group}#{i}"
                self._labels[deployment_id] = d.name
                self.router.add_deployment(_deployment(group, deployment_id, d.litellm_params(adapter_model(d.model, adapter))))
            self._groups.add(group)
        return group

    async def _acompletion(self, lib: ModuleType, call: dict[str, Any]) -> Any:
        """One routed call; while every deployment is full, wait for one of our calls to end."""
        while True:
            freed = self._freed  # taken before the try, so a slot freed meanwhile is not missed
            try:
                response = await self.router.acompletion(**call)
            except lib.RateLimitError as exc:
                if SLOTS_FULL not in str(exc):
                    self._release()
                    raise
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(freed.wait(), 1.0)
                continue
            except BaseException:
                self._release()
                raise
            self._release()
            return response

    def _release(self) -> None:
        """A call ended (its slot is free): wake every waiter, and start a new round of waiting."""
        freed, self._freed = self._freed, asyncio.Event()
        freed.set()

    def _response_meta(self, response: Any) -> dict[str, Any]:
        hidden = getattr(response, "_hidden_params", None) or {}
        label = self._labels.get(str(hidden.get("model_id")))
        return {"deployment": label} if label is not None else {}


def _deployment(group: str, deployment_id: str, params: dict[str, Any]) -> Any:
    from litellm.types.router import Deployment as LiteLLMDeployment

    return LiteLLMDeployment(model_name=group, litellm_params=params, model_info={"id": deployment_id})
