"""Opening databases and reading them back: real files, real SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from debate.core import (
    CallRecord,
    EpisodeStatus,
    Kind,
    ParseStatus,
    QuoteCheck,
    Role,
    Turn,
    Usage,
    Verdict,
)
from debate.storage import DatabaseWriter, StorageError, open_database, question_uid
from debate.storage.engine import APPLICATION_ID


def test_open_creates_parent_folders_and_uses_wal(db_path: Path) -> None:
    assert not db_path.parent.exists()
    db = open_database(db_path)
    try:
        assert db_path.is_file()
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        with db.write_engine.connect() as conn:
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        db.close()
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    con = sqlite3.connect(db_path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()
    assert {"runs", "questions", "passages", "episodes", "turns", "model_calls", "verdicts"} <= tables


def test_text_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(StorageError, match="is not a debate database"):
        open_database(path)
    assert path.read_text() == "these are my notes, not a database\n"  # untouched


def test_directory_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is not a debate database"):
        open_database(tmp_path)


def test_other_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="is not a debate database"):
        open_database(path)


def test_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    db = open_database(path)
    assert db.runs() == []
    db.close()


async def test_reopen_keeps_data(db_path: Path, make_question) -> None:
    db = open_database(db_path)
    async with DatabaseWriter(db) as w:
        await w.put_run("r1", "first", '{"k": 1}', "hash-1")
        uids = await w.put_questions([make_question("q1")])
    db.close()

    db2 = open_database(db_path)
    try:
        runs = db2.runs()
        assert [(r.id, r.name, r.config_json, r.config_hash) for r in runs] == [("r1", "first", '{"k": 1}', "hash-1")]
        assert db2.question(uids["q1"]) == make_question("q1")
    finally:
        db2.close()


async def test_questions_roundtrip_and_passages_are_shared(db, writer, make_question) -> None:
    q1, q2 = make_question("q1", gold=1), make_question("q2", gold=0)
    q3 = make_question("q3", context="A different passage about tides.")
    uids = await writer.put_questions([q1, q2, q3])
    assert set(uids) == {"q1", "q2", "q3"}
    assert uids["q1"].startswith("q1:") and len(uids["q1"]) == len("q1:") + 12
    assert uids["q1"] == question_uid(q1)
    assert await writer.put_questions([q1, q2, q3]) == uids  # idempotent

    assert db.question(uids["q1"]) == q1  # passage re-attached
    assert db.question(uids["q3"]) == q3
    assert db.question("nope:000000000000") is None
    assert db.passage(q1.context_hash) == q1.context
    assert db.passage("0" * 16) is None

    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM passages")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM questions")).scalar() == 3


async def test_same_id_different_content_gets_a_different_uid(writer, make_question) -> None:
    a = make_question("q1", gold=1)
    b = make_question("q1", gold=2)
    same_but_other_passage = make_question("q1", gold=1, context="Another passage.")
    assert question_uid(a) != question_uid(b)
    assert question_uid(a) == question_uid(same_but_other_passage)  # the uid ignores the passage
    uid_a = (await writer.put_questions([a]))["q1"]
    uid_b = (await writer.put_questions([b]))["q1"]
    assert uid_a != uid_b


async def test_rows_convert_back_to_core_types(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1")])
    spec = make_spec("r1", "q1")
    await writer.put_episodes([spec], uids)
    await writer.start_episode(spec.id)

    turn = Turn(
        index=0,
        round=1,
        role=Role.DEBATER_A,
        kind=Kind.SPEECH,
        text='Mara "counted ships every night for eleven years".',
        argues_for=1,
        quotes=[QuoteCheck(text="counted ships every night", verified=True), QuoteCheck(text="ten", verified=False)],
        meta={"tokens": 17},
    )
    call = CallRecord(
        model="big-expert",
        purpose="generate",
        role="debater_a",
        prompt="Argue for B.",
        reply="B is right.",
        usage=Usage(prompt_tokens=120, completion_tokens=30),
        latency_s=0.25,
        cost_usd=0.0012,
        params={"temperature": 0.0},
    )
    verdict = Verdict(
        chosen=1, probabilities=[0.1, 0.8, 0.1], raw="Answer: C", confidence=0.8, judge_model="tiny-judge", judge_kind="logprob"
    )
    await writer.add_turn("r1", spec.id, turn)
    await writer.add_call("r1", spec.id, call)
    await writer.add_call("r1", None, call.model_copy(update={"purpose": "score", "error": "timeout"}))
    await writer.add_verdict(spec.id, verdict, gold_index=1, is_final=True)

    [turn_row] = db.turns(spec.id)
    assert (turn_row.n_verified, turn_row.n_unverified) == (1, 1)
    assert turn_row.to_turn() == turn

    assert [c.to_record() for c in db.calls(episode_id=spec.id)] == [call]
    all_calls = db.calls(run_id="r1")
    assert [c.episode_id for c in all_calls] == [spec.id, None]
    assert all_calls[1].error == "timeout"

    [verdict_row] = db.verdicts(spec.id)
    assert verdict_row.to_verdict() == verdict
    assert verdict_row.correct is True and verdict_row.is_final is True


async def test_outcomes_per_episode(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1", gold=1), make_question("q2", gold=2)])
    right = make_spec("r1", "q1")
    wrong = make_spec("r1", "q2")
    garbled = make_spec("r1", "q1", protocol="consultancy", side="incorrect")
    failed = make_spec("r1", "q2", protocol="consultancy", side="incorrect")
    waiting = make_spec("r1", "q1", seed=1)
    await writer.put_episodes([right, wrong, garbled, failed, waiting], uids)

    async def judged(spec, verdict: Verdict) -> None:
        await writer.start_episode(spec.id)
        gold = 1 if spec.question_id == "q1" else 2
        await writer.add_verdict(spec.id, verdict, gold, is_final=True)
        await writer.finish_episode(spec.id, EpisodeStatus.COMPLETE, verdict=verdict, gold_index=gold)

    await judged(right, Verdict(chosen=1, judge_model="tiny-judge"))
    await judged(wrong, Verdict(chosen=0, judge_model="tiny-judge"))
    await judged(garbled, Verdict(chosen=None, raw="hmm", status=ParseStatus.UNPARSEABLE, judge_model="tiny-judge"))
    await writer.start_episode(failed.id)
    await writer.finish_episode(failed.id, EpisodeStatus.ERROR, error="RuntimeError: backend down")

    outcomes = {o.episode_id: o for o in db.outcomes("r1")}
    assert len(outcomes) == 5
    summary = {
        eid: (o.variant, o.status, o.parse_status, o.chosen, o.correct, o.gold_index) for eid, o in outcomes.items()
    }
    assert summary == {
        right.id: ("debate", EpisodeStatus.COMPLETE, ParseStatus.OK, 1, True, 1),
        wrong.id: ("debate", EpisodeStatus.COMPLETE, ParseStatus.OK, 0, False, 2),
        garbled.id: ("consultancy[incorrect]", EpisodeStatus.COMPLETE, ParseStatus.UNPARSEABLE, None, False, 1),
        failed.id: ("consultancy[incorrect]", EpisodeStatus.ERROR, None, None, None, 2),
        waiting.id: ("debate", EpisodeStatus.PENDING, None, None, None, 1),
    }
    for o in outcomes.values():
        assert o.run_id == "r1"
        assert o.judge_model == "tiny-judge"  # from the verdict, or the judge role when there is none
        assert o.expert_models == "debater_a=big-expert,debater_b=big-expert"
        assert o.order_json == "[2, 0, 1]"
    assert [o.episode_id for o in db.outcomes("r1")] == [right.id, wrong.id, garbled.id, failed.id, waiting.id]

    # The episode row carries the decision too, and the error text.
    rows = {e.id: e for e in db.episodes("r1")}
    assert (rows[garbled.id].correct, rows[garbled.id].parse_status) == (False, "unparseable")
    assert rows[failed.id].error == "RuntimeError: backend down"
    assert rows[failed.id].finished_at is not None


async def test_status_filters_and_counts(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    await writer.put_run("r2", "other", "{}", "h2")
    uids = await writer.put_questions([make_question("q1")])
    a, b, c = (make_spec("r1", "q1", seed=s) for s in range(3))
    other = make_spec("r2", "q1")
    await writer.put_episodes([a, b, c, other], uids)
    await writer.start_episode(a.id)
    await writer.add_turn("r1", a.id, Turn(index=0, round=0, role=Role.DEBATER_A, kind=Kind.SPEECH, text="x"))
    await writer.add_turn("r1", a.id, Turn(index=1, round=0, role=Role.DEBATER_B, kind=Kind.SPEECH, text="y"))
    await writer.add_call("r1", a.id, CallRecord(model="m", purpose="generate", role="debater_a", prompt="p", reply="x",
                                                 usage=Usage(prompt_tokens=100, completion_tokens=10), cost_usd=0.5))
    await writer.add_call("r1", None, CallRecord(model="m", purpose="score", role="judge", prompt="p", reply="",
                                                 usage=Usage(prompt_tokens=50, completion_tokens=0), cost_usd=0.25))
    await writer.add_call("r2", None, CallRecord(model="m", purpose="score", role="judge", prompt="p", reply="",
                                                 usage=Usage(prompt_tokens=999)))
    verdict = Verdict(chosen=1, judge_model="tiny-judge")
    await writer.add_verdict(a.id, verdict, 1, is_final=True)
    await writer.finish_episode(a.id, EpisodeStatus.COMPLETE, verdict=verdict)
    await writer.start_episode(b.id)
    await writer.set_run_status("r1", "running")

    assert db.run("r1").status == "running"
    assert db.run("missing") is None
    assert db.episode_status("r1") == {a.id: EpisodeStatus.COMPLETE, b.id: EpisodeStatus.RUNNING, c.id: EpisodeStatus.PENDING}
    assert [e.id for e in db.episodes("r1", EpisodeStatus.PENDING)] == [c.id]
    assert [e.id for e in db.episodes(status=EpisodeStatus.PENDING)] == [c.id, other.id]
    assert len(db.episodes()) == 4
    assert db.counts("r1") == {
        "episodes": {"pending": 1, "running": 1, "complete": 1, "error": 0},
        "episodes_total": 3,
        "turns": 2,
        "calls": 2,
        "verdicts": 1,
        "prompt_tokens": 150,
        "completion_tokens": 10,
        "total_tokens": 160,
        "cost_usd": 0.75,
    }
    assert db.counts("nothing")["episodes_total"] == 0
    assert len(db.outcomes()) == 4


def test_schema_v1_database_is_upgraded_in_place(tmp_path):
    """A file written before turns had ``argues_for_letter`` opens, keeps its rows, gains the column."""
    import sqlite3

    from debate.storage import open_database

    path = tmp_path / "old.sqlite"
    open_database(path).close()
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE turns DROP COLUMN argues_for_letter")
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    open_database(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone() == (2,)
    assert "argues_for_letter" in [r[1] for r in con.execute("PRAGMA table_info(turns)")]
