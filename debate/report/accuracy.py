"""Judge accuracy per protocol variant, with Wilson intervals.

Counting rules (the ones a reader of a results table needs to trust it):
- ``n`` counts complete episodes: the judge gave a final verdict.
- A complete episode whose final verdict did not parse (or has none) is *wrong*, and in ``n``:
  dropping them would reward judges that fail to answer when unsure.
- Episodes that errored (model call failed, bug) are not judged: reported, but not in ``n``.
- Pending and running episodes are not finished: reported as ``pending``, not in ``n``.
"""

from __future__ import annotations

import re

import math
from collections import defaultdict

from pydantic import BaseModel

from debate.core import EpisodeStatus, ParseStatus
from debate.storage import Outcome

GROUP_FIELDS = ("variant", "judge_model", "expert_models")


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials: unlike the normal approximation
    it stays inside [0, 1] and is honest at the small n and extreme rates debates produce.
    ``n == 0`` gives the uninformative (0, 1)."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


class AccuracyRow(BaseModel):
    """One row of an accuracy table. Group fields not grouped by are None."""

    variant: str | None = None
    judge_model: str | None = None
    expert_models: str | None = None
    n: int
    """Complete episodes (judged), parse failures included."""
    correct: int
    accuracy: float | None
    """``correct / n``; None when n is 0."""
    ci_low: float
    ci_high: float
    parse_failures: int
    """Complete episodes whose final verdict is not ``ok`` (counted wrong, in ``n``)."""
    errors: int
    """Episodes that ended in error (not in ``n``)."""
    pending: int
    """Episodes not finished yet (not in ``n``)."""


def accuracy_table(
    outcomes: list[Outcome], by: tuple[str, ...] = ("variant", "judge_model")
) -> list[AccuracyRow]:
    """Group outcomes by ``by`` (a subset of ``GROUP_FIELDS``) and count; sorted by variant,
    then the other group fields."""
    unknown = [f for f in by if f not in GROUP_FIELDS]
    if unknown:
        raise ValueError(f"cannot group by {unknown}; choose from {GROUP_FIELDS}")
    groups: dict[tuple[str, ...], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[tuple(getattr(o, f) for f in by)].append(o)
    rows = [_row(dict(zip(by, key)), members) for key, members in groups.items()]
    return sorted(rows, key=lambda r: tuple(getattr(r, f) or "" for f in GROUP_FIELDS))


def _row(key: dict[str, str], members: list[Outcome]) -> AccuracyRow:
    complete = [o for o in members if o.status is EpisodeStatus.COMPLETE]
    n = len(complete)
    correct = sum(1 for o in complete if o.correct is True and o.parse_status is ParseStatus.OK)
    low, high = wilson_interval(correct, n)
    return AccuracyRow(
        **key,
        n=n,
        correct=correct,
        accuracy=correct / n if n else None,
        ci_low=low,
        ci_high=high,
        parse_failures=sum(1 for o in complete if o.parse_status is not ParseStatus.OK),
        errors=sum(1 for o in members if o.status is EpisodeStatus.ERROR),
        pending=sum(1 for o in members if o.status in (EpisodeStatus.PENDING, EpisodeStatus.RUNNING)),
    )


_SIDED = re.compile(r"(?P<base>.*)\[(?:correct|incorrect)\]")


def pooled_variant(variant: str) -> str | None:
    """``consultancy(rounds=2)[correct]`` -> ``consultancy(rounds=2) (all)``: the two sides of one
    setting pooled, as papers report consultancy; None for a variant without sides."""
    m = _SIDED.fullmatch(variant)
    return f"{m.group('base')} (all)" if m else None
