"""The one interface every model backend implements: ``generate`` and ``score``.

Prompts arrive split in two: ``prefix`` (the text shared by every turn on a question: the
passage block) and ``prompt`` (role-specific text). Completion backends concatenate them and
may cache the prefix's KV state; chat backends send them as one user message.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from debate.core.usage import Usage


class GenerateRequest(BaseModel):
    prompt: str
    prefix: str = ""
    max_tokens: int = Field(default=128, ge=1)
    """At least one: every backend makes at least one token, so 0 would silently mean 1."""
    temperature: float = Field(default=0.0, ge=0.0)
    """0 is greedy; a negative value is refused rather than read as greedy."""
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    role: str = ""
    """Who is speaking (for scripted backends and call records); never changes the model input."""
    adapter: str | None = None
    """Which expert of a LoRA-expert library answers: ``None`` the base model, a name that expert,
    ``"@token"`` per-token routing over every expert (local backend); a hosted backend sends it as
    the model name (vLLM multi-LoRA, ``debate serve``)."""

    @property
    def full_prompt(self) -> str:
        return self.prefix + self.prompt


class Generation(BaseModel):
    text: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str = "stop"
    """stop | length | error"""
    meta: dict[str, Any] = Field(default_factory=dict)


class ScoreRequest(BaseModel):
    prompt: str
    continuations: list[str]
    prefix: str = ""
    role: str = ""
    adapter: str | None = None
    """As in :class:`GenerateRequest`."""

    @property
    def full_prompt(self) -> str:
        return self.prefix + self.prompt


class Scores(BaseModel):
    logprobs: list[float]
    """Total log-probability of each continuation given the prompt (``-inf`` when unavailable)."""
    usage: Usage = Field(default_factory=Usage)
    meta: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A model. ``name`` is what call records and reports show."""

    name: str

    async def generate(self, request: GenerateRequest) -> Generation: ...

    async def score(self, request: ScoreRequest) -> Scores: ...

    def cost(self, usage: Usage) -> float:
        """US dollars for this usage; 0.0 for local models unless a rate is configured."""
        ...
