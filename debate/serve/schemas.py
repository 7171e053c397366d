"""Request bodies of the OpenAI endpoints ``debate serve`` answers, and what it refuses.

Unknown fields are ignored (clients send ``user``, ``metadata``, provider extras), but options
that would change the answer and that the local engine cannot honour (``n > 1``, streaming,
``top_p < 1``, penalties, ``echo``, tools, logit bias, JSON response formats, ``best_of > 1``,
``suffix``) are refused with a 400 naming the field, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from debate.serve.errors import APIError, unsupported
from debate.serve.routed import RoutingHint

MAX_TOP_LOGPROBS = 20
"""As OpenAI's chat API: at most 20 alternatives per position."""


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @model_validator(mode="after")
    def _has_content(self) -> "ChatMessage":
        if self.content is None and self.role != "assistant":  # only an assistant turn may be empty
            raise ValueError(f"a {self.role!r} message needs 'content'")
        return self

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        for part in self.content:
            if part.type != "text":
                raise unsupported("messages.content", f"a content part of type {part.type!r}")
        return "".join(part.text or "" for part in self.content)


@dataclass(frozen=True)
class Sampling:
    """What the backend needs to generate, from either endpoint."""

    max_tokens: int
    temperature: float
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int = Field(default=1, ge=1)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    """A 64-bit integer, as OpenAI's."""
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    tools: list[object] | None = None
    functions: list[object] | None = None
    response_format: dict[str, object] | None = None
    logit_bias: dict[str, float] | None = None
    best_of: int | None = None
    suffix: str | None = None
    routing: RoutingHint | None = None
    """``model=routed`` only: the question to route by (a debate extension; see ``debate.serve.routed``)."""

    def _check_supported(self) -> None:
        if self.n != 1:
            raise unsupported("n", "more than one choice per prompt")
        if self.stream:
            raise unsupported("stream", "streaming")
        if self.top_p is not None and self.top_p < 1:
            raise unsupported("top_p", "nucleus sampling (top_p < 1)")
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise unsupported(name, "a non-zero penalty")
        for name, what in (("tools", "tool calls"), ("functions", "function calls"), ("logit_bias", "logit bias"),
                           ("suffix", "a suffix (insertion)")):
            if getattr(self, name):
                raise unsupported(name, what)
        if self.response_format and self.response_format.get("type") not in (None, "text"):
            raise unsupported("response_format", f"response_format {self.response_format.get('type')!r}")
        if self.best_of not in (None, 1):
            raise unsupported("best_of", "best_of > 1")
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise APIError(400, "'stop' holds at most 4 sequences", param="stop", code="invalid_value")

    def _sampling(self, max_tokens: int) -> Sampling:
        self._check_supported()
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return Sampling(max_tokens=max_tokens, temperature=self.temperature, stop=[s for s in stop if s], seed=self.seed)


class ChatCompletionRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)

    def sampling(self, default_max_tokens: int) -> Sampling:
        return self._sampling(self.max_completion_tokens or self.max_tokens or default_max_tokens)

    def wanted_top_logprobs(self) -> int | None:
        """None: no logprobs; otherwise how many alternatives per position (0: only the chosen token)."""
        if self.top_logprobs and not self.logprobs:
            raise APIError(400, "'top_logprobs' needs 'logprobs': true", param="top_logprobs", code="invalid_value")
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_Common):
    prompt: str | list[str]
    max_tokens: int = Field(default=16, ge=1)
    """OpenAI's default for the completions endpoint."""
    logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool = False

    def sampling(self) -> Sampling:
        if self.echo:
            raise unsupported("echo", "echoing the prompt")
        return self._sampling(self.max_tokens)

    def prompts(self) -> list[str]:
        prompts = [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)
        if not prompts:
            raise unsupported("prompt", "an empty list of prompts")
        return prompts

