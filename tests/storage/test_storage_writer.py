"""The single writer: idempotence, resume, concurrency, error propagation, durability."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from debate.core import CallRecord, EpisodeStatus, Kind, ParseStatus, Role, Turn, Verdict
from debate.storage import ConfigMismatchError, Database, DatabaseWriter, StorageError, open_database


def speech(i: int, text: str = "An argument.") -> Turn:
    return Turn(index=i, round=i // 2, role=Role.DEBATER_A if i % 2 == 0 else Role.DEBATER_B, kind=Kind.SPEECH, text=text)


def row_count(path: Path, table: str) -> int:
    """Count through a separate plain sqlite3 connection: what another process would see."""
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


async def test_put_run_resumes_same_hash_and_refuses_another(db: Database, writer: DatabaseWriter) -> None:
    await writer.put_run("r1", "baseline", '{"judge": "a"}', "aaaa1111")
    await writer.put_run("r1", "baseline", '{"judge": "a"}', "aaaa1111")  # resume: no-op
    assert len(db.runs()) == 1

    with pytest.raises(ConfigMismatchError) as info:
        await writer.put_run("r1", "baseline", '{"judge": "b"}', "bbbb2222")
    assert "aaaa1111" in str(info.value) and "bbbb2222" in str(info.value)
    assert (info.value.stored_hash, info.value.new_hash) == ("aaaa1111", "bbbb2222")
    assert isinstance(info.value, StorageError)

    # The writer survives the error, and the stored run is unchanged.
    await writer.put_run("r2", "other", "{}", "cccc")
    assert {(r.id, r.config_hash) for r in db.runs()} == {("r1", "aaaa1111"), ("r2", "cccc")}


async def test_put_episodes_twice_does_not_duplicate(db, writer, db_path, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1"), make_question("q2")])
    specs = [make_spec("r1", q, seed=s) for q in ("q1", "q2") for s in range(3)]
    assert await writer.put_episodes(specs, uids) == 6

    await writer.start_episode(specs[0].id)  # progress must survive a re-put
    assert await writer.put_episodes(specs + [make_spec("r1", "q1", seed=9)], uids) == 1
    assert row_count(db_path, "episodes") == 7
    statuses = db.episode_status("r1")
    assert statuses[specs[0].id] is EpisodeStatus.RUNNING
    assert sum(s is EpisodeStatus.PENDING for s in statuses.values()) == 6
    ep = db.episode(specs[0].id)
    assert (ep.question_uid, ep.protocol, ep.variant, ep.seed, ep.roles["judge"], ep.order) == (
        uids["q1"], "debate", "debate", 0, "tiny-judge", (2, 0, 1)
    )


async def test_put_episodes_needs_question_uids(writer, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    with pytest.raises(StorageError, match="put_questions first"):
        await writer.put_episodes([make_spec("r1", "q1")], {})


async def test_start_episode_clears_a_partial_attempt(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1")])
    spec, neighbour = make_spec("r1", "q1", seed=0), make_spec("r1", "q1", seed=1)
    await writer.put_episodes([spec, neighbour], uids)
    call = CallRecord(model="m", purpose="generate", role="debater_a", prompt="p", reply="r")

    assert await writer.start_episode(spec.id) == 1
    for i in range(3):
        await writer.add_turn("r1", spec.id, speech(i, "attempt one"))
    await writer.add_call("r1", spec.id, call)
    await writer.add_verdict(spec.id, Verdict(chosen=1), gold_index=1, is_final=False)
    await writer.start_episode(neighbour.id)
    await writer.add_turn("r1", neighbour.id, speech(0, "neighbour"))
    await writer.add_call("r1", None, call)  # run-level call: not the episode's
    # ... the process dies here; a resumed run starts the episode again:

    assert await writer.start_episode(spec.id) == 2
    assert db.turns(spec.id) == []
    assert db.calls(episode_id=spec.id) == []
    assert db.verdicts(spec.id) == []
    ep = db.episode(spec.id)
    assert (ep.status, ep.attempt) == ("running", 2)
    assert ep.started_at is not None and ep.finished_at is None
    assert [t.text for t in db.turns(neighbour.id)] == ["neighbour"]  # others untouched
    assert len(db.calls(run_id="r1")) == 1

    await writer.add_turn("r1", spec.id, speech(0, "attempt two"))
    assert [t.text for t in db.turns(spec.id)] == ["attempt two"]


async def test_start_episode_refuses_complete_unless_redo(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1")])
    spec = make_spec("r1", "q1")
    await writer.put_episodes([spec], uids)
    await writer.start_episode(spec.id)
    verdict = Verdict(chosen=1, judge_model="tiny-judge")
    await writer.finish_episode(spec.id, EpisodeStatus.COMPLETE, verdict=verdict)

    with pytest.raises(StorageError, match="already complete"):
        await writer.start_episode(spec.id)
    assert db.episode(spec.id).status == "complete"
    assert await writer.start_episode(spec.id, redo=True) == 2
    ep = db.episode(spec.id)
    assert (ep.status, ep.chosen, ep.correct) == ("running", None, None)

    with pytest.raises(StorageError, match="no episode"):
        await writer.start_episode("does-not-exist")


async def test_64_concurrent_episodes_write_through_one_writer(db, writer, db_path, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1")])
    specs = [make_spec("r1", "q1", seed=s) for s in range(64)]
    await writer.put_episodes(specs, uids)
    turns_each = 3

    async def episode(spec) -> None:
        await writer.start_episode(spec.id)
        for i in range(turns_each):
            await writer.add_turn("r1", spec.id, speech(i, f"{spec.seed}-{i}"))
            await asyncio.sleep(0)  # interleave with the other 63
        await writer.add_call("r1", spec.id, CallRecord(model="m", purpose="generate", role="r", prompt="p", reply="r"))
        verdict = Verdict(chosen=spec.seed % 3, judge_model="tiny-judge")
        await writer.add_verdict(spec.id, verdict, 1, is_final=True)
        await writer.finish_episode(spec.id, EpisodeStatus.COMPLETE, verdict=verdict, gold_index=1)

    results = await asyncio.gather(*(episode(s) for s in specs), return_exceptions=True)
    assert [r for r in results if r is not None] == []  # no "database is locked", nothing else either

    assert row_count(db_path, "turns") == 64 * turns_each
    assert row_count(db_path, "model_calls") == 64
    assert row_count(db_path, "verdicts") == 64
    for spec in specs:
        assert [t.text for t in db.turns(spec.id)] == [f"{spec.seed}-{i}" for i in range(turns_each)]
    outcomes = db.outcomes("r1")
    assert all(o.status is EpisodeStatus.COMPLETE for o in outcomes)
    assert sum(o.correct for o in outcomes) == sum(1 for s in range(64) if s % 3 == 1)  # 21


async def test_sql_runs_off_the_event_loop_thread(db, writer) -> None:
    seen: list[str] = []
    loop_thread = threading.current_thread().name

    def op(session) -> int:
        seen.append(threading.current_thread().name)
        return session.exec(text("SELECT 41 + 1")).one()[0]

    assert await writer._submit(op) == 42
    assert seen and seen[0] != loop_thread and seen[0].startswith("debate-db-writer")


async def test_errors_reach_the_caller_and_the_writer_keeps_going(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1")])
    spec = make_spec("r1", "q1")
    await writer.put_episodes([spec], uids)

    with pytest.raises(StorageError, match="no episode"):
        await writer.add_turn("r1", "ghost", speech(0))
    with pytest.raises(StorageError, match="belongs to run"):
        await writer.add_turn("r2", spec.id, speech(0))
    with pytest.raises(Exception, match="FOREIGN KEY"):  # run must exist
        await writer.add_call("no-such-run", None, CallRecord(model="m", purpose="g", role="r", prompt="p", reply="r"))
    with pytest.raises(StorageError, match="no run"):
        await writer.set_run_status("no-such-run", "done")

    def boom(session) -> None:
        raise ZeroDivisionError("inside the writer")

    with pytest.raises(ZeroDivisionError, match="inside the writer"):
        await writer._submit(boom)

    assert writer.running
    await writer.add_turn("r1", spec.id, speech(0))
    assert len(db.turns(spec.id)) == 1
    assert db.calls(run_id="no-such-run") == []


async def test_each_write_is_committed_before_the_caller_resumes(db, writer, db_path, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1")])
    spec = make_spec("r1", "q1")
    await writer.put_episodes([spec], uids)
    await writer.start_episode(spec.id)
    for i in range(3):
        await writer.add_turn("r1", spec.id, speech(i))
        assert row_count(db_path, "turns") == i + 1  # visible to another connection at once


async def test_close_flushes_queued_writes(db: Database, db_path: Path, make_question, make_spec) -> None:
    w = DatabaseWriter(db)
    await w.start()
    await w.put_run("r1", "run", "{}", "h")
    uids = await w.put_questions([make_question("q1")])
    spec = make_spec("r1", "q1")
    await w.put_episodes([spec], uids)
    await w.start_episode(spec.id)
    tasks = [asyncio.create_task(w.add_turn("r1", spec.id, speech(i))) for i in range(20)]
    await asyncio.sleep(0)  # let them enqueue; most are still waiting on the writer
    await w.close()
    assert all(t.done() and t.exception() is None for t in tasks)
    assert row_count(db_path, "turns") == 20

    await w.close()  # twice is fine
    with pytest.raises(StorageError, match="closed"):
        await w.add_turn("r1", spec.id, speech(99))


async def test_finish_episode_scores_the_verdict(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1", gold=2)])
    right, garbled, unnamed = (make_spec("r1", "q1", seed=s) for s in range(3))
    await writer.put_episodes([right, garbled, unnamed], uids)
    for spec in (right, garbled, unnamed):
        await writer.start_episode(spec.id)

    # gold_index omitted: taken from the stored question (2)
    await writer.finish_episode(right.id, EpisodeStatus.COMPLETE, verdict=Verdict(chosen=2, judge_model="j-1"))
    # an unparseable verdict is wrong even if ``chosen`` happens to equal gold
    bad = Verdict(chosen=2, status=ParseStatus.AMBIGUOUS, raw="A or C", judge_model="j-1")
    await writer.finish_episode(garbled.id, EpisodeStatus.COMPLETE, verdict=bad, gold_index=2)
    # a verdict without judge_model falls back to the judge role's model
    await writer.finish_episode(unnamed.id, EpisodeStatus.COMPLETE, verdict=Verdict(chosen=0), gold_index=2)

    rows = {e.id: e for e in db.episodes("r1")}
    assert (rows[right.id].chosen, rows[right.id].correct, rows[right.id].parse_status, rows[right.id].judge_model) == (
        2, True, "ok", "j-1"
    )
    assert (rows[garbled.id].correct, rows[garbled.id].parse_status) == (False, "ambiguous")
    assert (rows[unnamed.id].correct, rows[unnamed.id].judge_model) == (False, "tiny-judge")


async def test_a_new_final_verdict_demotes_the_old_one(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1", gold=1)])
    spec = make_spec("r1", "q1")
    await writer.put_episodes([spec], uids)
    await writer.start_episode(spec.id)
    await writer.add_verdict(spec.id, Verdict(chosen=0, judge_model="j"), 1, is_final=False)  # after round 1
    await writer.add_verdict(spec.id, Verdict(chosen=0, judge_model="j"), 1, is_final=True)
    await writer.add_verdict(spec.id, Verdict(chosen=1, judge_model="j2"), 1, is_final=True)  # re-judged
    assert [(v.chosen, v.correct, v.is_final) for v in db.verdicts(spec.id)] == [
        (0, False, False),
        (0, False, False),
        (1, True, True),
    ]
    [outcome] = db.outcomes("r1")
    assert (outcome.chosen, outcome.correct, outcome.judge_model) == (1, True, "j2")


async def test_cancelled_caller_does_not_break_the_writer(db, writer, make_question, make_spec) -> None:
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1")])
    spec = make_spec("r1", "q1")
    await writer.put_episodes([spec], uids)
    await writer.start_episode(spec.id)
    task = asyncio.create_task(writer.add_turn("r1", spec.id, speech(0)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await writer.add_turn("r1", spec.id, speech(1))
    assert [t.idx for t in db.turns(spec.id)][-1] == 1
    assert writer.running


async def test_two_writers_on_one_file_wait_for_each_other(db_path, make_question, make_spec) -> None:
    """Two runs writing the same file (two processes, in practice) queue on the lock, not fail."""
    db1, db2 = open_database(db_path), open_database(db_path)
    try:
        async with DatabaseWriter(db1) as w1, DatabaseWriter(db2) as w2:
            await w1.put_run("r1", "one", "{}", "h1")
            await w2.put_run("r2", "two", "{}", "h2")
            uids = await w1.put_questions([make_question("q1")])
            assert await w2.put_questions([make_question("q1")]) == uids
            s1, s2 = make_spec("r1", "q1"), make_spec("r2", "q1")
            await w1.put_episodes([s1], uids)
            await w2.put_episodes([s2], uids)
            await w1.start_episode(s1.id)
            await w2.start_episode(s2.id)

            async def write(w: DatabaseWriter, run_id: str, episode_id: str) -> None:
                for i in range(40):
                    await w.add_turn(run_id, episode_id, speech(i))

            await asyncio.gather(write(w1, "r1", s1.id), write(w2, "r2", s2.id))
        assert len(db1.turns(s1.id)) == 40 and len(db1.turns(s2.id)) == 40
    finally:
        db1.close()
        db2.close()


async def test_a_group_inserts_its_rows_together_and_a_bad_row_fails_alone(db, writer, make_question, make_spec) -> None:
    """Turns and calls queued together go in as one multi-row insert per table, in queue order;
    a turn for another run's episode or for no episode fails on its own, the rest are stored."""
    await writer.put_run("r1", "run", "{}", "h")
    uids = await writer.put_questions([make_question("q1")])
    a, b = make_spec("r1", "q1", seed=1), make_spec("r1", "q1", seed=2)
    await writer.put_episodes([a, b], uids)
    await writer.start_episode(a.id)
    await writer.start_episode(b.id)
    groups: list[int] = []
    real = writer._transact_group
    writer._transact_group = lambda items: (groups.append(len(items)), real(items))[1]  # type: ignore[method-assign]
    call = CallRecord(model="m", purpose="generate", role="r", prompt="p", reply="r")
    got = await asyncio.gather(
        writer.add_turn("r1", a.id, speech(0, "a0")), writer.add_call("r1", a.id, call), writer.add_turn("r1", b.id, speech(0, "b0")),
        writer.add_turn("r2", a.id, speech(1, "wrong run")), writer.add_turn("r1", "ghost", speech(0, "no episode")),
        writer.add_turn("r1", a.id, speech(1, "a1")), writer.add_call("r1", b.id, call.model_copy(update={"reply": "rb"})),
        return_exceptions=True,
    )
    assert groups[0] == 7  # all seven queued together, then redone one by one because two failed
    assert isinstance(got[3], StorageError) and "belongs to run 'r1', not 'r2'" in str(got[3])
    assert isinstance(got[4], StorageError) and "no episode 'ghost'" in str(got[4])
    assert [t.text for t in db.turns(a.id)] == ["a0", "a1"] and [t.text for t in db.turns(b.id)] == ["b0"]
    turn_ids, call_ids = [got[0], got[2], got[5]], [got[1], got[6]]
    assert all(isinstance(i, int) for i in turn_ids + call_ids) and turn_ids == sorted(turn_ids) and call_ids == sorted(call_ids)
    assert [c.reply for c in db.calls(run_id="r1")] == ["r", "rb"]

    groups.clear()  # a group with nothing wrong is one transaction: its ids come back in queue order
    ids = await asyncio.gather(*(writer.add_turn("r1", b.id, speech(i, f"b{i}")) for i in range(1, 6)))
    assert groups == [5] and ids == sorted(ids) and len(set(ids)) == 5
    assert [t.text for t in db.turns(b.id)] == [f"b{i}" for i in range(6)]
