"""The whole statistical analysis of a database in one call, and its terminal rendering.

``analyse`` reads the database once (outcomes, final-verdict probabilities, speeches) and
bundles every statistic of this package into one ``Analysis`` (pydantic, so it can be saved
as JSON next to the figures); ``render_analysis`` turns it into rich tables and ``plot_analysis``
into PNGs. Grouping follows ``debate report``: rows per protocol variant, judge and experts,
plus one pooled row per protocol split into variants (``consultancy (all)``).

Permutation tests compare *arms* = protocol variants (pooled rows included) judged by the same
judge, pooling expert configs within a variant; a pooled arm is never tested against its own
variants (it contains them). Holm's correction runs over all the tests printed.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from debate.core import EpisodeStatus
from debate.report.accuracy import AccuracyRow, accuracy_table, pooled_variant, wilson_interval
from debate.report.bootstrap import N_RESAMPLES, bootstrap_outcomes_ci, judged_correct
from debate.report.calibration import CalibrationSummary, summarise_calibration
from debate.report.debaters import QuoteRateRow, WinRateRow, expert_positions, quote_rates, win_rates
from debate.report.permutation import PairedComparison, compare_outcomes, holm_adjust
from debate.report.ratings import Ratings, debate_games, rate_debaters
from debate.report.routing import RoutingRow, render_routing, routing_table
from debate.storage import Database, Outcome
from debate.storage.analysis_queries import (
    FinalVerdictProbability, episode_compute, final_verdict_probabilities, routing_turns, speech_turns,
)

ACCURACY_BY = ("variant", "judge_model", "expert_models")
RATING_RESAMPLES = 1_000


class AccuracyCIRow(AccuracyRow):
    """An accuracy row with the question-clustered bootstrap interval next to Wilson's."""

    boot_low: float
    boot_high: float


class ComparisonRow(PairedComparison):
    """A paired permutation test between two arms judged by the same judge."""

    judge_model: str
    arm_a: str
    arm_b: str
    p_holm: float
    """Holm-adjusted over every comparison in the analysis."""


class CalibrationRow(CalibrationSummary):
    variant: str
    judge_model: str


class RatingAccuracyPoint(BaseModel):
    """Judge accuracy in one debater's self-play debates, against its rating."""

    player: str
    rating: float
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float


class Analysis(BaseModel):
    run_id: str | None
    seed: int
    n_resamples: int
    accuracy: list[AccuracyCIRow]
    comparisons: list[ComparisonRow]
    calibration: list[CalibrationRow]
    win_rates: list[WinRateRow]
    quote_rates: list[QuoteRateRow]
    n_games: int
    """Decided two-debater episodes, self-play included."""
    ratings: Ratings | None
    """None without cross-play games (ratings compare different debaters)."""
    rating_accuracy: list[RatingAccuracyPoint]
    routing: list[RoutingRow] = []
    """Accuracy vs compute per strategy, with routing accuracy and paths (runs with routed protocols)."""


def _pooled(items: Sequence[Any], variant: Callable[[Any], str], protocol: Callable[[Any], str]) -> list[Any]:
    """Copies labelled ``SETTING (all)`` of the items whose setting splits into sides."""
    return [i.model_copy(update={"variant": pooled_variant(variant(i))}) for i in items if pooled_variant(variant(i))]


