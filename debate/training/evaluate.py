"""Held-out option-letter accuracy: the base model vs each expert, on every domain.

Scored through ``LocalBackend`` with the library loaded, i.e. the exact path a run's
``answer`` turn takes (same prompt, same batching, same adapter selection), in both option
orders so a letter preference cannot pass for knowledge.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from debate.core.question import Question
from debate.datasets.domains import DOMAINS, load_domain
from debate.experts.backend import ScoreRequest
from debate.experts.library.library import library_path, open_library
from debate.experts.library.manifest import MANIFEST
from debate.protocols.prompts import answer_prompt, passage_prefix


async def accuracy(backend: Any, questions: list[Question], adapter: str | None) -> float:
    async def one(q: Question, order: tuple[int, ...]) -> bool:
        view = q.judge_view(order)
        s = await backend.score(ScoreRequest(prefix=passage_prefix(q), prompt=answer_prompt(view),
                                             continuations=[f" {x}" for x in view.letters], adapter=adapter))
        best = max(range(len(s.logprobs)), key=s.logprobs.__getitem__)
        return order[best] == q.gold_index

    jobs = [one(q, o) for q in questions for o in ((0, 1), (1, 0))]
    results = await asyncio.gather(*jobs)
    return sum(results) / len(results)


async def evaluate(library: str, data_root: str | Path, *, per_domain: int = 100, device: str = "auto") -> dict[str, Any]:
    """``{domain: {"n": questions, "base": acc, "<expert>": acc, …}}`` on held-out questions."""
    from debate.experts.local import LocalBackend

    backend = LocalBackend("embedded", library=library, device=device, max_batch=16)
    names = backend.expert_names()
    table: dict[str, Any] = {}
    for domain in DOMAINS:
        qs = load_domain(domain, data_root, "heldout")[:per_domain]
        row: dict[str, Any] = {"n": len(qs), "base": round(await accuracy(backend, qs, None), 4)}
        for name in names:
            row[name] = round(await accuracy(backend, qs, name), 4)
        table[domain] = row
    return table


def write_evaluation(library: str, table: dict[str, Any], command: str) -> None:
    """Store each expert's numbers (its own domain and the others) in its manifest."""
    for entry in open_library(library):
        path = entry.path / MANIFEST
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("evaluation", {})["heldout"] = {
            "command": command, "metric": "option-letter accuracy, 2 options, both orders",
            "domains": {d: {"n": r["n"], "base": r["base"], "expert": r[entry.name],
                            "other_experts": {k: v for k, v in r.items() if k not in ("n", "base", entry.name)}}
                        for d, r in table.items()},
        }
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def shipped_root() -> Path:
    return library_path("shipped")
