"""How the arguing experts fare: win rates on the correct and the incorrect side, and how
often their quotes check out against the passage.

Why both sides: debate only helps the judge if arguing for the truth wins more often than
arguing against it. A debater's win rate on the incorrect side measures its persuasiveness
where persuasion is harmful (Khan et al. 2024); the gap between the two sides is what a
protocol is for. Quote verification per side shows whether the honest side is the one
backing its claims with real text.

Conventions:
- An expert "wins" an episode when the judge's final verdict picks the option the expert
  argued for. A verdict that did not parse picks nothing: every expert of that episode loses
  (the accuracy table counts it wrong too).
- The side of an expert in an episode is the option of its first speech there (the built-in
  protocols never switch sides); it is the correct side when that option is gold.
- Every speaking expert counts: debaters, consultants and open-protocol experts, reported per
  protocol and model (consultancy rows are the consultant's persuasiveness).
- Quote rate = verified quotes / all quotes, summed over speeches (``n_verified`` and
  ``n_unverified`` per turn), split by whether the speech argued for the gold option.
Only complete episodes count (the rows come from ``analysis_queries.speech_turns``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel

from debate.core import ParseStatus
from debate.storage import Outcome
from debate.storage.analysis_queries import SpeechTurnRow


class ExpertPosition(BaseModel):
    """One expert's side in one episode."""

    episode_id: str
    question_uid: str
    protocol: str
    role: str
    model: str
    option: int
    for_gold: bool


def expert_positions(turns: Sequence[SpeechTurnRow]) -> list[ExpertPosition]:
    """One position per (episode, role), from that role's first speech, in turn order."""
    seen: dict[tuple[str, str], ExpertPosition] = {}
    for t in turns:
        key = (t.episode_id, t.role)
        if key not in seen:
            seen[key] = ExpertPosition(
                episode_id=t.episode_id, question_uid=t.question_uid, protocol=t.protocol, role=t.role,
                model=t.model, option=t.argues_for, for_gold=t.for_gold,
            )
    return list(seen.values())


def won(position: ExpertPosition, outcome: Outcome) -> bool:
    return outcome.parse_status is ParseStatus.OK and outcome.chosen == position.option


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


class WinRateRow(BaseModel):
    protocol: str
    model: str
    n_correct_side: int
    wins_correct_side: int
    win_rate_correct: float | None
    n_incorrect_side: int
    wins_incorrect_side: int
    win_rate_incorrect: float | None


def win_rates(turns: Sequence[SpeechTurnRow], outcomes: Sequence[Outcome]) -> list[WinRateRow]:
    """Per protocol and model, sorted by both. Positions whose episode has no outcome are skipped."""
    by_episode = {o.episode_id: o for o in outcomes}
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n_c, w_c, n_i, w_i
    for pos in expert_positions(turns):
        outcome = by_episode.get(pos.episode_id)
        if outcome is None:
            continue
        c = counts[(pos.protocol, pos.model)]
        slot = 0 if pos.for_gold else 2
        c[slot] += 1
        c[slot + 1] += int(won(pos, outcome))
    return [
        WinRateRow(
            protocol=protocol, model=model, n_correct_side=nc, wins_correct_side=wc, win_rate_correct=_rate(wc, nc),
            n_incorrect_side=ni, wins_incorrect_side=wi, win_rate_incorrect=_rate(wi, ni),
        )
        for (protocol, model), (nc, wc, ni, wi) in sorted(counts.items())
    ]


class QuoteRateRow(BaseModel):
    protocol: str
    model: str
    side: str
    """``correct`` (the speech argued for gold) or ``incorrect``."""
    speeches: int
    quotes: int
    verified: int
    rate: float | None
    """``verified / quotes``; None when the side quoted nothing."""


def quote_rates(turns: Sequence[SpeechTurnRow]) -> list[QuoteRateRow]:
    """Per protocol, model and side, sorted; correct side first."""
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # speeches, quotes, verified
    for t in turns:
        c = counts[(t.protocol, t.model, "correct" if t.for_gold else "incorrect")]
        c[0] += 1
        c[1] += t.n_verified + t.n_unverified
        c[2] += t.n_verified
    return [
        QuoteRateRow(protocol=p, model=m, side=side, speeches=s, quotes=q, verified=v, rate=_rate(v, q))
        for (p, m, side), (s, q, v) in sorted(counts.items())
    ]


__all__ = ["ExpertPosition", "QuoteRateRow", "WinRateRow", "expert_positions", "quote_rates", "win_rates", "won"]
