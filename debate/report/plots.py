"""Figures for a results write-up: accuracy by protocol, reliability diagram, accuracy vs rating.

matplotlib with the Agg backend (set on the figure, not globally), so plotting works on
headless machines and never changes the backend of the program that imports this module.
Each function writes one PNG and returns its path; labels and titles say what is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from debate.report.calibration import ReliabilityBin

DPI = 120


class AccuracyLike(Protocol):
    """What ``plot_accuracy`` reads from a row (``AccuracyRow`` and ``AccuracyCIRow`` fit)."""

    variant: str | None
    judge_model: str | None
    accuracy: float | None
    ci_low: float
    ci_high: float


class RatingPoint(Protocol):
    """What ``plot_accuracy_vs_rating`` reads from a point (``RatingAccuracyPoint`` fits)."""

    player: str
    rating: float
    accuracy: float
    ci_low: float
    ci_high: float


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _labels(rows: Sequence[AccuracyLike]) -> list[str]:
    """The variant; plus the experts when a variant appears with several expert configs
    (cross-play), plus the judge when there are several judges."""
    several_judges = len({r.judge_model for r in rows}) > 1
    configs: dict[str | None, set[str | None]] = {}
    for r in rows:
        configs.setdefault(r.variant, set()).add(getattr(r, "expert_models", None))
    labels = []
    for r in rows:
        parts = [r.variant or "—"]
        experts = getattr(r, "expert_models", None)
        if len(configs[r.variant]) > 1 and experts:
            parts.append(experts.replace(",", "\n"))
        if several_judges:
            parts.append(f"judge: {r.judge_model}")
        labels.append("\n".join(parts))
    return labels


def plot_accuracy(
    rows: Sequence[AccuracyLike],
    path: str | Path,
    *,
    interval: Literal["wilson", "bootstrap"] = "wilson",
    chance: float | None = 0.5,
    title: str = "Judge accuracy by protocol",
) -> Path:
    """Bar per row (label: protocol variant, and the judge when several judges appear) with its
    95% interval as error bars; ``interval="bootstrap"`` reads ``boot_low``/``boot_high``.
    Rows without an accuracy (n = 0) are left out. A dashed line marks ``chance``."""
    rows = [r for r in rows if r.accuracy is not None]
    labels = _labels(rows)
    acc = [float(r.accuracy) for r in rows]  # type: ignore[arg-type]
    if interval == "bootstrap":
        lows = [float(getattr(r, "boot_low")) for r in rows]
        highs = [float(getattr(r, "boot_high")) for r in rows]
    else:
        lows, highs = [r.ci_low for r in rows], [r.ci_high for r in rows]
    yerr = [[max(0.0, a - lo) for a, lo in zip(acc, lows)], [max(0.0, hi - a) for a, hi in zip(acc, highs)]]
    fig = _figure(max(6.0, 1.1 * len(rows) + 2))
    ax = fig.add_subplot()
    x = list(range(len(rows)))
    ax.bar(x, acc, yerr=yerr, capsize=4, color="#4C72B0", edgecolor="black", linewidth=0.6)
    if chance is not None:
        ax.axhline(chance, linestyle="--", color="grey", linewidth=1, label=f"chance ({chance:.0%})")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=30 if len(rows) > 4 else 0, ha="right" if len(rows) > 4 else "center", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Protocol")
    ax.set_ylabel(f"Judge accuracy (95% {'bootstrap' if interval == 'bootstrap' else 'Wilson'} CI)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_calibration(
    bins_by_label: Mapping[str, Sequence[ReliabilityBin]],
    path: str | Path,
    *,
    title: str = "Judge calibration (reliability diagram)",
) -> Path:
    """One line per label through the non-empty bins (mean confidence, accuracy), marker area
    by the bin's episode count, and the diagonal of perfect calibration."""
    fig = _figure(6.0, 5.5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    for label, bins in bins_by_label.items():
        used = [b for b in bins if b.n and b.mean_confidence is not None and b.accuracy is not None]
        if not used:
            continue
        xs = [float(b.mean_confidence or 0.0) for b in used]
        ys = [float(b.accuracy or 0.0) for b in used]
        line = ax.plot(xs, ys, marker="o", linewidth=1.2, label=label)[0]
        ax.scatter(xs, ys, s=[20 + 8 * b.n ** 0.5 for b in used], color=line.get_color(), alpha=0.5)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("Judge confidence in its chosen option (bin mean)")
    ax.set_ylabel("Fraction of verdicts correct")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def plot_accuracy_vs_rating(
    points: Sequence[RatingPoint],
    path: str | Path,
    *,
    title: str = "Judge accuracy vs debater rating",
) -> Path:
    """Judge accuracy in each debater's self-play debates against its Bradley–Terry rating,
    with 95% intervals on accuracy, each point labelled with the debater."""
    fig = _figure()
    ax = fig.add_subplot()
    for p in points:
        ax.errorbar(
            [p.rating], [p.accuracy], yerr=[[max(0.0, p.accuracy - p.ci_low)], [max(0.0, p.ci_high - p.accuracy)]],
            fmt="o", capsize=4, color="#4C72B0",
        )
        ax.annotate(p.player, (p.rating, p.accuracy), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Debater rating (Bradley–Terry, Elo scale; mean 1000)")
    ax.set_ylabel("Judge accuracy in self-play debates")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


class ComputePoint(Protocol):
    """What ``plot_accuracy_vs_compute`` reads from a row (``RoutingRow`` fits)."""

    variant: str
    judge_model: str
    accuracy: float | None
    ci_low: float
    ci_high: float
    mean_tokens: float | None


def plot_accuracy_vs_compute(
    rows: Sequence[ComputePoint],
    path: str | Path,
    *,
    chance: float | None = 0.5,
    title: str = "Judge accuracy vs compute per strategy",
) -> Path:
    """Each strategy at (mean tokens per episode, accuracy) with its 95% Wilson interval, named in
    the legend by its protocol variant (and judge when several judge)."""
    rows = [r for r in rows if r.accuracy is not None and r.mean_tokens is not None]
    several_judges = len({r.judge_model for r in rows}) > 1
    fig = _figure()
    ax = fig.add_subplot()
    # Strategies of similar cost sit close together: each gets a colour and marker, named in the legend.
    markers = "osD^vP*X"
    for i, r in enumerate(rows):
        acc, tokens = float(r.accuracy), float(r.mean_tokens)  # type: ignore[arg-type]
        label = f"{r.variant} · {r.judge_model}" if several_judges else r.variant
        ax.errorbar([tokens], [acc], yerr=[[max(0.0, acc - r.ci_low)], [max(0.0, r.ci_high - acc)]],
                    fmt=markers[i % len(markers)], capsize=4, color=f"C{i % 10}", label=label)
    if chance is not None:
        ax.axhline(chance, linestyle="--", color="grey", linewidth=1, label=f"chance ({chance:.0%})")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Mean tokens per episode (every stored model call)")
    ax.set_ylabel("Judge accuracy (95% Wilson CI)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


__all__ = ["DPI", "plot_accuracy", "plot_accuracy_vs_compute", "plot_accuracy_vs_rating", "plot_calibration"]
