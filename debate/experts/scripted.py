"""A deterministic backend for tests and dry runs: replies come from a script, not a model."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence

from debate.core.usage import Usage
from debate.experts.backend import GenerateRequest, Generation, ScoreRequest, Scores

Reply = str | Generation | None | Callable[[GenerateRequest], "str | Generation | None"]
Scorer = Callable[[ScoreRequest], Sequence[float]]


class ScriptedBackend:
    """``replies`` maps a role (or ``"*"``) to a reply, a list cycled per call, or a function.

    ``scorer`` returns log-probs per continuation; by default the first continuation scores
    highest, so a scripted judge always answers the first option shown.

    A reply may be a ``Generation`` (to script its ``finish_reason``, e.g. ``"length"`` for a
    reply cut by the token limit) and ``None`` stands for a model that returned no text (``""``).
    """

    def __init__(
        self,
        name: str = "scripted",
        replies: dict[str, Reply | list[Reply]] | None = None,
        scorer: Scorer | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self.replies = replies or {}
        self.scorer = scorer
        self.delay_s = delay_s
        self.calls: list[GenerateRequest | ScoreRequest] = []
        self._counts: dict[str, int] = defaultdict(int)

    async def generate(self, request: GenerateRequest) -> Generation:
        self.calls.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        script = self.replies.get(request.role, self.replies.get("*", f"I am {request.role or 'the model'}."))
        if isinstance(script, list):
            script = script[self._counts[request.role] % len(script)]
        self._counts[request.role] += 1
        reply = script(request) if callable(script) else script
        if isinstance(reply, Generation):
            return reply.model_copy(update={"usage": _usage(request.full_prompt, reply.text)})
        text = "" if reply is None else str(reply)
        return Generation(text=text, usage=_usage(request.full_prompt, text), finish_reason="stop")

    async def score(self, request: ScoreRequest) -> Scores:
        self.calls.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.scorer is not None:
            logprobs = [float(x) for x in self.scorer(request)]
        else:
            logprobs = [-float(i + 1) for i in range(len(request.continuations))]
        return Scores(logprobs=logprobs, usage=_usage(request.full_prompt, ""))

    def cost(self, usage: Usage) -> float:
        return 0.0


def _usage(prompt: str, reply: str) -> Usage:
    return Usage(prompt_tokens=len(prompt.split()), completion_tokens=len(reply.split()))
