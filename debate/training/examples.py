"""Training examples: the direct-answer prompt a protocol sends, and the letter it should score highest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from debate.core.question import LETTERS, Question
from debate.protocols.prompts import answer_prompt, passage_prefix


@dataclass(frozen=True)
class Example:
    text: str
    """Passage prefix + answer prompt, exactly as ``EpisodeContext.answer`` builds it."""
    target: str
    """The gold letter as the next token, e.g. ``" B"``."""
    question_id: str


def examples(questions: list[Question], *, both_orders: bool = True) -> list[Example]:
    """One example per question and option order (both orders, so no letter is favoured)."""
    out = []
    for q in questions:
        orders = [tuple(range(len(q.options)))]
        if both_orders and len(q.options) == 2:
            orders.append((1, 0))
        for order in orders:
            view = q.judge_view(order)
            out.append(Example(passage_prefix(q) + answer_prompt(view), f" {LETTERS[order.index(q.gold_index)]}", q.id))
    return out


def data_hash(items: list[Example]) -> str:
    """sha256 of the exact examples in order: a manifest's number can be traced to its data."""
    h = hashlib.sha256()
    for e in items:
        h.update(json.dumps([e.text, e.target]).encode())
    return h.hexdigest()
