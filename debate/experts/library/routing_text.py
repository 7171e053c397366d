"""The text a per-question router embeds: the question and its options, not the passage.

The same function builds the experts' training centroids and the router's query, so the two are
comparable. The passage is left out: it can be a 6k-token story that says nothing about which
expert the question needs, and embedding it would cost a full prefill per routing decision.
"""

from __future__ import annotations

from debate.core.question import Question


def routing_text(question: Question) -> str:
    return question.question.strip() + "\n" + "\n".join(question.options)