def _accuracy(outcomes: list[Outcome], seed: int, n_resamples: int) -> list[AccuracyCIRow]:
    groups: dict[tuple[str, ...], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[tuple(getattr(o, f) for f in ACCURACY_BY)].append(o)
    rows = []
    for row in accuracy_table(outcomes, by=ACCURACY_BY):
        members = groups[tuple(getattr(row, f) for f in ACCURACY_BY)]
        low, high = bootstrap_outcomes_ci(members, n_resamples=n_resamples, seed=seed)
        rows.append(AccuracyCIRow(**row.model_dump(), boot_low=low, boot_high=high))
    return rows


def _comparisons(outcomes: list[Outcome], seed: int, n_resamples: int) -> list[ComparisonRow]:
    arms: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    for o in outcomes:
        arms[o.judge_model][o.variant].append(o)
    pending = []
    for judge in sorted(arms):
        for a, b in itertools.combinations(sorted(arms[judge]), 2):
            # A pooled arm contains its own variants: comparing them would pair an episode with itself.
            if pooled_variant(a) == b or pooled_variant(b) == a:
                continue
            result = compare_outcomes(arms[judge][a], arms[judge][b], n_permutations=n_resamples, seed=seed)
            if result.n_questions:
                pending.append((judge, a, b, result))
    adjusted = holm_adjust([r.p_value for *_, r in pending])
    return [
        ComparisonRow(**r.model_dump(), judge_model=judge, arm_a=a, arm_b=b, p_holm=p_holm)
        for (judge, a, b, r), p_holm in zip(pending, adjusted)
    ]


def _calibration(verdicts: list[FinalVerdictProbability]) -> list[CalibrationRow]:
    groups: dict[tuple[str, str], list[FinalVerdictProbability]] = defaultdict(list)
    for v in verdicts:
        groups[(v.variant, v.judge_model)].append(v)
    return [
        CalibrationRow(variant=variant, judge_model=judge, **summarise_calibration(members).model_dump())
        for (variant, judge), members in sorted(groups.items())
    ]


def _rating_accuracy(ratings: Ratings, outcomes: list[Outcome], turns: list[Any]) -> list[RatingAccuracyPoint]:
    by_episode = {o.episode_id: o for o in outcomes}
    debaters: dict[str, list[str]] = defaultdict(list)
    for pos in expert_positions(turns):
        debaters[pos.episode_id].append(pos.model)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for episode_id, models in debaters.items():
        o = by_episode.get(episode_id)
        if o is None or len(models) != 2 or models[0] != models[1]:
            continue
        tally[models[0]][0] += 1
        tally[models[0]][1] += int(judged_correct(o))
    points = []
    for row in ratings.rows:
        n, k = tally.get(row.player, (0, 0))
        if n:
            low, high = wilson_interval(k, n)
            points.append(RatingAccuracyPoint(player=row.player, rating=row.rating, n=n, correct=k, accuracy=k / n, ci_low=low, ci_high=high))
    return points


def analyse(
    db: Database,
    run_id: str | None = None,
    *,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    rating_resamples: int = RATING_RESAMPLES,
) -> Analysis:
    """Every statistic of the package for ``run_id`` (or every run in ``db``), seeded.

    ``n_resamples`` drives the accuracy bootstrap and the Monte Carlo permutation tests (used
    beyond 16 questions); ``rating_resamples`` the question bootstrap of the ratings (0: none)."""
    outcomes = db.outcomes(run_id)
    verdicts = final_verdict_probabilities(db, run_id)
    turns = speech_turns(db, run_id)
    complete = [o for o in outcomes if o.status is EpisodeStatus.COMPLETE]
    with_pooled = outcomes + _pooled(outcomes, lambda o: o.variant, lambda o: o.protocol)
    games = debate_games(turns, complete)
    ratings = None
    if any(g.winner != g.loser for g in games):
        ratings = rate_debaters(games, n_bootstrap=rating_resamples, seed=seed)
    return Analysis(
        run_id=run_id,
        seed=seed,
        n_resamples=n_resamples,
        accuracy=_accuracy(with_pooled, seed, n_resamples),
        comparisons=_comparisons(complete + _pooled(complete, lambda o: o.variant, lambda o: o.protocol), seed, n_resamples),
        calibration=_calibration(verdicts + _pooled(verdicts, lambda v: v.variant, lambda v: v.protocol)),
        win_rates=win_rates(turns, complete),
        quote_rates=quote_rates(turns),
        n_games=len(games),
        ratings=ratings,
        rating_accuracy=_rating_accuracy(ratings, complete, turns) if ratings else [],
        routing=routing_table(outcomes, routing_turns(db, run_id), episode_compute(db, run_id)),
    )


# -- rendering ----------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _p(x: float) -> str:
    return f"{x:.4f}" if x >= 1e-4 else f"{x:.1e}"


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], right_from: int) -> Table:
    """Every cell is a ``Text``: model names and labels come from users and models and must not
    be read as rich markup."""
    table = Table(title=Text(title))  # run names are not markup
    for i, c in enumerate(columns):
        table.add_column(c, justify="right" if i >= right_from else "left", no_wrap=i < right_from)
    for r in rows:
        table.add_row(*(Text(c) for c in r))
    return table


