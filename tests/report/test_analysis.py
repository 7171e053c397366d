"""The statistical analysis, with exact expected values: bootstrap, permutation test,
calibration, ratings, and win/quote rates and plots from a real scripted SQLite run."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from debate.config import ProtocolSpec, RunConfig
from debate.core import EpisodeStatus, ParseStatus, Question
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.report import bootstrap as bootstrap_module
from debate.report.bootstrap import bootstrap_accuracy_ci, bootstrap_outcomes_ci
from debate.report.calibration import (
    brier_score,
    calibration_point,
    expected_calibration_error,
    reliability_bins,
    summarise_calibration,
)
from debate.report.debaters import quote_rates, win_rates
from debate.report.permutation import compare_outcomes, holm_adjust, sign_flip_test
from debate.report.plots import plot_accuracy, plot_accuracy_vs_rating, plot_calibration
from debate.report.ratings import (
    ELO_SCALE,
    Game,
    NotIdentifiable,
    debate_games,
    fit_bradley_terry,
    online_elo,
    rate_debaters,
    to_elo,
)
from debate.report.summary import analyse, render_analysis
from debate.storage import Outcome, open_database
from debate.storage.analysis_queries import FinalVerdictProbability, final_verdict_probabilities, speech_turns
from tests.helpers import PASSAGE

# -- bootstrap ------------------------------------------------------------------------------------

SEVEN_OF_TEN = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1]


def numpy_reference(per_question: Sequence[float], seed: int = 0, n: int = 10_000) -> tuple[float, float]:
    """The textbook percentile bootstrap over questions, written out by hand."""
    x = np.asarray(per_question, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n, len(x)))
    low, high = np.percentile(x[idx].mean(axis=1), [2.5, 97.5])
    return float(low), float(high)


def test_bootstrap_matches_hand_numpy_reference() -> None:
    got = bootstrap_accuracy_ci(SEVEN_OF_TEN, [f"q{i}" for i in range(10)])
    assert got == numpy_reference(SEVEN_OF_TEN)  # bit for bit: same seed, same draws
    assert got == (0.4, 1.0)  # P(all 10 draws correct) = 0.7^10 = 2.8% > 2.5%: the top is 1.0
    assert got == bootstrap_accuracy_ci(SEVEN_OF_TEN)  # no clusters: each episode its own
    assert bootstrap_accuracy_ci(SEVEN_OF_TEN, seed=1) == numpy_reference(SEVEN_OF_TEN, seed=1)


def test_bootstrap_all_correct_and_empty() -> None:
    assert bootstrap_accuracy_ci([1] * 10, [f"q{i}" for i in range(10)]) == (1.0, 1.0)
    assert bootstrap_accuracy_ci([0] * 6) == (0.0, 0.0)
    assert bootstrap_accuracy_ci([]) == (0.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_accuracy_ci([1, 0], ["q1"])


def test_bootstrap_resamples_questions_not_episodes() -> None:
    # Both orders of each question agree: 20 episodes, but only 10 independent questions.
    both_orders = [x for x in SEVEN_OF_TEN for _ in range(2)]
    clusters = [f"q{i}" for i in range(10) for _ in range(2)]
    clustered = bootstrap_accuracy_ci(both_orders, clusters)
    assert clustered == numpy_reference(SEVEN_OF_TEN)  # equal-size clusters: the question-level bootstrap
    naive = bootstrap_accuracy_ci(both_orders)  # pretends the 20 episodes are independent
    assert naive[1] - naive[0] < clustered[1] - clustered[0]


def test_bootstrap_chunking_does_not_change_the_draws(monkeypatch) -> None:
    full = bootstrap_accuracy_ci(SEVEN_OF_TEN, n_resamples=1000)
    monkeypatch.setattr(bootstrap_module, "_CHUNK_CELLS", 37)  # 3 resamples per chunk
    assert bootstrap_accuracy_ci(SEVEN_OF_TEN, n_resamples=1000) == full


# -- permutation test -----------------------------------------------------------------------------


def test_sign_flip_exact_small_case_by_hand() -> None:
    # d = (1, 0.5, 1): of the 2^3 = 8 sign patterns only (+,+,+) and (-,-,-) reach |sum| = 2.5.
    r = sign_flip_test([1.0, 0.5, 1.0])
    assert (r.p_value, r.exact, r.n_permutations) == (2 / 8, True, 8)
    assert r.statistic == pytest.approx(2.5 / 3)
    # d = (1, 0, 1): flipping the zero changes nothing, so 4 of 8 patterns reach |sum| = 2.
    assert sign_flip_test([1.0, 0.0, 1.0]).p_value == 4 / 8
    # d = (1, -1): the patterns give sums 0, 2, -2, 0; |sum| >= |0| always.
    assert sign_flip_test([1.0, -1.0]).p_value == 1.0
    assert sign_flip_test([]).p_value == 1.0


def test_sign_flip_exact_up_to_16_then_monte_carlo() -> None:
    r16 = sign_flip_test([1.0] * 16)
    assert r16.exact and r16.p_value == 2 / 2**16
    r20 = sign_flip_test([1.0] * 20, n_permutations=5000, seed=3)
    assert not r20.exact and r20.n_permutations == 5000
    signs = 1 - 2 * np.random.default_rng(3).integers(0, 2, size=(5000, 20))
    hits = int(np.count_nonzero(np.abs(signs.mean(axis=1)) >= 1 - 1e-12))
    assert r20.p_value == (1 + hits) / 5001
    assert sign_flip_test([1.0] * 20, n_permutations=5000, seed=3) == r20


def _outcome(q: str, order: str, protocol: str, correct: bool, status=EpisodeStatus.COMPLETE) -> Outcome:
    return Outcome(
        episode_id=f"{protocol}-{q}-{order}", run_id="r", question_uid=q, protocol=protocol, variant=protocol,
        judge_model="j", expert_models="", status=status, parse_status=ParseStatus.OK if status is EpisodeStatus.COMPLETE else None,
        chosen=0 if correct else 1, correct=correct if status is EpisodeStatus.COMPLETE else None, gold_index=0, order_json=order,
    )


def test_paired_permutation_between_protocols_pairs_by_question_and_order() -> None:
    a, b = [], []
    for q, a_right in [("q1", (1, 1)), ("q2", (1, 0)), ("q3", (1, 1))]:
        for order, right in zip(("[0, 1]", "[1, 0]"), a_right):
            a.append(_outcome(q, order, "debate", bool(right)))
            b.append(_outcome(q, order, "consultancy", False))
    a.append(_outcome("q4", "[0, 1]", "debate", True))  # unpaired: no consultancy episode on q4
    b.append(_outcome("q5", "[0, 1]", "consultancy", False, EpisodeStatus.ERROR))  # errors never pair
    c = compare_outcomes(a, b)
    # per-question differences (1, 0.5, 1): the exact p-value worked out above
    assert (c.n_questions, c.n_pairs, c.exact, c.p_value) == (3, 6, True, 0.25)
    assert c.accuracy_a == pytest.approx(2.5 / 3) and c.accuracy_b == 0.0
    assert c.difference == pytest.approx(2.5 / 3)
    assert compare_outcomes(b, a).difference == pytest.approx(-2.5 / 3)


def test_holm_adjustment() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04)
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.6, 0.9]) == [1.0, 1.0]
    assert holm_adjust([]) == []


# -- calibration ----------------------------------------------------------------------------------


def test_brier_and_ece_by_hand() -> None:
    probs, outcomes = [0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0]
    # (0.1^2 + 0.2^2 + 0.3^2 + 0.6^2) / 4 = (0.01 + 0.04 + 0.09 + 0.36) / 4 = 0.5 / 4
    assert brier_score(probs, outcomes) == pytest.approx(0.125, abs=1e-15)
    # one forecast per bin (0.3 -> bin 3, 0.6 -> 6, 0.8 -> 8, 0.9 -> 9): ECE = mean |p - y|
    assert expected_calibration_error(probs, outcomes) == pytest.approx((0.1 + 0.2 + 0.3 + 0.6) / 4, abs=1e-15)
    bins = reliability_bins(probs, outcomes)
    assert [b.n for b in bins] == [0, 0, 0, 1, 0, 0, 1, 0, 1, 1]
    assert bins[3].low == 0.3 and bins[3].mean_confidence == 0.3 and bins[3].accuracy == 0.0
    # 0.71 and 0.79 share bin 7 (mean confidence 0.75, accuracy 0.5); 1.0 falls in the last bin
    assert expected_calibration_error([0.71, 0.79, 1.0], [1, 0, 1]) == pytest.approx((2 / 3) * abs(0.5 - 0.75) + (1 / 3) * 0.0)
    assert brier_score([], []) is None and expected_calibration_error([], []) is None
    with pytest.raises(ValueError):
        brier_score([1.2], [1])


def _verdict(chosen, probs, gold=0, status=ParseStatus.OK, confidence=None) -> FinalVerdictProbability:
    return FinalVerdictProbability(
        episode_id="e", run_id="r", question_uid="q", protocol="p", variant="p", judge_model="j", judge_kind="logprob",
        status=status, chosen=chosen, probabilities=probs, confidence=confidence, gold_index=gold, order_json="[0, 1]",
    )


def test_calibration_conventions_chosen_and_gold() -> None:
    vs = [
        _verdict(0, [0.9, 0.1]),  # right, conf 0.9, p_gold 0.9
        _verdict(1, [0.2, 0.8]),  # wrong, conf 0.8, p_gold 0.2
        _verdict(None, None, status=ParseStatus.UNPARSEABLE),  # no forecast
        _verdict(1, None, confidence=0.6),  # generative: wrong with confidence 0.6, so p_gold 0.4
    ]
    assert calibration_point(vs[2]) is None
    s = summarise_calibration(vs)
    assert (s.n, s.missing) == (3, 1)
    assert s.brier == pytest.approx((0.1**2 + 0.8**2 + 0.6**2) / 3)
    assert s.mean_p_gold == pytest.approx((0.9 + 0.2 + 0.4) / 3)
    assert s.brier_gold == pytest.approx((0.1**2 + 0.8**2 + 0.6**2) / 3)
    assert s.mean_confidence == pytest.approx((0.9 + 0.8 + 0.6) / 3)


# -- ratings --------------------------------------------------------------------------------------


def games(winner: str, loser: str, n: int, start: int = 0) -> list[Game]:
    return [Game(winner=winner, loser=loser, question_uid=f"{winner}{loser}{start + i}") for i in range(n)]


def test_bradley_terry_two_players_closed_form() -> None:
    g = games("A", "B", 3) + games("B", "A", 1)
    theta = fit_bradley_terry(g)
    # two players: P(A beats B) = 3/4 = sigmoid(theta_A - theta_B)  =>  theta_A - theta_B = ln 3
    assert theta["A"] - theta["B"] == pytest.approx(math.log(3), abs=1e-12)
    elo = to_elo(theta)
    assert elo["A"] - elo["B"] == pytest.approx(400 * math.log10(3), abs=1e-9)  # 190.85 points
    assert (elo["A"] + elo["B"]) / 2 == pytest.approx(1000)
    assert ELO_SCALE == pytest.approx(400 / math.log(10))


def test_bradley_terry_chain_order_and_fallback_prior() -> None:
    g = games("A", "B", 3) + games("B", "A", 1) + games("B", "C", 3) + games("C", "B", 1)
    r = rate_debaters(g)
    assert [row.player for row in r.rows] == ["A", "B", "C"] and r.prior == 0.0
    by = {row.player: row for row in r.rows}
    # A only ever meets B, so A's likelihood equation alone forces theta_A - theta_B = ln 3.
    assert by["A"].theta - by["B"].theta == pytest.approx(math.log(3), abs=1e-10)
    assert by["B"].rating == pytest.approx(1000, abs=1e-9)  # symmetric chain: B is the mean
    assert (by["A"].games, by["A"].wins, by["B"].games, by["B"].wins) == (4, 3, 8, 4)
    # 4-0: no MLE. With 0.5 virtual wins each way: 4.5 vs 0.5, so the difference is ln 9.
    with pytest.raises(NotIdentifiable):
        fit_bradley_terry(games("A", "B", 4))
    shut_out = rate_debaters(games("A", "B", 4))
    assert shut_out.prior == 0.5
    assert shut_out.rows[0].theta - shut_out.rows[1].theta == pytest.approx(math.log(9), abs=1e-10)


def test_rating_bootstrap_and_online_elo() -> None:
    g = games("A", "B", 3) + games("B", "A", 1) + games("B", "C", 3) + games("C", "B", 1)
    r1 = rate_debaters(g, n_bootstrap=300, seed=4)
    assert r1 == rate_debaters(g, n_bootstrap=300, seed=4)
    for row in r1.rows:
        assert row.ci_low is not None and row.ci_high is not None and row.ci_low <= row.ci_high
    # Elo by hand: equal ratings expect 0.5, so A gains 16; then A (1016) beats B (984) again.
    elo = online_elo(games("A", "B", 2))
    second = 32 * (1 - 1 / (1 + 10 ** ((984 - 1016) / 400)))
    assert elo["A"] == pytest.approx(1016 + second) and elo["B"] == pytest.approx(984 - second)
    assert online_elo(games("A", "A", 3)) == {}  # self-play is not a rating game


# -- a real run on scripted models ----------------------------------------------------------------

WEAK = "[bold]weak[/bold]"  # a model name that would be rich markup if rendered unescaped
ITEMS = 4


def _question(i: int, gold: int) -> Question:
    return Question(
        id=f"q{i}", question=f"Item {i}: how long did Mara keep the lighthouse?", options=("Five years", "Eleven years"),
        gold_index=gold, context=PASSAGE, title="Gull Rock", source={"dataset": "unit"},
    )


def _judge_scorer(req) -> list[float]:
    """Against the weak debater, side with its opponent, except on item 3; otherwise prefer
    "A", with a confidence that depends on the item (so calibration has several bins)."""
    found = re.search(r"Item (\d)", req.prompt)
    assert found is not None
    item = int(found.group(1))
    weak = re.search(r"\(defending ([AB])\): [^\n]*WEAK", req.prompt)
    if weak:
        pref = weak.group(1) if item == 3 else {"A": "B", "B": "A"}[weak.group(1)]
        lp = (-0.2, -1.5)
    else:
        pref = "A"
        lp = [(-0.1, -3.0), (-0.5, -0.9), (-0.3, -1.2), (-0.2, -2.0)][item - 1]
    return [lp[0] if c.strip() == pref else lp[1] for c in req.continuations]


@pytest.fixture(scope="module")
def run_db(tmp_path_factory) -> Path:
    import asyncio

    path = tmp_path_factory.mktemp("analysis") / "runs.sqlite"
    config = RunConfig(
        name="an", db=str(path), expert="expert", judge="judge", speech_tokens=8,
        protocols=[
            ProtocolSpec(name="direct_blind"),
            ProtocolSpec(name="consultancy", params={"rounds": 1}),
            ProtocolSpec(name="debate", params={"rounds": 2}),
            ProtocolSpec(name="debate", params={"rounds": 1}, roles={"debater_b": WEAK}),
        ],
    )
    backends = {
        "expert": ScriptedBackend(name="expert", replies={"*": "counted the ships that passed</quote> so I am right."}),
        WEAK: ScriptedBackend(name=WEAK, replies={"*": "the moon is green</quote> WEAK claim."}),
        "judge": ScriptedBackend(name="judge", scorer=_judge_scorer),
    }
    questions = [_question(1, 0), _question(2, 1), _question(3, 1), _question(4, 0)]
    result = asyncio.run(run_experiment(config, questions=questions, backends=backends))
    # 4 questions x 2 orders x (blind 1 + consultancy 2 + debate 1 + cross-play debate 1)
    assert (result.completed, result.errors) == (40, 0)
    return path


def _sql(path: Path, query: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


FIRST_SPEECHES = """
    select e.id, e.protocol, json_extract(e.roles_json, '$.' || t.role), t.argues_for = q.gold_index,
           e.parse_status = 'ok' and e.chosen = t.argues_for
    from turns t join episodes e on e.id = t.episode_id join questions q on q.uid = e.question_uid
    where t.kind = 'speech' and e.status = 'complete'
      and t.idx = (select min(t2.idx) from turns t2 where t2.episode_id = t.episode_id and t2.role = t.role)
