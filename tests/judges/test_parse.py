"""The final-answer parser: a table of reply kinds and traps, plus properties on arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from debate.core.transcript import ParseStatus
from debate.judges.parse import ParsedAnswer, parse_answer

OK, UNP, AMB, EMPTY, ERR = (
    ParseStatus.OK,
    ParseStatus.UNPARSEABLE,
    ParseStatus.AMBIGUOUS,
    ParseStatus.EMPTY,
    ParseStatus.ERROR,
)
TWO = ["Deeply", "Concisely"]
FOUR = ["Red", "Green", "Blue", "Yellow"]
TEN = [f"Option number {i}" for i in range(10)]

CASES = [
    # explicit answer statements
    ("Answer: B", TWO, 1, OK, None),
    ("ANSWER: **B**", TWO, 1, OK, None),
    ("**Answer:** B", TWO, 1, OK, None),
    ("Final answer: (B)", TWO, 1, OK, None),
    ("The answer is B", TWO, 1, OK, None),
    ("The correct answer is C: Blue", FOUR, 2, OK, None),
    ("My final answer is option (B).", TWO, 1, OK, None),
    ("Answer: $B$", TWO, 1, OK, None),
    ("answer: b", TWO, 1, OK, None),
    ("After weighing both speeches, I choose option B.", TWO, 1, OK, None),
    ("I'd go with A.", TWO, 0, OK, None),
    ("I think B is correct.", TWO, 1, OK, None),
    ("(A) is wrong; (B) is the right answer", TWO, 1, OK, None),
    ("\\boxed{B}", TWO, 1, OK, None),
    ("$\\boxed{\\text{D}}$", FOUR, 3, OK, None),
    # bare letters and letter-led lines
    ("(B)", TWO, 1, OK, None),
    ("$B$", TWO, 1, OK, None),
    ("b", TWO, 1, OK, None),
    ("  **A**  ", TWO, 0, OK, None),
    ("B. Concisely", TWO, 1, OK, None),
    ("B) Because the second debater quoted the passage.", TWO, 1, OK, None),
    ("B\n\nThe passage supports the second option.", TWO, 1, OK, None),
    ("The first debater's quote is unverified.\n\nB", TWO, 1, OK, None),
    # JSON
    ('{"answer": "B", "confidence": 0.8}', TWO, 1, OK, 0.8),
    ('```json\n{"answer": "B", "confidence": 0.8}\n```', TWO, 1, OK, 0.8),
    ('{"answer": "A"} I hope this helps!', TWO, 0, OK, None),
    ('{"final_answer": "(C)"}', FOUR, 2, OK, None),
    ('Verdict below.\n{"answer": "Concisely", "confidence": "70%"}', TWO, 1, OK, 0.7),
    # option text instead of the letter
    ("Concisely", TWO, 1, OK, None),
    ("concisely.", TWO, 1, OK, None),
    ("  GREEN! ", FOUR, 1, OK, None),
    ("Answer: Deeply", TWO, 0, OK, None),
    ("The answer is Concisely because the passage is short.", TWO, 1, OK, None),
    # the last explicit answer wins
    ("Answer: A\nOn reflection the second debater is right.\nFinal answer: B", TWO, 1, OK, None),
    ("Answer: B\n\nActually, wait. Answer: A", TWO, 0, OK, None),
    ("A man walks in. The answer is B.", TWO, 1, OK, None),
    # stated confidence
    ("Answer: B\nConfidence: 80%", TWO, 1, OK, 0.8),
    ("Answer: A\nconfidence: 0.8", TWO, 0, OK, 0.8),
    ("Answer: B (90% confident)", TWO, 1, OK, 0.9),
    ("I am 75% sure the answer is A", TWO, 0, OK, 0.75),
    ("Confidence: 8/10. Answer: B", TWO, 1, OK, 0.8),
    ("Answer: A\nConfidence: high", TWO, 0, OK, None),
    ("Confidence: 120%. Answer: A", TWO, 0, OK, None),
    # out-of-range letters are not answers
    ("Answer: C", TWO, None, UNP, None),
    ("Answer: E", FOUR, None, UNP, None),
    ("E", FOUR, None, UNP, None),
    # several letters, no final answer
    ("A is plausible but B has evidence", TWO, None, AMB, None),
    ("Debater A argues X. Debater B argues Y.", TWO, None, AMB, None),
    ("Option A's evidence is weak, option B's is strong.", TWO, None, AMB, None),
    ("Answer: A or B", TWO, None, AMB, None),
    ("Answer: A/B", TWO, None, AMB, None),
    ("Answer: A vs. B", TWO, None, AMB, None),
    # "vs"/"or" inside a next-line word is no alternative (hypothesis found "Vsb." read as "vs b")
    ("Answer: A\nVsb.", TWO, 0, OK, None),
    ("Answer: B\nOral tradition.", TWO, 1, OK, None),
    ("A\nB", TWO, None, AMB, None),
    ("A. Deeply\nB. Concisely", TWO, None, AMB, None),
    ("A. Concisely", TWO, None, AMB, None),
    # false-positive traps: articles, pronouns and prose are not letters
    ("A man walks into a bar.", TWO, None, UNP, None),
    ("The answer is a bit unclear to me.", TWO, None, UNP, None),
    ("I pick a side only when the evidence is clear.", TWO, None, UNP, None),
    ("To answer this, a careful reading is needed.", TWO, None, UNP, None),
    ("It is unclear whether A is correct.", TWO, None, UNP, None),
    ("I think the answer is unclear.", TEN, None, UNP, None),
    ("Hmm. I'm not sure.", TEN, None, UNP, None),
    ("The answer deeply depends on the reader.", TWO, None, UNP, None),
    # empty replies
    ("", TWO, None, EMPTY, None),
    ("   \n\t ", TWO, None, EMPTY, None),
    (None, TWO, None, EMPTY, None),
    ("<think>A or B?</think>", TWO, None, EMPTY, None),
    ("<think>A is tempting.</think>\nAnswer: B", TWO, 1, OK, None),
]


@pytest.mark.parametrize(("reply", "options", "index", "status", "confidence"), CASES)
def test_parse_table(
    reply: str | None, options: list[str], index: int | None, status: ParseStatus, confidence: float | None
) -> None:
    got = parse_answer(reply, options)
    assert (got.index, got.status, got.confidence) == (index, status, confidence), got.reason
    assert got.reason


def test_custom_letters() -> None:
    assert parse_answer("Answer: Y", TWO, letters=["X", "Y"]).index == 1
    assert parse_answer("Answer: B", TWO, letters=["X", "Y"]).status is UNP


def test_bad_inputs_are_errors_not_exceptions() -> None:
    assert parse_answer("Answer: A", []).status is ERR
    assert parse_answer("Answer: A", TWO, letters=["A"]).status is ERR


def test_parsed_answer_rejects_index_without_ok() -> None:
    with pytest.raises(ValueError):
        ParsedAnswer(index=1, status=AMB, reason="x")


def test_long_adversarial_replies_stay_fast() -> None:
    for reply in ("answer is " * 3000, '{"answer": ' * 3000, " " * 50000 + "B", "(A) " * 5000):
        parse_answer(reply, TWO)


_ALPHABET = st.sampled_from(list("ABCDabcd ()*$:{}\"\n.,%0123456789") + ["Answer", "answer is ", "Confidence: ",
                                                                       "\\boxed{", "I choose ", "option ", "Deeply"])


@settings(max_examples=400, deadline=None)
@given(
    reply=st.one_of(st.none(), st.text(max_size=200), st.lists(_ALPHABET, max_size=30).map("".join)),
    n=st.integers(min_value=2, max_value=10),
)
def test_parse_properties(reply: str | None, n: int) -> None:
    options = (TWO + FOUR + TEN)[:n] if n > 2 else TWO
    got = parse_answer(reply, options)
    assert got.index is None or 0 <= got.index < n
    assert (got.status is OK) == (got.index is not None)
    assert got.confidence is None or 0.0 <= got.confidence <= 1.0
    assert got.status is not ERR


def test_closed_book_questions_get_no_story_framing() -> None:
    from debate.core.question import Question
    from debate.judges.prompts import verdict_prompt

    closed = Question(id="c", question="Which organ pumps blood?", options=("Heart", "Liver"), gold_index=0)
    story = Question(id="s", question="Who kept the log?", options=("Ann", "Bo"), gold_index=0, context="Ann kept the log.")
    assert closed.judge_view().closed_book and not story.judge_view().closed_book
    assert "story" not in verdict_prompt(closed.judge_view(), []).lower()
    assert "a story they cannot read" in verdict_prompt(story.judge_view(), [])
