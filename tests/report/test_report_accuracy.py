"""Accuracy tables: Wilson intervals and the counting rules, with exact numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from debate.core import EpisodeSpec, EpisodeStatus, ParseStatus, Question, RoleAssignment, Verdict
from debate.report import AccuracyRow, accuracy_table, render_accuracy, wilson_interval
from debate.storage import DatabaseWriter, Outcome, open_database

# -- Wilson ---------------------------------------------------------------------------------------


def test_wilson_half() -> None:
    low, high = wilson_interval(5, 10)
    assert (round(low, 3), round(high, 3)) == (0.237, 0.763)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == 1.0
    low99, high99 = wilson_interval(5, 10, z=2.576)
    assert low99 < 0.2366 and high99 > 0.7634  # wider at 99%
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(-1, 10)


# -- counting rules -------------------------------------------------------------------------------

_n = 0


def outcome(
    status: EpisodeStatus,
    correct: bool | None = None,
    parse: ParseStatus | None = ParseStatus.OK,
    variant: str = "debate",
    judge: str = "tiny-judge",
    experts: str = "debater_a=big,debater_b=big",
) -> Outcome:
    global _n
    _n += 1
    done = status is EpisodeStatus.COMPLETE
    return Outcome(
        episode_id=f"ep{_n}",
        run_id="r1",
        question_uid=f"q{_n}:000000000000",
        protocol=variant.split("[")[0],
        variant=variant,
        judge_model=judge,
        expert_models=experts,
        status=status,
        parse_status=parse if done else None,
        chosen=(1 if correct else 0) if done and parse is ParseStatus.OK else None,
        correct=correct if done else None,
        gold_index=1,
        order_json="[0, 1]",
    )


C, E, P, R = EpisodeStatus.COMPLETE, EpisodeStatus.ERROR, EpisodeStatus.PENDING, EpisodeStatus.RUNNING


def debate_outcomes() -> list[Outcome]:
    """debate/tiny-judge: 5 right, 2 wrong, 1 unparseable, 1 empty -> n=9, correct=5;
    plus 2 errors and 1 pending + 1 running, none of them in n."""
    return (
        [outcome(C, True) for _ in range(5)]
        + [outcome(C, False) for _ in range(2)]
        + [outcome(C, False, ParseStatus.UNPARSEABLE), outcome(C, False, ParseStatus.EMPTY)]
        + [outcome(E), outcome(E), outcome(P), outcome(R)]
    )


def test_parse_failures_are_wrong_and_in_n_errors_are_not() -> None:
    [row] = accuracy_table(debate_outcomes())
    low, high = wilson_interval(5, 9)
    assert row == AccuracyRow(
        variant="debate",
        judge_model="tiny-judge",
        expert_models=None,
        n=9,
        correct=5,
        accuracy=5 / 9,
        ci_low=low,
        ci_high=high,
        parse_failures=2,
        errors=2,
        pending=2,
    )
    assert round(row.ci_low, 3) == 0.267 and round(row.ci_high, 3) == 0.811


def test_a_misrecorded_correct_flag_on_a_parse_failure_still_counts_wrong() -> None:
    odd = outcome(C, True, ParseStatus.AMBIGUOUS)  # should never be stored, but must not score
    [row] = accuracy_table([odd, outcome(C, True)])
    assert (row.n, row.correct, row.parse_failures) == (2, 1, 1)


def test_groups_are_sorted_by_variant_and_split_by_judge() -> None:
    outcomes = (
        debate_outcomes()
        + [outcome(C, True, variant="consultancy[incorrect]") for _ in range(1)]
        + [outcome(C, False, variant="consultancy[incorrect]") for _ in range(3)]
        + [outcome(C, True, variant="consultancy[correct]") for _ in range(4)]
        + [outcome(C, True, variant="blind", judge="other-judge"), outcome(E, variant="blind", judge="other-judge")]
        + [outcome(C, False, variant="blind")]
    )
    rows = accuracy_table(outcomes)
    assert [(r.variant, r.judge_model, r.n, r.correct, r.errors) for r in rows] == [
        ("blind", "other-judge", 1, 1, 1),
        ("blind", "tiny-judge", 1, 0, 0),
        ("consultancy[correct]", "tiny-judge", 4, 4, 0),
        ("consultancy[incorrect]", "tiny-judge", 4, 1, 0),
        ("debate", "tiny-judge", 9, 5, 2),
    ]
    assert rows[2].accuracy == 1.0 and rows[3].accuracy == 0.25


def test_group_by_experts_and_variant_only() -> None:
    outcomes = [
        outcome(C, True, experts="expert=big"),
        outcome(C, True, experts="expert=big"),
        outcome(C, False, experts="expert=small"),
        outcome(C, True, experts="expert=small", judge="other-judge"),
    ]
    rows = accuracy_table(outcomes, by=("variant", "expert_models"))
    assert [(r.variant, r.judge_model, r.expert_models, r.n, r.correct) for r in rows] == [
        ("debate", None, "expert=big", 2, 2),
        ("debate", None, "expert=small", 2, 1),
    ]
    [only] = accuracy_table(outcomes, by=("variant",))
    assert (only.n, only.correct, only.accuracy) == (4, 3, 0.75)
    with pytest.raises(ValueError, match="cannot group by"):
        accuracy_table(outcomes, by=("seed",))


def test_nothing_complete_has_no_accuracy() -> None:
    [row] = accuracy_table([outcome(E), outcome(P)])
    assert (row.n, row.correct, row.accuracy, row.ci_low, row.ci_high) == (0, 0, None, 0.0, 1.0)
    assert (row.errors, row.pending) == (1, 1)
    assert accuracy_table([]) == []


# -- rendering ------------------------------------------------------------------------------------


def render_text(rows: list[AccuracyRow]) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(render_accuracy(rows))
    return console.export_text()


def test_render_columns_and_cells() -> None:
    outcomes = [outcome(C, True, variant="consultancy[correct]") for _ in range(5)] + [
        outcome(C, False, variant="consultancy[correct]") for _ in range(3)
    ]
    out = render_text(accuracy_table(outcomes))
    header = out.splitlines()[2]
    for col in ("Protocol", "Judge", "n", "Accuracy", "95% CI", "Parse fail", "Errors"):
        assert col in header
    assert "Experts" not in header and "Pending" not in header
    line = next(ln for ln in out.splitlines() if "consultancy" in ln)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    # brackets in the variant are text, not rich markup; the CI is wilson_interval(5, 8)
    assert cells == ["consultancy[correct]", "tiny-judge", "8", "62.5%", "[30.6%, 86.3%]", "0", "0"]


def test_render_shows_experts_and_pending_when_relevant() -> None:
    rows = accuracy_table(debate_outcomes(), by=("variant", "judge_model", "expert_models"))
    out = render_text(rows)
    assert "Experts" in out and "Pending" in out
    line = next(ln for ln in out.splitlines() if "tiny-judge" in ln)
    assert "debater_a=big,debater_b=big" in line and "55.6%" in line and "[26.7%, 81.1%]" in line
    empty = render_text(accuracy_table([outcome(E)]))
    assert "—" in empty


# -- from the database ----------------------------------------------------------------------------


async def test_table_from_a_real_database(tmp_path: Path) -> None:
    questions = [
        Question(id=f"q{i}", question=f"Question {i}?", options=("yes", "no"), gold_index=i % 2, context="Shared text.")
        for i in range(4)
    ]
    roles = RoleAssignment(models={"judge": "tiny-judge", "expert": "big"})
    db = open_database(tmp_path / "report.db")
    try:
        async with DatabaseWriter(db) as w:
            await w.put_run("r1", "run", "{}", "h")
            uids = await w.put_questions(questions)
            specs = [
                EpisodeSpec(run_id="r1", question_id=q.id, protocol="consultancy", params={"side": side},
                            roles=roles, order=(0, 1))
                for q in questions
                for side in ("correct", "incorrect")
            ]
            await w.put_episodes(specs, uids)
            for spec in specs:
                q = next(q for q in questions if q.id == spec.question_id)
                if spec.question_id == "q3" and spec.params["side"] == "incorrect":
                    await w.start_episode(spec.id)
                    await w.finish_episode(spec.id, EpisodeStatus.ERROR, error="backend down")
                    continue
                if spec.question_id == "q2" and spec.params["side"] == "incorrect":
                    verdict = Verdict(chosen=None, status=ParseStatus.UNPARSEABLE, raw="???", judge_model="tiny-judge")
                else:  # convinced by the consultant: right on "correct", wrong on "incorrect"
                    pick = q.gold_index if spec.params["side"] == "correct" else 1 - q.gold_index
                    verdict = Verdict(chosen=pick, judge_model="tiny-judge")
                await w.start_episode(spec.id)
                await w.add_verdict(spec.id, verdict, q.gold_index, is_final=True)
                await w.finish_episode(spec.id, EpisodeStatus.COMPLETE, verdict=verdict)
        rows = accuracy_table(db.outcomes("r1"))
    finally:
        db.close()
    assert [(r.variant, r.judge_model, r.n, r.correct, r.parse_failures, r.errors, r.pending) for r in rows] == [
        ("consultancy[correct]", "tiny-judge", 4, 4, 0, 0, 0),
        ("consultancy[incorrect]", "tiny-judge", 3, 0, 1, 1, 0),
    ]
