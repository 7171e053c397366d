"""Token usage and the record of one model call."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class CallRecord(BaseModel):
    """A model call as stored: what was asked, what came back, what it cost."""

    model: str
    purpose: str
    """generate | score"""
    role: str
    prompt: str
    reply: str
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    cost_usd: float = 0.0
    error: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
