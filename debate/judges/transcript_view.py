"""Renders what the judge reads: the question, the options, and the judge-visible turns.

It takes a ``JudgeView`` and turns only; there is no way to hand it a passage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from debate.core.question import JudgeView
from debate.core.transcript import Kind, Role, Turn

SPEAKER = {
    Role.DEBATER_A: "Debater A",
    Role.DEBATER_B: "Debater B",
    Role.EXPERT: "Consultant",
    Role.JUDGE: "Judge",
}
_QUOTE = re.compile(r"<quote>(.*?)</quote>", re.S)


def speaker_label(turn: Turn) -> str:
    name = SPEAKER[turn.role]
    if turn.kind is Kind.JUDGE_QUESTION:
        return "Judge (question)"
    if turn.argues_for_letter:
        return f"{name} (defending {turn.argues_for_letter})"
    return name


def mark_quotes(turn: Turn) -> str:
    """Replace each ``<quote>`` with a tag saying whether it was found in the passage."""
    checks = iter(turn.quotes)

    def sub(m: re.Match[str]) -> str:
        check = next(checks, None)
        ok = check is not None and check.verified
        return f'[{"verified" if ok else "unverified"} quote: "{m.group(1).strip()}"]'

    return _QUOTE.sub(sub, turn.text)


def render_question(view: JudgeView) -> str:
    lines = [f"Question: {view.question}"]
    lines += [f"{letter}: {opt}" for letter, opt in zip(view.letters, view.options)]
    return "\n".join(lines)


def render_transcript(turns: Sequence[Turn]) -> str:
    parts = []
    for t in turns:
        if not t.visible_to_judge or t.kind is Kind.VERDICT:
            continue
        parts.append(f"{speaker_label(t)}: {mark_quotes(t).strip()}")
    return "\n\n".join(parts)
