"""Debater ratings: Bradley–Terry strengths from who won each cross-play debate, on an Elo scale.

Why: Khan et al. (2024) relate judge accuracy to debater *persuasiveness*, measured by a
rating fitted from debates between different debaters. Bradley–Terry (BT) models
``P(i beats j) = 1 / (1 + exp(-(theta_i - theta_j)))`` and, unlike online Elo, does not depend
on the order the games were played in; the plain online Elo is kept alongside for comparison.

Conventions:
- A *player* is a debater config: the model name playing a debater role. A *game* is a
  complete episode with exactly two arguing experts on different options; the winner is the
  one whose option the judge chose. Unparsed verdicts (no winner) are not games. Self-play
  games (same model on both sides) say nothing about rating differences and are left out of
  the fits.
- The fit is the maximum-likelihood estimate (logistic regression on rating differences,
  solved by Newton–Raphson in numpy), ``theta`` centred to mean 0. It exists only
  when the win graph is strongly connected (every split of the players has a win each way);
  otherwise ``prior`` virtual wins are added each way to every pair (shrinking toward equal
  ratings), and the result says so.
- Elo scale: ``rating = 1000 + 400 / ln(10) * (theta - mean(theta))``, so 400 points are a
  10:1 odds ratio, as in chess Elo.
- Bootstrap intervals resample *questions* (both orders of a question are correlated), refit,
  and take percentiles; resamples in which the MLE does not exist are refit with the fallback
  prior and counted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from debate.core import ParseStatus
from debate.report.debaters import expert_positions
from debate.storage import Outcome
from debate.storage.analysis_queries import SpeechTurnRow

ELO_SCALE = 400 / math.log(10)
ELO_ANCHOR = 1000.0
FALLBACK_PRIOR = 0.5


class NotIdentifiable(ValueError):
    """The Bradley–Terry MLE does not exist: some group of players never beats the rest."""


class Game(BaseModel):
    winner: str
    loser: str
    question_uid: str = ""
    episode_id: str = ""


def debate_games(turns: Sequence[SpeechTurnRow], outcomes: Sequence[Outcome]) -> list[Game]:
    """Every decided two-expert episode as a game, in episode order (self-play included;
    ``fit_bradley_terry`` skips it)."""
    by_episode = {o.episode_id: o for o in outcomes}
    positions = defaultdict(list)
    for pos in expert_positions(turns):
        positions[pos.episode_id].append(pos)
    games = []
    for episode_id, pair in positions.items():
        outcome = by_episode.get(episode_id)
        if outcome is None or len(pair) != 2 or pair[0].option == pair[1].option:
            continue
        if outcome.parse_status is not ParseStatus.OK or outcome.chosen is None:
            continue
        winners = [p for p in pair if p.option == outcome.chosen]
        if len(winners) != 1:
            continue  # the judge chose an option neither argued (more than two options)
        loser = pair[1] if winners[0] is pair[0] else pair[0]
        games.append(Game(winner=winners[0].model, loser=loser.model, question_uid=outcome.question_key, episode_id=episode_id))
    return games


def cross_play(games: Sequence[Game]) -> list[Game]:
    return [g for g in games if g.winner != g.loser]


def _win_matrix(games: Sequence[Game], players: Sequence[str]) -> np.ndarray:
    index = {p: i for i, p in enumerate(players)}
    w = np.zeros((len(players), len(players)))
    for g in cross_play(games):
        w[index[g.winner], index[g.loser]] += 1
    return w


def _strongly_connected(edges: np.ndarray) -> bool:
    """Whether every node reaches every other along ``edges[i, j] > 0`` (i beat j)."""
    n = len(edges)

    def reaches_all(adj: np.ndarray) -> bool:
        seen = np.zeros(n, dtype=bool)
        seen[0] = True
        frontier = [0]
        while frontier:
            nxt = np.flatnonzero(adj[frontier].any(axis=0) & ~seen)
            seen[nxt] = True
            frontier = list(nxt)
        return bool(seen.all())

    return n <= 1 or (reaches_all(edges > 0) and reaches_all(edges.T > 0))


def _log_likelihood(w: np.ndarray, theta: np.ndarray) -> float:
    """``sum_ij w_ij * log(sigmoid(theta_i - theta_j))``."""
    return float(-(w * np.logaddexp(0.0, -(theta[:, None] - theta[None, :]))).sum())


def fit_bradley_terry(
    games: Sequence[Game],
    players: Sequence[str] | None = None,
    *,
    prior: float = 0.0,
    tol: float = 1e-12,
    max_iter: int = 200,
) -> dict[str, float]:
    """Log-strengths ``theta`` (mean 0) per player: the maximum-likelihood Bradley–Terry fit.
    Raises ``NotIdentifiable`` when ``prior`` is 0 and the MLE does not exist."""
    players = sorted({p for g in cross_play(games) for p in (g.winner, g.loser)}) if players is None else list(players)
    if not players:
        return {}
    theta = fit_win_matrix(_win_matrix(games, players), prior=prior, tol=tol, max_iter=max_iter)
    return {pl: float(t) for pl, t in zip(players, theta)}


def fit_win_matrix(w: np.ndarray, *, prior: float = 0.0, tol: float = 1e-12, max_iter: int = 200) -> np.ndarray:
    """``theta`` (mean 0) from ``w[i, j]`` = wins of i over j, by Newton–Raphson on the
    (concave) logistic log-likelihood, with step halving so every step increases it."""
    n = len(w)
    if prior > 0:
        w = w + prior * (1 - np.eye(n))
    elif not _strongly_connected(w):
        raise NotIdentifiable("some players never beat (or never lose to) the rest; the ratings diverge without a prior")
    games_between = w + w.T
    wins = w.sum(axis=1)
    centre = np.full((n, n), 1.0 / n)  # pins the free additive constant: steps stay mean-zero
    theta = np.zeros(n)
    current = _log_likelihood(w, theta)
    for _ in range(max_iter):
        s = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))  # P(i beats j)
        grad = wins - (games_between * s).sum(axis=1)
        info = games_between * s * s.T
        step = np.linalg.solve(np.diag(info.sum(axis=1)) - info + centre, grad)  # Fisher information + pin
        scale = 1.0
        candidate, value = theta + step, _log_likelihood(w, theta + step)
        while value < current - 1e-15 and scale > 1e-6:
            scale /= 2
            candidate = theta + scale * step
            value = _log_likelihood(w, candidate)
        theta, current = candidate, value
        if np.max(np.abs(scale * step)) < tol:
            break
    return theta - theta.mean()


def to_elo(theta: dict[str, float]) -> dict[str, float]:
    """``1000 + 400 / ln 10 * (theta - mean)``: the Elo-like scale."""
    if not theta:
        return {}
    mean = sum(theta.values()) / len(theta)
    return {p: ELO_ANCHOR + ELO_SCALE * (t - mean) for p, t in theta.items()}


def online_elo(games: Sequence[Game], *, k: float = 32.0, initial: float = ELO_ANCHOR) -> dict[str, float]:
    """Plain sequential Elo over the cross-play games in the given order (it depends on the
    order; BT does not): ``R_w += k * (1 - E_w)``, ``E_w = 1 / (1 + 10^((R_l - R_w) / 400))``."""
    r: dict[str, float] = {}
    for g in cross_play(games):
        rw, rl = r.setdefault(g.winner, initial), r.setdefault(g.loser, initial)
        expected = 1 / (1 + 10 ** ((rl - rw) / 400))
        r[g.winner] = rw + k * (1 - expected)
        r[g.loser] = rl - k * (1 - expected)
    return r


class RatingRow(BaseModel):
    player: str
    games: int
    wins: int
    theta: float
    rating: float
    """Bradley–Terry on the Elo-like scale."""
    ci_low: float | None = None
    ci_high: float | None = None
    online_elo: float


class Ratings(BaseModel):
    rows: list[RatingRow]
    """Highest rating first."""
    n_games: int
    """Cross-play games fitted."""
    prior: float
    """Virtual wins added each way per pair: 0 unless the MLE does not exist."""
    n_bootstrap: int = 0
    regularised_resamples: int = 0
    """Bootstrap resamples that needed the fallback prior."""


def bootstrap_ratings(
    games: Sequence[Game], players: Sequence[str], *, prior: float, n_resamples: int, seed: int = 0, level: float = 0.95
) -> tuple[dict[str, tuple[float, float]], int]:
    """Percentile intervals on the Elo scale from resampling questions; also the number of
    resamples that needed ``FALLBACK_PRIOR``. A player with no game in a resample is left out
    of that resample's fit (and of its Elo anchoring)."""
    index = {p: i for i, p in enumerate(players)}
    clusters: dict[str, int] = {}
    games = cross_play(games)
    per_cluster = np.zeros((len({g.question_uid or g.episode_id for g in games}), len(players), len(players)))
    for g in games:
        c = clusters.setdefault(g.question_uid or g.episode_id, len(clusters))
        per_cluster[c, index[g.winner], index[g.loser]] += 1
    rng = np.random.default_rng(seed)
    draws = np.full((n_resamples, len(players)), np.nan)
    regularised = 0
    fitted: dict[bytes, tuple[np.ndarray, np.ndarray, bool]] = {}  # small runs repeat resamples often
    for b in range(n_resamples):
        counts = np.bincount(rng.integers(0, len(clusters), size=len(clusters)), minlength=len(clusters))
        w = np.tensordot(counts, per_cluster, axes=1)
        key = w.tobytes()
        if key not in fitted:
            present = np.flatnonzero((w + w.T).sum(axis=1) > 0)
            sub = w[np.ix_(present, present)]
            try:
                fitted[key] = (present, fit_win_matrix(sub, prior=prior, tol=1e-10), False)
            except NotIdentifiable:
                fitted[key] = (present, fit_win_matrix(sub, prior=FALLBACK_PRIOR, tol=1e-10), True)
        present, theta, needed_prior = fitted[key]
        regularised += needed_prior
        draws[b, present] = ELO_ANCHOR + ELO_SCALE * theta
    tail = 100 * (1 - level) / 2
    out = {}
    for j, p in enumerate(players):
        col = draws[:, j][~np.isnan(draws[:, j])]
        if len(col):
            low, high = np.percentile(col, [tail, 100 - tail])
            out[p] = (float(low), float(high))
    return out, regularised


