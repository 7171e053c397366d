"""The model ids one ``debate serve`` process answers to, and what each one means.

The base model, one id per LoRA expert of its library (``model=<expert>`` is the request's
``adapter``, as vLLM's multi-LoRA serving names adapters), and ``routed`` when a router is
configured (the server picks the expert per request). Clients reach them as ``openai/<id>``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from debate.serve.errors import model_not_found

ROUTED = "routed"


@dataclass(frozen=True)
class Target:
    """A resolved ``model`` field: which adapter answers (None: the base model), or route first."""

    model: str
    adapter: str | None = None
    routed: bool = False


class Catalog:
    def __init__(self, base: str, experts: list[str], *, routed: bool = False) -> None:
        if routed and base == ROUTED:
            raise ValueError(f"the base model's id {ROUTED!r} is reserved for the router's model id; pick another --served-model-name")
        taken = {base, ROUTED}
        clash = sorted(taken.intersection(experts))
        if clash:
            raise ValueError(f"expert name {clash[0]!r} clashes with a reserved model id ({base!r} or {ROUTED!r})")
        self.base = base
        self.experts = list(experts)
        self.routed = routed
        self.created = int(time.time())

    def ids(self) -> list[str]:
        return [self.base, *self.experts, *([ROUTED] if self.routed else [])]

    def resolve(self, model: str) -> Target:
        if model == self.base:
            return Target(model)
        if model in self.experts:
            return Target(model, adapter=model)
        if model == ROUTED and self.routed:
            return Target(model, routed=True)
        raise model_not_found(model)

    def listing(self) -> dict[str, Any]:
        """The ``GET /v1/models`` body; experts name the base model as their ``parent`` (as vLLM does)."""
        def entry(model_id: str, parent: str | None) -> dict[str, Any]:
            return {"id": model_id, "object": "model", "created": self.created, "owned_by": "debate",
                    "root": self.base, "parent": parent}

        return {"object": "list", "data": [entry(self.base, None), *(entry(e, self.base) for e in self.experts),
                                           *([entry(ROUTED, self.base)] if self.routed else [])]}
