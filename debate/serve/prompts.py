"""Chat messages to the one completion prompt the local backend continues.

The project's hosted-model client sends a whole prompt as a single user message; that message
reaches the model verbatim, so a run through ``debate serve`` gives the model exactly the text an
in-process ``LocalBackend`` would (no chat template is applied: the local backends are
completion-style). Several messages become a plain role-labelled transcript that ends with
``Assistant:`` (or continues a final assistant message, as a prefill).
"""

from __future__ import annotations

from debate.serve.schemas import ChatMessage

_LABEL = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}


def chat_prompt(messages: list[ChatMessage]) -> str:
    if len(messages) == 1:
        return messages[0].text()
    lines = [f"{_LABEL[m.role]}: {m.text()}" for m in messages]
    if messages[-1].role != "assistant":
        lines.append("Assistant:")
    return "\n\n".join(lines)
