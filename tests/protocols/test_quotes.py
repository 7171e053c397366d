from debate.protocols.quotes import normalise, verify_quotes

PASSAGE = "\u201cWell,\u201d said Pa, \u201cwe\u2019ll need   more air.\u201d\nThe fire burned low."


def test_normalise_folds_case_quotes_punctuation_and_space():
    assert normalise("  \u201cWe\u2019ll NEED,\n more air!\u201d ") == "we ll need more air"


def test_verified_despite_case_curly_quotes_and_whitespace():
    checks = verify_quotes('He said <quote>"we\'ll need more AIR."</quote>', PASSAGE)
    assert [(c.text, c.verified) for c in checks] == [('"we\'ll need more AIR."', True)]


def test_paraphrase_and_partial_words_are_unverified():
    checks = verify_quotes("<quote>we will need more air</quote> and <quote>fire burn</quote>", PASSAGE)
    assert [c.verified for c in checks] == [False, False]


def test_empty_quote_is_never_verified_and_order_is_kept():
    checks = verify_quotes("<quote>  </quote><quote>The fire burned low</quote>", PASSAGE)
    assert [c.verified for c in checks] == [False, True]


def test_no_quotes():
    assert verify_quotes("no quotes here", PASSAGE) == []


def test_unclosed_quote_is_closed_and_checked():
    from debate.protocols.quotes import close_quotes

    text = close_quotes("It says <quote>The fire burned")
    assert text == "It says <quote>The fire burned</quote>"
    assert [c.verified for c in verify_quotes(text, PASSAGE)] == [True]
    assert close_quotes("<quote>a</quote>") == "<quote>a</quote>"
