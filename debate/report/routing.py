"""Routed experts: accuracy against compute per strategy, with how the router chose.

One row per protocol variant and judge, so routed, always-debate, always-consult, random and
oracle routing (and any plain protocol in the same run) read as one table:

- accuracy and its 95% Wilson interval, counted as in ``debate report`` (complete episodes;
  unparsed verdicts wrong);
- routing accuracy: of the routed episodes whose first choice was a real expert, the share whose
  expert's domain is the question's domain; first choices that were null are counted apart
  (``null``), as are questions without a domain (not scored);
- the path each routed episode took (null / consult / agree_consult / debate);
- compute: mean model calls and tokens per complete episode, from the stored model calls
  (routing's embedding pass included).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from pydantic import BaseModel
from rich.table import Table
from rich.text import Text

from debate.core import EpisodeStatus
from debate.report.accuracy import wilson_interval
from debate.report.bootstrap import judged_correct
from debate.storage import Outcome
from debate.storage.analysis_queries import EpisodeComputeRow, RoutingTurnRow

PATHS = ("null", "consult", "agree_consult", "debate")
NULL = "null"


class RoutingRow(BaseModel):
    variant: str
    judge_model: str
    n: int
    """Complete episodes."""
    correct: int
    accuracy: float | None
    ci_low: float
    ci_high: float
    routed: int
    """Complete episodes with a routing decision (0: not a routed protocol)."""
    routing_scored: int
    """Routed episodes whose first choice was a real expert and whose question has a domain."""
    routing_correct: int
    routing_accuracy: float | None
    null_first: int
    """Routed episodes whose first choice was the null expert (the judge answered alone)."""
    paths: dict[str, int]
    mean_calls: float | None
    mean_tokens: float | None
    mean_prompt_tokens: float | None
    mean_completion_tokens: float | None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def routing_table(
    outcomes: Sequence[Outcome], routing: Sequence[RoutingTurnRow], compute: Sequence[EpisodeComputeRow]
) -> list[RoutingRow]:
    """Rows sorted by variant then judge; empty when no episode was routed."""
    if not routing:
        return []
    decisions = {r.episode_id: r for r in routing}
    spent = {c.episode_id: c for c in compute}
    groups: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if o.status is EpisodeStatus.COMPLETE:
            groups[(o.variant, o.judge_model)].append(o)
    rows = []
    for (variant, judge), members in sorted(groups.items()):
        correct = sum(judged_correct(o) for o in members)
        low, high = wilson_interval(correct, len(members))
        routed = [decisions[o.episode_id] for o in members if o.episode_id in decisions]
        firsts = [(r, (r.decision.get("chosen") or [NULL])[0]) for r in routed]
        scored = [(r, top) for r, top in firsts if top != NULL and r.question_domain is not None]
        hits = sum(r.decision.get("domains", {}).get(top) == r.question_domain for r, top in scored)
        costs = [spent[o.episode_id] for o in members if o.episode_id in spent]
        paths = Counter(r.path for r in routed)
        rows.append(RoutingRow(
            variant=variant, judge_model=judge, n=len(members), correct=correct,
            accuracy=correct / len(members) if members else None, ci_low=low, ci_high=high,
            routed=len(routed), routing_scored=len(scored), routing_correct=hits,
            routing_accuracy=hits / len(scored) if scored else None,
            null_first=sum(top == NULL for _, top in firsts),
            paths={p: paths.get(p, 0) for p in PATHS} if routed else {},
            mean_calls=_mean([c.calls for c in costs]), mean_tokens=_mean([c.tokens for c in costs]),
            mean_prompt_tokens=_mean([c.prompt_tokens for c in costs]),
            mean_completion_tokens=_mean([c.completion_tokens for c in costs]),
        ))
    return rows


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _share(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f}%)" if n else "—"


def render_routing(rows: Sequence[RoutingRow], title: str = "Routed experts: accuracy vs compute") -> Table:
    table = Table(title=Text(title))
    columns = ["Protocol", "Judge", "n", "Accuracy", "95% CI", "Routing acc.", "Null first", "Consult", "Agree→consult",
               "Debate", "Calls/ep.", "Tokens/ep."]
    for i, c in enumerate(columns):
        table.add_column(c, justify="right" if i >= 2 else "left", no_wrap=i < 2)
    for r in rows:
        routed = r.routed
        cells = [
            r.variant, r.judge_model, str(r.n), _pct(r.accuracy), f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]" if r.n else "—",
            f"{_pct(r.routing_accuracy)} ({r.routing_correct}/{r.routing_scored})" if routed else "—",
            _share(r.null_first, routed),
            *(_share(r.paths.get(p, 0), routed) for p in ("consult", "agree_consult", "debate")),
            "—" if r.mean_calls is None else f"{r.mean_calls:.2f}",
            "—" if r.mean_tokens is None else f"{r.mean_tokens:,.0f}",
        ]
        table.add_row(*(Text(c) for c in cells))  # labels are not markup
    return table


__all__ = ["PATHS", "RoutingRow", "render_routing", "routing_table"]
