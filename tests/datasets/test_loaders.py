"""Dataset loaders: real facts about the shipped sample and the shared pool, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from debate.datasets import DatasetError, load_dataset, load_jsonl, load_quality, load_sample

SHARED = (Path(__file__).parents[2] / ".." / "shared" / "data").resolve()
POOL = SHARED / "quality_2opt_pool" / "quality_2opt_pool.jsonl"
STORIES = SHARED / "quality_nyu_debates" / "derived_stories.jsonl"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder not present")

SAMPLE_IDS = [
    "q2_0145", "q2_0146", "q2_0147",  # 30035 Off Course
    "q2_0611", "q2_0612", "q2_0617",  # 60515 Homecoming
    "q2_0678", "q2_0679", "q2_0680",  # 32665 The Anglers of Arz
    "q2_1042", "q2_1043", "q2_1044",  # 20002 The Absurdity of Family Love
]


def write(tmp_path: Path, *lines: object, name: str = "x.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def rec(**kw: object) -> dict:
    return {"question": "Who?", "options": ["Ann", "Bob"], "gold_index": 0, **kw}


# --- shipped sample ------------------------------------------------------------------------


def test_sample_has_twelve_questions_with_long_stories() -> None:
    qs = load_sample()
    assert [q.id for q in qs] == SAMPLE_IDS
    assert all(len(q.context) >= 5000 for q in qs)
    assert min(len(q.context) for q in qs) == 12664  # "The Absurdity of Family Love"
    assert {q.source["article_id"] for q in qs} == {"30035", "60515", "32665", "20002"}
    assert all(q.source["dataset"] == "quality_sample" and q.source["license"] == "CC-BY-4.0" for q in qs)
    assert all(len(q.options) == 2 and "\ufffd" not in q.question + "".join(q.options) for q in qs)


def test_sample_first_question_exact() -> None:
    q = load_sample(limit=1)[0]
    assert q.id == "q2_0145"
    assert q.title == "Off Course"
    assert q.question == "Why is Dameri's interest in horseback riding important?"
    assert q.options[q.gold_index] == (
        "It reveals how something that is mundane to one person can be astonishing to another"
    )
    assert q.source["line"] == 1


def test_sample_via_registry_and_limit() -> None:
    assert [q.id for q in load_dataset("sample", limit=3)] == SAMPLE_IDS[:3]


def test_sample_ships_attribution() -> None:
    from importlib.resources import files

    text = files("debate.datasets").joinpath("data", "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "CC-BY 4.0" in text and "Pang" in text and "Parrish" in text and "Michael" in text


# --- shared QuALITY pool -------------------------------------------------------------------


@needs_shared
def test_quality_pool_with_stories() -> None:
    qs = load_quality(POOL, STORIES)
    assert len(qs) == 1315
    first = qs[0]
    assert first.id == "q2_0000"
    assert first.title == "Monopoly"
    assert first.options == ("She was hiding from the police.", "Pete set them up on a date.")
    assert first.gold_index == 0
    assert first.source == {
        "dataset": "quality_2opt_pool", "article_id": "61499", "file": str(POOL), "line": 1, "license": "CC-BY-4.0",
    }
    assert all(q.context for q in qs)
    by_id = {q.id: q for q in qs}
    # The file has "... no longer there. " with a trailing space.
    assert by_id["q2_0611"].options[1] == "He would not have been as solemn as he was when he discovered she was no longer there."


@needs_shared
def test_quality_filters_limit_and_seed() -> None:
    assert len(load_quality(POOL, STORIES, require_story=False)) == 1526
    assert [q.id for q in load_quality(POOL, STORIES, limit=2)] == ["q2_0000", "q2_0001"]
    sample_article = load_quality(POOL, STORIES, article_ids=["30035"])
    assert [q.id for q in sample_article][:3] == ["q2_0145", "q2_0146", "q2_0147"]
    a = [q.id for q in load_quality(POOL, STORIES, seed=7, limit=5)]
    assert a == [q.id for q in load_quality(POOL, STORIES, seed=7, limit=5)]
    assert a != [q.id for q in load_quality(POOL, STORIES, limit=5)]
    assert len(load_dataset(f"quality:{POOL}", limit=3)) == 3


# --- generic JSONL: good inputs ------------------------------------------------------------


def test_jsonl_answer_letter_text_defaults_and_extras(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"question": "Q1", "options": ["a", "b", "c"], "answer": "B", "passage": "P", "topic": "t"},
        "",
        {"id": 7, "question": "Q2", "options": ["Ann ", "Bob"], "answer": "Bob", "title": "T"},
    )
    q1, q2 = load_jsonl(path)
    assert (q1.id, q1.gold_index, q1.context) == ("x-1", 1, "P")
    assert q1.source == {"topic": "t", "dataset": "jsonl", "file": str(path), "line": 1}
    assert (q2.id, q2.gold_index, q2.options, q2.title, q2.context) == ("7", 1, ("Ann", "Bob"), "T", "")
    assert q2.source["line"] == 3
    assert [q.id for q in load_dataset(str(path))] == ["x-1", "7"]


# --- generic JSONL: errors -----------------------------------------------------------------


def error(path: Path) -> str:
    with pytest.raises(DatasetError) as info:
        load_jsonl(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path))
    return msg


def test_missing_options_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, rec(), {"question": "Q", "gold_index": 0})
    msg = error(path)
    assert ":2:" in msg and "options" in msg
    assert msg == f"{path}:2: missing field 'options'"


def test_empty_file(tmp_path: Path) -> None:
    assert "empty" in error(write(tmp_path, "", "   "))


def test_invalid_json(tmp_path: Path) -> None:
    assert ":3:" in error(write(tmp_path, rec(id="a"), rec(id="b"), '{"question": "Q", '))


def test_gold_out_of_range(tmp_path: Path) -> None:
    msg = error(write(tmp_path, rec(gold_index=2)))
    assert ":1:" in msg and "gold_index" in msg and "out of range" in msg


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"options": ["a", "b"], "gold_index": 0}, "question"),
        ({"question": "Q", "options": ["a", "b"]}, "gold_index"),
        (rec(options="a, b"), "options"),
        (rec(options=["a", 2]), "options"),
        (rec(options=["only"]), "options"),  # Question's own validator, translated
        (rec(options=["a", "  "]), "options"),
        (rec(question=""), "question"),
        (rec(answer="C"), "answer"),
        (rec(gold_index=0, answer="B"), "answer"),
        (rec(gold_index=True), "gold_index"),
        (rec(context="c", story="s"), "story"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, record: dict, field: str) -> None:
    msg = error(write(tmp_path, record))
    assert ":1:" in msg and f"'{field}'" in msg


def test_duplicate_ids(tmp_path: Path) -> None:
    msg = error(write(tmp_path, rec(id="a"), rec(id="a")))
    assert ":2:" in msg and "duplicate id 'a'" in msg and "line 1" in msg


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    assert error(path) == f"{path}: no such file"
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(str(path))


def test_unknown_spec() -> None:
    with pytest.raises(DatasetError, match="unknown dataset spec") as info:
        load_dataset("mmlu")
    assert str(info.value).startswith("mmlu:")


# --- QuALITY loader on small files ---------------------------------------------------------


def pool_rec(qid: str, article: str, available: bool = True, **kw: object) -> dict:
    return {"id": qid, "article_id": article, "title": None, "question": "Q?", "options": ["x \n", "y"],
            "gold_index": 1, "story_text_available": available, **kw}


def test_quality_join_and_skip(tmp_path: Path) -> None:
    pool = write(tmp_path, pool_rec("a", "1"), pool_rec("b", "2", available=False), name="pool.jsonl")
    stories = write(tmp_path, {"article_id": "1", "title": "One", "text_approx": "Story one."}, name="s.jsonl")
    (q,) = load_quality(pool, stories)
    assert (q.id, q.context, q.title, q.options) == ("a", "Story one.", "One", ("x", "y"))
    assert [q.id for q in load_quality(pool, stories, require_story=False)] == ["a", "b"]


def test_quality_errors(tmp_path: Path) -> None:
    stories = write(tmp_path, {"article_id": "1", "title": "One", "text_approx": "S"}, name="s.jsonl")
    pool = write(tmp_path, pool_rec("a", "1"), pool_rec("b", "9"), name="pool.jsonl")
    with pytest.raises(DatasetError, match=r"pool\.jsonl:2: story for article '9'"):
        load_quality(pool, stories)
    bad = write(tmp_path, pool_rec("a", "1", options=["x"], gold_index=0), name="bad.jsonl")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:1: invalid field 'options'"):
        load_quality(bad, stories)
    with pytest.raises(DatasetError, match="no such file"):
        load_quality(tmp_path / "missing.jsonl", stories)
    with pytest.raises(DatasetError, match=r"s2\.jsonl:1: missing field 'text_approx'"):
        load_quality(pool, write(tmp_path, {"article_id": "1"}, name="s2.jsonl"))
