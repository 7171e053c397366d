"""Small builders shared by protocol and orchestrator tests."""

from __future__ import annotations

from debate.core.question import Question
from debate.experts.backend import ScoreRequest
from debate.experts.scripted import ScriptedBackend

CANARY = "The violet walrus sang opera beneath the frozen harbour at midnight."
PASSAGE = (
    "Mara kept the lighthouse on Gull Rock for eleven years. "
    f"{CANARY} "
    "Every night she counted the ships that passed, and wrote the number in a green ledger."
)


def question(qid: str = "q1", gold: int = 1) -> Question:
    return Question(
        id=qid, question="How long did Mara keep the lighthouse?", options=("Five years", "Eleven years"),
        gold_index=gold, context=PASSAGE, title="Gull Rock", source={"dataset": "unit"},
    )


def prefers(letter: str):
    """A scorer under which ``letter`` is the most likely continuation."""

    def scorer(req: ScoreRequest) -> list[float]:
        return [-0.1 if c.strip() == letter else -3.0 for c in req.continuations]

    return scorer


def expert(replies: dict | None = None, letter: str = "A") -> ScriptedBackend:
    return ScriptedBackend(
        name="expert",
        replies=replies or {"*": lambda r: f"counted the ships that passed</quote> so my side is right ({r.role})."},
        scorer=prefers(letter),
    )


def judge(letter: str = "A") -> ScriptedBackend:
    return ScriptedBackend(name="judge", replies={"*": "What does the ledger say?"}, scorer=prefers(letter))
