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


async def accuracy(backend: Any, questions: list[Question], adapter: str | None) -> tuple[float, float]:
    """``(letter accuracy, order-debiased accuracy)`` over both option orders.

    Letter accuracy is what a run's direct answer gets: the likelier letter, scored per order. The
    debiased one sums each option's log-probability over its two positions before choosing, so a
    model that always says "A" scores by what it knows, not 0.5 by construction: the more
    sensitive measure of whether an expert learned its domain."""
    async def one(q: Question, order: tuple[int, ...]) -> tuple[bool, list[float]]:
        view = q.judge_view(order)
        s = await backend.score(ScoreRequest(prefix=passage_prefix(q), prompt=answer_prompt(view),
                                             continuations=[f" {x}" for x in view.letters], adapter=adapter))
        best = max(range(len(s.logprobs)), key=s.logprobs.__getitem__)
        by_option = [0.0] * len(order)
        for pos, option in enumerate(order):
            by_option[option] = s.logprobs[pos]
        return order[best] == q.gold_index, by_option

    orders = ((0, 1), (1, 0))
    results = await asyncio.gather(*(one(q, o) for q in questions for o in orders))
    letter = sum(ok for ok, _ in results) / len(results)
    debiased = 0
    for i, q in enumerate(questions):
        pair = results[2 * i : 2 * i + 2]
        total = [sum(lp[k] for _, lp in pair) for k in range(2)]
        debiased += int(max(range(2), key=total.__getitem__) == q.gold_index)
    return letter, debiased / len(questions)


async def evaluate(library: str, data_root: str | Path, *, per_domain: int = 100, device: str = "auto") -> dict[str, Any]:
    """``{domain: {"n": questions, "base": acc, "<expert>": acc, …, "debiased": {same keys}}}`` on held-out questions."""
    from debate.experts.local import LocalBackend

    backend = LocalBackend("embedded", library=library, device=device, max_batch=16)
    names = backend.expert_names()
    table: dict[str, Any] = {}
    for domain in DOMAINS:
        qs = load_domain(domain, data_root, "heldout")[:per_domain]
        row: dict[str, Any] = {"n": len(qs), "debiased": {}}
        for name in [None, *names]:
            letter, debiased = await accuracy(backend, qs, name)
            row[name or "base"] = round(letter, 4)
            row["debiased"][name or "base"] = round(debiased, 4)
        table[domain] = row
    return table


def write_evaluation(library: str, table: dict[str, Any], command: str) -> None:
    """Store each expert's numbers (its own domain and the others) in its manifest."""
    for entry in open_library(library):
        path = entry.path / MANIFEST
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("evaluation", {})["heldout"] = {
            "command": command, "metric": "option-letter accuracy, 2 options, both orders",
            "metric_debiased": "option chosen by its log-probability summed over both positions (order-debiased)",
            "domains": {d: {"n": r["n"], "base": r["base"], "expert": r[entry.name],
                            "other_experts": {k: v for k, v in r.items() if k not in ("n", "base", "debiased", entry.name)},
                            "debiased": {"base": r["debiased"]["base"], "expert": r["debiased"][entry.name],
                                         "other_experts": {k: v for k, v in r["debiased"].items() if k not in ("base", entry.name)}}}
                        for d, r in table.items()},
        }
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def shipped_root() -> Path:
    return library_path("shipped")