def render_analysis(analysis: Analysis) -> list[RenderableType]:
    """Tables: accuracy (Wilson and bootstrap), pairwise tests, calibration, win rates, quote
    verification and, with cross-play, ratings. Empty sections are left out."""
    scope = analysis.run_id or "all runs"
    out: list[RenderableType] = []
    out.append(_table(
        f"Judge accuracy — {scope}",
        ["Protocol", "Judge", "Experts", "n", "Accuracy", "95% CI (Wilson)", "95% CI (bootstrap, by question)", "Parse fail", "Errors"],
        [[r.variant or "—", r.judge_model or "—", r.expert_models or "—", str(r.n), _pct(r.accuracy),
          f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]" if r.n else "—",
          f"[{_pct(r.boot_low)}, {_pct(r.boot_high)}]" if r.n else "—", str(r.parse_failures), str(r.errors)]
         for r in analysis.accuracy],
        right_from=3,
    ))
    if analysis.comparisons:
        out.append(_table(
            "Paired permutation tests (pairs: question × order; sign flips by question; two-sided)",
            ["Judge", "A", "B", "Questions", "Pairs", "Acc A", "Acc B", "A − B", "p", "p (Holm)", "Method"],
            [[c.judge_model, c.arm_a, c.arm_b, str(c.n_questions), str(c.n_pairs), _pct(c.accuracy_a), _pct(c.accuracy_b),
              f"{100 * c.difference:+.1f} pts", _p(c.p_value), _p(c.p_holm), "exact" if c.exact else "Monte Carlo"]
             for c in analysis.comparisons],
            right_from=3,
        ))
    if any(c.n for c in analysis.calibration):
        out.append(_table(
            "Judge calibration (final verdicts; ECE with 10 equal-width bins)",
            ["Protocol", "Judge", "n", "No prob.", "Mean conf.", "Brier (conf.)", "ECE", "Mean p(gold)", "Brier (gold)"],
            [[c.variant, c.judge_model, str(c.n), str(c.missing), _num(c.mean_confidence), _num(c.brier), _num(c.ece),
              _num(c.mean_p_gold), _num(c.brier_gold)] for c in analysis.calibration],
            right_from=2,
        ))
    if analysis.win_rates:
        out.append(_table(
            "Expert win rate by side (wins: the judge picked the expert's option)",
            ["Protocol", "Model", "Correct side", "Win rate", "Incorrect side", "Win rate"],
            [[w.protocol, w.model, f"{w.wins_correct_side}/{w.n_correct_side}", _pct(w.win_rate_correct),
              f"{w.wins_incorrect_side}/{w.n_incorrect_side}", _pct(w.win_rate_incorrect)] for w in analysis.win_rates],
            right_from=2,
        ))
    if analysis.quote_rates:
        out.append(_table(
            "Quote verification by side (verified / all quotes)",
            ["Protocol", "Model", "Side", "Speeches", "Quotes", "Verified", "Rate"],
            [[q.protocol, q.model, q.side, str(q.speeches), str(q.quotes), str(q.verified), _pct(q.rate)]
             for q in analysis.quote_rates],
            right_from=3,
        ))
    if analysis.ratings is not None:
        r = analysis.ratings
        note = "" if r.prior == 0 else f"; no MLE, {r.prior} virtual wins each way per pair"
        ci = f"95% CI ({r.n_bootstrap} question resamples)" if r.n_bootstrap else "95% CI"
        out.append(_table(
            f"Debater ratings — Bradley–Terry on an Elo scale (mean 1000), {r.n_games} cross-play games{note}",
            ["Debater", "Games", "Wins", "BT rating", ci, "Online Elo"],
            [[row.player, str(row.games), str(row.wins), f"{row.rating:.0f}",
              f"[{row.ci_low:.0f}, {row.ci_high:.0f}]" if row.ci_low is not None and row.ci_high is not None else "—",
              f"{row.online_elo:.0f}"] for row in r.rows],
            right_from=1,
        ))
    elif analysis.n_games:
        out.append(Text(f"{analysis.n_games} debates, all self-play: ratings need debates between different debaters."))
    if analysis.routing:
        out.append(render_routing(analysis.routing, f"Routed experts: accuracy vs compute — {scope}"))
    return out


def plot_analysis(analysis: Analysis, directory: str | Path) -> list[Path]:
    """``accuracy.png`` (bootstrap intervals), ``calibration.png`` when any verdict has a
    probability, ``accuracy_vs_rating.png`` with cross-play and self-play debates,
    ``accuracy_vs_compute.png`` with routed protocols."""
    # matplotlib is imported only when figures are asked for: the tables do not need it.
    from debate.report.plots import plot_accuracy, plot_accuracy_vs_compute, plot_accuracy_vs_rating, plot_calibration

    directory = Path(directory)
    paths = []
    rows = [r for r in analysis.accuracy if r.n]
    if rows:
        paths.append(plot_accuracy(rows, directory / "accuracy.png", interval="bootstrap"))
    several_judges = len({c.judge_model for c in analysis.calibration}) > 1
    bins = {
        (f"{c.variant} · {c.judge_model}" if several_judges else c.variant): c.bins
        for c in analysis.calibration
        if c.n and not c.variant.endswith(" (all)")
    }
    if bins:
        paths.append(plot_calibration(bins, directory / "calibration.png"))
    if analysis.rating_accuracy:
        paths.append(plot_accuracy_vs_rating(analysis.rating_accuracy, directory / "accuracy_vs_rating.png"))
    if any(r.n for r in analysis.routing):
        paths.append(plot_accuracy_vs_compute(analysis.routing, directory / "accuracy_vs_compute.png"))
    return paths


__all__ = [
    "AccuracyCIRow",
    "Analysis",
    "CalibrationRow",
    "ComparisonRow",
    "RatingAccuracyPoint",
    "analyse",
    "plot_analysis",
    "render_analysis",
]
