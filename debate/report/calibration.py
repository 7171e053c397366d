"""Judge calibration: does a judge that says 80% turn out right 80% of the time?

Accuracy alone hides a judge that is confidently wrong; the oversight papers report
calibration for that reason. Two conventions are computed from the final verdict's
probabilities (``FinalVerdictProbability``):

- *confidence* (the usual one for reliability diagrams and ECE): the forecast is the
  probability the judge put on the option it chose, the outcome is whether that option is gold.
  ``brier = mean((p_chosen - correct)^2)`` and the ECE below.
- *gold*: the probability the judge put on the correct option. ``mean_p_gold`` is a soft
  accuracy; ``brier_gold = mean((1 - p_gold)^2)``, which for two options is exactly half the
  multi-class Brier score ``sum_k (p_k - [k = gold])^2`` (so a proper score).

Expected calibration error: ``ECE = sum_b (n_b / N) * |accuracy_b - mean_confidence_b|`` over
``n_bins`` equal-width bins on [0, 1]; a forecast ``p`` falls in bin ``floor(p * n_bins)``
(the last bin includes 1.0), so bin ``b`` is ``[b / n_bins, (b + 1) / n_bins)``.

Episodes without probabilities are left out of calibration and counted as ``missing``:
a parse failure (no chosen option) or a generative judge that stated no confidence
(its ``confidence`` field, when present, stands in for ``p_chosen``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from debate.core import ParseStatus
from debate.storage.analysis_queries import FinalVerdictProbability

N_BINS = 10


class ReliabilityBin(BaseModel):
    low: float
    high: float
    n: int
    mean_confidence: float | None
    accuracy: float | None


def _arrays(probs: Sequence[float], outcomes: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"need two equal-length 1-d sequences, got {p.shape} and {y.shape}")
    if np.any((p < 0) | (p > 1)) or np.any((y != 0) & (y != 1)):
        raise ValueError("probabilities must lie in [0, 1] and outcomes be 0 or 1")
    return p, y


def brier_score(probs: Sequence[float], outcomes: Sequence[float]) -> float | None:
    """``mean((p - y)^2)`` for binary outcomes; None for no forecasts."""
    p, y = _arrays(probs, outcomes)
    return float(np.mean((p - y) ** 2)) if len(p) else None


def bin_index(probs: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Bin of each forecast: ``floor(p * n_bins)``, 1.0 in the last bin. (Not ``np.digitize``
    on ``linspace`` edges: ``linspace(0, 1, 11)[3]`` is 0.30000000000000004, which would put
    0.3 in the wrong bin.)"""
    return np.minimum(np.floor(probs * n_bins).astype(np.int64), n_bins - 1)


def reliability_bins(probs: Sequence[float], outcomes: Sequence[float], n_bins: int = N_BINS) -> list[ReliabilityBin]:
    """Every bin, empty ones included (``mean_confidence`` and ``accuracy`` None)."""
    p, y = _arrays(probs, outcomes)
    idx = bin_index(p, n_bins)
    bins = []
    for b in range(n_bins):
        mask = idx == b
        n = int(mask.sum())
        bins.append(ReliabilityBin(
            low=b / n_bins, high=(b + 1) / n_bins, n=n,
            mean_confidence=float(p[mask].mean()) if n else None,
            accuracy=float(y[mask].mean()) if n else None,
        ))
    return bins


def expected_calibration_error(probs: Sequence[float], outcomes: Sequence[float], n_bins: int = N_BINS) -> float | None:
    """ECE with equal-width bins; None for no forecasts."""
    bins = reliability_bins(probs, outcomes, n_bins)
    total = sum(b.n for b in bins)
    if total == 0:
        return None
    return float(sum(b.n / total * abs(b.accuracy - b.mean_confidence) for b in bins if b.n))  # type: ignore[operator]


class CalibrationPoint(BaseModel):
    """One episode's forecasts: on the chosen option, and on the gold option."""

    p_chosen: float
    correct: bool
    p_gold: float | None
    """None when the judge gave only a confidence on its choice with more than two options."""


def calibration_point(v: FinalVerdictProbability) -> CalibrationPoint | None:
    """The forecasts one final verdict makes, or None when it makes none (see module doc)."""
    if v.status is not ParseStatus.OK or v.chosen is None:
        return None
    correct = v.chosen == v.gold_index
    if v.probabilities is not None and len(v.probabilities) > max(v.chosen, v.gold_index):
        return CalibrationPoint(p_chosen=v.probabilities[v.chosen], correct=correct, p_gold=v.probabilities[v.gold_index])
    if v.confidence is not None:
        c = min(max(v.confidence, 0.0), 1.0)
        n_options = len(json.loads(v.order_json))
        p_gold = c if correct else (1 - c if n_options == 2 else None)
        return CalibrationPoint(p_chosen=c, correct=correct, p_gold=p_gold)
    return None


class CalibrationSummary(BaseModel):
    n: int
    """Episodes with a forecast."""
    missing: int
    """Complete episodes without one (parse failures, judges that gave no probability)."""
    brier: float | None
    ece: float | None
    mean_confidence: float | None
    mean_p_gold: float | None
    brier_gold: float | None
    bins: list[ReliabilityBin]


def summarise_calibration(verdicts: Sequence[FinalVerdictProbability], n_bins: int = N_BINS) -> CalibrationSummary:
    points = [calibration_point(v) for v in verdicts]
    got = [p for p in points if p is not None]
    conf = [p.p_chosen for p in got]
    hit = [float(p.correct) for p in got]
    gold = np.array([p.p_gold for p in got if p.p_gold is not None], dtype=float)
    return CalibrationSummary(
        n=len(got),
        missing=len(points) - len(got),
        brier=brier_score(conf, hit),
        ece=expected_calibration_error(conf, hit, n_bins),
        mean_confidence=float(np.mean(conf)) if conf else None,
        mean_p_gold=float(gold.mean()) if len(gold) else None,
        brier_gold=float(np.mean((1 - gold) ** 2)) if len(gold) else None,
        bins=reliability_bins(conf, hit, n_bins),
    )


__all__ = [
    "N_BINS",
    "CalibrationPoint",
    "CalibrationSummary",
    "ReliabilityBin",
    "bin_index",
    "brier_score",
    "calibration_point",
    "expected_calibration_error",
    "reliability_bins",
    "summarise_calibration",
]