def rate_debaters(games: Sequence[Game], *, n_bootstrap: int = 0, seed: int = 0) -> Ratings:
    """Bradley–Terry (MLE when it exists, else with ``FALLBACK_PRIOR``), Elo scale, optional
    question-bootstrap interval, and the online Elo, per player."""
    xp = cross_play(games)
    players = sorted({p for g in xp for p in (g.winner, g.loser)})
    try:
        prior, theta = 0.0, fit_bradley_terry(xp, players)
    except NotIdentifiable:
        prior, theta = FALLBACK_PRIOR, fit_bradley_terry(xp, players, prior=FALLBACK_PRIOR)
    elo = to_elo(theta)
    online = online_elo(xp)
    ci: dict[str, tuple[float, float]] = {}
    regularised = 0
    if n_bootstrap and players:
        ci, regularised = bootstrap_ratings(xp, players, prior=prior, n_resamples=n_bootstrap, seed=seed)
    rows = [
        RatingRow(
            player=p, games=sum(p in (g.winner, g.loser) for g in xp), wins=sum(g.winner == p for g in xp),
            theta=theta[p], rating=elo[p], ci_low=ci.get(p, (None, None))[0], ci_high=ci.get(p, (None, None))[1],
            online_elo=online[p],
        )
        for p in players
    ]
    rows.sort(key=lambda r: (-r.rating, r.player))
    return Ratings(rows=rows, n_games=len(xp), prior=prior, n_bootstrap=n_bootstrap, regularised_resamples=regularised)


__all__ = [
    "ELO_ANCHOR",
    "ELO_SCALE",
    "FALLBACK_PRIOR",
    "Game",
    "NotIdentifiable",
    "RatingRow",
    "Ratings",
    "bootstrap_ratings",
    "cross_play",
    "debate_games",
    "fit_bradley_terry",
    "fit_win_matrix",
    "online_elo",
    "rate_debaters",
    "to_elo",
]