"""


def test_win_rates_match_sql(run_db: Path) -> None:
    hand: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for _, protocol, model, for_gold, won in _sql(run_db, FIRST_SPEECHES):
        c = hand[(protocol, model)]
        c[0 if for_gold else 2] += 1
        c[1 if for_gold else 3] += won
    with open_database(run_db) as db:
        rows = win_rates(speech_turns(db, "an"), db.outcomes("an"))
    got = {(r.protocol, r.model): [r.n_correct_side, r.wins_correct_side, r.n_incorrect_side, r.wins_incorrect_side] for r in rows}
    assert got == dict(hand)
    # By construction: the weak debater wins only item 3 (both orders), once on each side
    # (gold is option 1 there and the orders alternate which option it defends).
    assert got[("debate", WEAK)] == [4, 1, 4, 1]
    # Self-play and cross-play: 16 debates, 8 questions x orders each side; consultancy: the
    # judge says "A", so the consultant wins exactly when it was assigned the option shown first.
    assert got[("consultancy", "expert")] == [8, 4, 8, 4]
    by_row = {(r.protocol, r.model): r for r in rows}
    assert by_row[("debate", WEAK)].win_rate_correct == 0.25


def test_quote_rates_match_sql(run_db: Path) -> None:
    hand = {
        (p, m, "correct" if g else "incorrect"): (s, q, v)
        for p, m, g, s, q, v in _sql(run_db, """
            select e.protocol, json_extract(e.roles_json, '$.' || t.role), t.argues_for = qu.gold_index,
                   count(*), sum(t.n_verified + t.n_unverified), sum(t.n_verified)
            from turns t join episodes e on e.id = t.episode_id join questions qu on qu.uid = e.question_uid
            where t.kind = 'speech' and e.status = 'complete' group by 1, 2, 3""")
    }
    with open_database(run_db) as db:
        rows = quote_rates(speech_turns(db, "an"))
    assert {(r.protocol, r.model, r.side): (r.speeches, r.quotes, r.verified) for r in rows} == hand
    rates = {(r.protocol, r.model, r.side): r.rate for r in rows}
    # The expert quotes the passage, the weak model invents its quote.
    assert rates[("debate", "expert", "correct")] == 1.0 and rates[("debate", WEAK, "incorrect")] == 0.0
    # debate: self-play 8 episodes x 2 rounds x 2 debaters + cross-play 8 x 1 round (expert's half)
    assert hand[("debate", "expert", "correct")][0] + hand[("debate", "expert", "incorrect")][0] == 32 + 8


def test_final_verdict_probabilities_and_calibration_match_sql(run_db: Path) -> None:
    rows = _sql(run_db, """
        select v.chosen, v.probabilities_json, q.gold_index, e.variant from verdicts v
        join episodes e on e.id = v.episode_id join questions q on q.uid = e.question_uid
        where v.is_final and e.status = 'complete' and e.variant = 'direct_blind'""")
    assert len(rows) == 8
    conf = [json.loads(p)[c] for c, p, _, _ in rows]
    hit = [float(c == g) for c, _, g, _ in rows]
    with open_database(run_db) as db:
        verdicts = final_verdict_probabilities(db, "an")
        assert len(verdicts) == 40 and all(v.probabilities is not None for v in verdicts)
        analysis = analyse(db, "an", rating_resamples=50)
    blind = next(c for c in analysis.calibration if c.variant == "direct_blind")
    assert blind.n == 8 and blind.missing == 0
    assert blind.brier == pytest.approx(float(np.mean((np.array(conf) - np.array(hit)) ** 2)), abs=1e-12)
    assert blind.ece == pytest.approx(expected_calibration_error(conf, hit), abs=1e-12)
    assert sum(b.n for b in blind.bins) == 8 and sum(1 for b in blind.bins if b.n) == 4  # four confidence levels


def test_ratings_from_the_run(run_db: Path) -> None:
    with open_database(run_db) as db:
        turns, outcomes = speech_turns(db, "an"), db.outcomes("an")
        analysis = analyse(db, "an", rating_resamples=100)
    played = debate_games(turns, outcomes)
    cross = [g for g in played if g.winner != g.loser]
    assert (len(played), len(cross)) == (16, 8)
    assert sum(g.winner == WEAK for g in cross) == 2  # item 3, both orders
    r = analysis.ratings
    assert r is not None and r.n_games == 8 and r.prior == 0.0
    top, bottom = r.rows
    assert (top.player, bottom.player) == ("expert", WEAK)
    # 6 wins to 2 between two players: the closed form again, ln 3 on the Elo scale
    assert top.rating - bottom.rating == pytest.approx(400 * math.log10(3), abs=1e-6)
    # Self-play accuracy of the expert (judge says "A"): right when gold is shown first, 4 of 8.
    point = next(p for p in analysis.rating_accuracy if p.player == "expert")
    assert (point.n, point.correct) == (8, 4)


def test_accuracy_rows_have_wilson_and_question_bootstrap(run_db: Path) -> None:
    with open_database(run_db) as db:
        analysis = analyse(db, "an", rating_resamples=0)
        outcomes = db.outcomes("an")
    blind = next(r for r in analysis.accuracy if r.variant == "direct_blind")
    # the judge says "A" in direct_blind: right in exactly one order of every question
    assert (blind.n, blind.correct) == (8, 4)
    per_question = [0.5] * 4  # every question 1 of 2: every resample is exactly 0.5
    assert (blind.boot_low, blind.boot_high) == numpy_reference(per_question) == (0.5, 0.5)
    assert (blind.ci_low, blind.ci_high) != (0.5, 0.5)  # Wilson treats the 8 episodes as independent
    pooled = next(r for r in analysis.accuracy if r.variant == "consultancy (all)")
    assert pooled.n == 16
    expected = bootstrap_outcomes_ci([o for o in outcomes if o.protocol == "consultancy"])
    assert (pooled.boot_low, pooled.boot_high) == expected
    # comparisons: pooled arms never compared with their own variants; Holm >= raw
    pairs = {(c.arm_a, c.arm_b) for c in analysis.comparisons}
    assert ("consultancy (all)", "consultancy[correct]") not in pairs
    assert ("consultancy[correct]", "consultancy[incorrect]") in pairs
    assert all(c.p_holm >= c.p_value and c.exact for c in analysis.comparisons)


def test_render_escapes_model_names_and_shows_every_section(run_db: Path) -> None:
    with open_database(run_db) as db:
        analysis = analyse(db, "an", rating_resamples=50)
    console = Console(record=True, width=250)
    for renderable in render_analysis(analysis):
        console.print(renderable)
    text = console.export_text()
    assert WEAK in text  # printed literally, not swallowed as markup
    for title in ("Judge accuracy", "Paired permutation", "calibration", "win rate", "Quote verification", "Bradley–Terry"):
        assert title in text


# -- plots ----------------------------------------------------------------------------------------


def _check_png(path: Path, shape: tuple[int, int]) -> None:
    import matplotlib.image as mpimg

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5 * 1024
    image = mpimg.imread(path)
    assert image.shape == (*shape, 4)


def test_plots_are_valid_pngs(run_db: Path, tmp_path: Path) -> None:
    with open_database(run_db) as db:
        analysis = analyse(db, "an", rating_resamples=50)
    rows = [r for r in analysis.accuracy if r.n]
    # Figures are figsize x 120 dpi: accuracy max(6, 1.1 * bars + 2) x 4.5 in, calibration 6 x 5.5, rating 7 x 4.5.
    _check_png(plot_accuracy(rows, tmp_path / "acc.png"), (540, round(120 * max(6.0, 1.1 * len(rows) + 2))))
    bins = {c.variant: c.bins for c in analysis.calibration}
    _check_png(plot_calibration(bins, tmp_path / "cal.png"), (660, 720))
    _check_png(plot_accuracy_vs_rating(analysis.rating_accuracy, tmp_path / "rating.png"), (540, 840))


def test_analyse_command(run_db: Path, tmp_path: Path) -> None:
    import typer

    from debate.cli.report_cmd import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command, so typer keeps "analyse" as a subcommand name
        pass

    runner = CliRunner()
    res = runner.invoke(app, ["analyse", str(run_db), "--run", "an", "--plot", str(tmp_path / "figs"), "--seed", "1",
                              "--json", str(tmp_path / "a.json")])
    assert res.exit_code == 0, res.output
    assert "Paired permutation" in res.output and WEAK in res.output
    figures = ["accuracy.png", "calibration.png", "accuracy_vs_rating.png"]
    assert [line.removeprefix("figure: ") for line in res.output.splitlines() if line.startswith("figure: ")] == [
        str(tmp_path / "figs" / name) for name in figures
    ]
    for name in figures:
        assert (tmp_path / "figs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "a.json").read_text())["seed"] == 1
    bad = runner.invoke(app, ["analyse", str(run_db), "--run", "nope"])
    assert bad.exit_code == 2 and "no run named 'nope'" in bad.output
