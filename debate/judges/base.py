"""The judge interface: a judge sees a ``JudgeView`` and judge-visible turns, never the passage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from debate.core.question import JudgeView
from debate.core.transcript import Turn, Verdict


@runtime_checkable
class Judge(Protocol):
    """Returns a verdict whose ``chosen`` and ``probabilities`` index the *shown* options;
    the protocol layer maps them back to the underlying options."""

    name: str
    kind: str

    async def judge(self, view: JudgeView, transcript: Sequence[Turn]) -> Verdict: ...

    async def ask(self, view: JudgeView, transcript: Sequence[Turn]) -> str:
        """One question for the experts (interactive protocols)."""
        ...
