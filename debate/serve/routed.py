"""``model=routed``: the server asks a router which expert should answer, then answers with it.

The router is the project's (``debate.experts.routing.make_router``: ``centroid`` embeds with the
served base model, ``oracle`` reads a domain, ``random``); ``route(question, experts, k=1)``
returns a ``RoutingDecision`` and its top choice answers (``"null"``: the base model). The whole
decision comes back in the response's top-level ``routing`` field, which OpenAI clients ignore.

Routers rank a *question* (its text and options; the oracle its domain). A request can say what
the question is in a ``routing`` field (``{"question", "options", "domain"}``; from litellm,
``extra_body={"routing": {...}}``), so the server routes exactly as a routed run would. Without
it the prompt itself is the question, with placeholder options.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from debate.core.question import Question
from debate.experts.library.manifest import ExpertManifest
from debate.serve.errors import APIError

NULL_EXPERT = "null"
PLACEHOLDER_OPTIONS = ("(see the question)", "(see the question)")


class RoutingHint(BaseModel):
    """What to route by, when the request says (a debate extension of the OpenAI body)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    options: list[str] = Field(default_factory=lambda: list(PLACEHOLDER_OPTIONS))
    domain: str | None = None


class Router(Protocol):
    name: str

    async def route(self, question: Question, experts: list[ExpertManifest], k: int) -> Any: ...


def make_router(name: str, backend: Any, params: dict[str, Any] | None = None) -> Router:
    """The project's router by name; ``centroid`` embeds with ``backend`` (the served base model)."""
    from debate.experts.routing import make_router as make

    kwargs = dict(params or {})
    if name == "centroid":
        kwargs.setdefault("embed", backend.embed)
    return make(name, **kwargs)


def routing_question(prompt: str, hint: RoutingHint | None) -> Question:
    text = hint.question if hint is not None else prompt
    options = tuple(hint.options) if hint is not None else PLACEHOLDER_OPTIONS
    source = {"domain": hint.domain} if hint is not None and hint.domain else {}
    digest = hashlib.sha256(f"{text}\n{options}".encode()).hexdigest()[:16]
    try:
        return Question(id=f"request-{digest}", question=text, options=options, gold_index=0, source=source)
    except ValidationError as exc:
        raise APIError(400, f"'routing': {exc.errors()[0]['msg']}", param="routing", code="invalid_value") from None


class RoutedModel:
    def __init__(self, router: Router, experts: list[ExpertManifest]) -> None:
        if not experts:
            raise ValueError("model=routed needs a library with at least one expert (--library)")
        self.router = router
        self.experts = list(experts)

    async def choose(self, prompt: str, hint: RoutingHint | None = None) -> tuple[str | None, dict[str, Any]]:
        """The adapter to answer with (None: the base model) and the decision, JSON-ready."""
        try:
            decision = await self.router.route(routing_question(prompt, hint), self.experts, 1)
        except ValueError as exc:  # e.g. the oracle router and a request without a domain
            raise APIError(400, f"routing failed: {exc}", param="routing", code="routing_failed") from None
        top = decision.chosen[0] if decision.chosen else NULL_EXPERT
        return (None if top == NULL_EXPERT else top), _finite(decision.model_dump(mode="json"))


def _finite(value: Any) -> Any:
    """JSON has no infinities: a router's ``-inf`` score is sent as ``null``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
