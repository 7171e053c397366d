"""Property tests: quote verification and the answer parser on generated inputs."""

from __future__ import annotations

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from debate.core.question import LETTERS
from debate.core.transcript import ParseStatus
from debate.judges.parse import parse_answer
from debate.protocols.quotes import close_quotes, normalise, verify_quotes

# Any Unicode but lone surrogates (not storable as UTF-8) and the tag brackets themselves.
_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="<>")
_TEXT = st.text(_CHARS, max_size=120)
_WORDY = st.lists(
    st.one_of(st.text(_CHARS, min_size=1, max_size=8), st.sampled_from(["e\u0301", "\u200d", "\U0001F469\u200d\U0001F467",
                                                                          "\u201cWell,\u201d", "\x1b[0m", "\ufb01", "\u00a8", "\u2028"])),
    min_size=1, max_size=25,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=200), st.lists(st.sampled_from(["<quote>", "</quote>", "<QUOTE>", "x", " ", "\u0301", "."]),
                                                      max_size=20).map("".join)),
       passage=st.text(max_size=200))
def test_verify_quotes_never_raises_and_checks_every_quote(text: str, passage: str) -> None:
    checks = verify_quotes(text, passage)
    assert len(checks) <= text.lower().count("<quote>")
    assert all(isinstance(c.verified, bool) for c in checks)
    closed = close_quotes(text)
    assert closed.lower().count("<quote>") <= closed.lower().count("</quote>")
    verify_quotes(closed, passage)


@settings(max_examples=400, deadline=None)
@given(passage=_WORDY, data=st.data())
@example(passage="\u201cWell,\u201d said Pa, \u201cwe\u2019ll need   more air.\u201d", data=None)
def test_any_word_aligned_substring_of_the_passage_is_verified(passage: str, data: st.DataObject | None) -> None:
    words = passage.split()
    assume(words)
    if data is None:
        i, j = 2, len(words)
    else:
        i = data.draw(st.integers(0, len(words) - 1))
        j = data.draw(st.integers(i + 1, len(words)))
    quote = " ".join(words[i:j])
    check = verify_quotes(f"He said <quote>{quote}</quote>.", passage)
    assert len(check) == 1 and check[0].text == quote
    assert check[0].verified == bool(normalise(quote)), (passage, quote)
    # ...and it survives re-typing: case and spacing changes.
    retyped = "\n  ".join(w.upper() for w in words[i:j])
    assert verify_quotes(f"<quote>{retyped}</quote>", passage)[0].verified == bool(normalise(retyped))


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(_TEXT, st.text(max_size=200), _WORDY))
@example(text="\u01f0")  # casefold decomposes, NFKC recomposes
@example(text="\u0130\u00df\ufb01 \u1e9e")
def test_normalise_is_idempotent_and_stays_in_its_alphabet(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip() and "  " not in once
    assert not any(ch.isspace() and ch != " " for ch in once)


# ---- the answer parser --------------------------------------------------------------------

# Words that could themselves be read as answer evidence are kept out of the prose.
_MARKERS = {
    "answer", "answers", "choice", "choices", "verdict", "selection", "decision", "choose", "chose", "pick", "picked",
    "select", "selected", "go", "going", "opt", "vote", "settle", "option", "options", "letter", "correct", "right",
    "best", "true", "final", "boxed", "confidence", "confident", "sure", "certain", "certainty", "percent", "is",
}
_OPTIONS = ["Deeply", "Concisely", "Red", "Green", "Blue", "Yellow", "North", "South", "East", "West"]
_WORD = st.from_regex(r"[a-z]{2,9}", fullmatch=True).filter(
    lambda w: w not in _MARKERS and w not in {o.lower() for o in _OPTIONS}
)
_SENTENCE = st.lists(_WORD, min_size=1, max_size=12).map(lambda ws: " ".join(ws).capitalize() + ".")
_PROSE = st.lists(_SENTENCE, max_size=4).map(" ".join)


@settings(max_examples=250, deadline=None)
@given(
    n=st.integers(2, 10),
    data=st.data(),
    before=_PROSE,
    after=_PROSE,
    sep=st.sampled_from(["\n", "\n\n", " ", "\n\n**", "\n- "]),
    form=st.sampled_from(["Answer: {x}", "Answer: ({x})", "ANSWER: **{x}**", "answer: {x}", "Answer:{x}", "Answer: {x}."]),
)
def test_shown_letter_in_answer_form_parses_to_that_letter(n: int, data: st.DataObject, before: str, after: str,
                                                           sep: str, form: str) -> None:
    options = _OPTIONS[:n]
    k = data.draw(st.integers(0, n - 1))
    reply = f"{before}{sep}{form.format(x=LETTERS[k])}\n{after}".strip()
    got = parse_answer(reply, options)
    assert got.status is ParseStatus.OK and got.index == k, (reply, got)
