"""Exports on real SQLite files: JSONL round trip into an empty database, CSV and Parquet exact,
fixed types across batches, dataframes, credential scrub, the CLI.

The data comes from real (scripted-model) runs whose replies mix newlines, quotes, commas,
tabs, emoji, rich markup and scripts from around the world. Expected values are read straight
from the SQLite file with ``sqlite3``, independently of the code under test.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import sqlite3
import sys
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from debate.cli.export_cmd import register
from debate.config import ProtocolSpec, RunConfig
from debate.core import CallRecord, EpisodeSpec, EpisodeStatus, Kind, Question, Role, RoleAssignment, Turn, Verdict
from debate.experts.scripted import ScriptedBackend
from debate.export import (
    SCHEMAS,
    ExportError,
    calls_df,
    episodes_df,
    export_all,
    export_table,
    import_jsonl,
    jsonl_files,
    pandas_dtypes,
    passages_df,
    questions_df,
    runs_df,
    scrub_json_text,
    turns_df,
    verdicts_df,
)
from debate.export.schema import BOOL, FLOAT, TIME
from debate.orchestrator import run_experiment
from debate.storage import DatabaseWriter, StorageError, open_database
from debate.storage import bulk
from tests.helpers import prefers, question

WEIRD = (
    'Line one\nline two, with "double quotes", commas, and a\ttab.\r\nA CRLF above; '
    "emoji 🦜🏳️‍🌈👩🏽‍🔬, [bold]not markup[/bold] [red]x[/], café Ω ≈ ∑ 你好 עברית العربية हिन्दी, "
    "zero\u200bwidth, line\u2028separator, nel\x85, back\\slash, 'single', \"\"doubled\"\", ,leading comma"
    "\n\n  trailing spaces and newline  \n"
)
TABLES = list(bulk.TABLES)  # FK order


# -- data ---------------------------------------------------------------------------------------


def _expert_reply(req) -> str:
    return f"{WEIRD} ({req.role}) <quote>counted the ships that passed</quote>"


def _build(path: Path) -> None:
    n = {"calls": 0}

    def flaky(req):
        n["calls"] += 1
        if n["calls"] == 5:
            raise RuntimeError(f"model fell over: {WEIRD}")
        return _expert_reply(req)

    main = RunConfig(
        name="weird", db=str(path), expert="expert", judge="judge", speech_tokens=8, max_in_flight=1,
        protocols=[
            ProtocolSpec(name="direct_blind"),
            ProtocolSpec(name="consultancy", params={"rounds": 2, "interactive": True}),
            ProtocolSpec(name="debate", params={"rounds": 2}),
        ],
    )
    judge = ScriptedBackend(name="judge", replies={"*": f"Judge asks: {WEIRD}?"}, scorer=prefers("A"))
    qs = [question("q1", gold=0), question("q2", gold=1)]
    asyncio.run(run_experiment(main, questions=qs, backends={"expert": ScriptedBackend(name="expert", replies={"*": flaky}), "judge": judge}))
    other = RunConfig(
        name="other", db=str(path), expert="expert", judge="judge", judge_kind="generative", speech_tokens=8,
        protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="debate", params={"rounds": 1})],
    )
    gjudge = ScriptedBackend(name="gjudge", replies={"*": [f"{WEIRD}\nAnswer: B", "no idea, sorry"]})
    expert = ScriptedBackend(name="expert", replies={"*": _expert_reply})
    asyncio.run(run_experiment(other, questions=[question("q3", gold=1)], backends={"expert": expert, "judge": gjudge}))


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "exp.sqlite"
    _build(path)
    return path


def raw(path: Path, table: str, where: str = "", params: tuple = ()) -> list[tuple]:
    """Rows exactly as SQLite holds them, in insertion order."""
    con = sqlite3.connect(path)
    try:
        return con.execute(f"select * from {bulk.TABLES[table].name} {where} order by rowid", params).fetchall()
    finally:
        con.close()


def expected(path: Path, table: str, where: str = "", params: tuple = ()) -> list[dict]:
    """Rows as typed values, decoded from the raw SQLite values by the declared schema."""
    out = []
    for r in raw(path, table, where, params):
        row = {}
        for f, v in zip(SCHEMAS[table], r):
            if v is not None and f.type == TIME:
                v = datetime.fromisoformat(v).replace(tzinfo=timezone.utc)
            elif v is not None and f.type == BOOL:
                v = bool(v)
            elif v is not None and f.type == FLOAT:
                v = float(v)
            row[f.name] = v
        out.append(row)
    return out


RUN_WHERE = {
    "runs": "where id = ?",
    "episodes": "where run_id = ?",
    "calls": "where run_id = ?",
    "turns": "where episode_id in (select id from episodes where run_id = ?)",
    "verdicts": "where episode_id in (select id from episodes where run_id = ?)",
    "questions": "where uid in (select question_uid from episodes where run_id = ?)",
    "passages": "where hash in (select passage_hash from questions where uid in "
    "(select question_uid from episodes where run_id = ?))",
}


def test_the_fixture_has_the_awkward_cases(src):
    counts = {t: len(raw(src, t)) for t in TABLES}
    assert all(counts.values()), counts
    texts = [r[6] for r in raw(src, "turns")]
    assert any("🦜" in t and "\r\n" in t and '"' in t and "\t" in t and "[bold]" in t for t in texts)
    assert any(r[10] is not None for r in raw(src, "episodes")), "an error episode"
    assert any(r[14] is None for r in raw(src, "episodes")), "an episode with no choice"
    assert len(raw(src, "runs")) == 2


def test_declared_schemas_match_the_sql_tables():
    for t in TABLES:
        sql = bulk.TABLES[t]
        assert SCHEMAS[t].names == list(bulk.columns(t)) == [c.name for c in sql.columns]
        for f in SCHEMAS[t]:
            c = sql.columns[f.name]
            assert f.nullable == (c.nullable and not c.primary_key), (t, f.name)
        assert list(pandas_dtypes(t)) == SCHEMAS[t].names


# -- storage.bulk -------------------------------------------------------------------------------


def test_iter_rows_streams_in_batches_and_filters_by_run(src):
    db = open_database(src)
    try:
        for t in TABLES:
            batches = list(bulk.iter_rows(db, t, batch_size=3))
            assert all(1 <= len(b) <= 3 for b in batches)
            rows = [r for b in batches for r in b]
            assert rows == expected(src, t)
            assert all(list(r) == list(bulk.columns(t)) for r in rows)
            for run in ("weird", "other"):
                got = [r for b in bulk.iter_rows(db, t, run_id=run) for r in b]
                assert got == expected(src, t, RUN_WHERE[t], (run,)), (t, run)
        assert [r for b in bulk.iter_rows(db, "model_calls") for r in b] == expected(src, "calls")
        with pytest.raises(StorageError, match="unknown table 'nope'"):
            bulk.iter_rows(db, "nope")
        with pytest.raises(StorageError, match="no run 'ghost'.*'weird'"):
            bulk.iter_rows(db, "turns", run_id="ghost")
        with bulk.snapshot(db) as snap:
            assert [r for b in snap.iter_rows("verdicts", run_id="other") for r in b] == expected(
                src, "verdicts", RUN_WHERE["verdicts"], ("other",)
            )
    finally:
        db.close()


def test_snapshot_sees_one_moment_while_another_connection_writes(src, tmp_path):
    path = tmp_path / "snap.sqlite"
    path.write_bytes(src.read_bytes())
    db = open_database(path)
    try:
        with bulk.snapshot(db) as snap:
            before = [r for b in snap.iter_rows("runs") for r in b]
            with sqlite3.connect(path) as con:
                con.execute("insert into runs values ('late', 'late', '2030-01-01 00:00:00.000000', '{}', 'h', 'created')")
            assert [r for b in snap.iter_rows("runs") for r in b] == before
            assert [r for b in snap.iter_rows("episodes", run_id="weird") for r in b] == expected(
                src, "episodes", RUN_WHERE["episodes"], ("weird",)
            )
        assert len([r for b in bulk.iter_rows(db, "runs") for r in b]) == len(before) + 1
    finally:
        db.close()


def test_load_rows_refuses_a_non_empty_table_and_bad_rows(src, tmp_path):
    db = open_database(src)
    try:
        runs = [r for b in bulk.iter_rows(db, "runs") for r in b]
    finally:
        db.close()
    with pytest.raises(StorageError, match="table 'runs' already has rows"):
        bulk.load_rows(src, "runs", runs)
    assert len(raw(src, "runs")) == 2

    target = tmp_path / "new.sqlite"
    with pytest.raises(StorageError, match=r"runs row 1: missing columns \['status'\], unknown columns \['colour'\]"):
        bulk.load_rows(target, "runs", [{**{k: v for k, v in runs[0].items() if k != "status"}, "colour": "red"}])
    with pytest.raises(StorageError, match="runs row 2, column 'created_at'"):
        bulk.load_rows(target, "runs", [runs[0], {**runs[1], "created_at": "yesterday"}])
    assert raw(target, "runs") == []  # one transaction: nothing of a failed load stays
    with pytest.raises(StorageError, match="cannot load episodes.*FOREIGN KEY"):
        bulk.load_rows(target, "episodes", [r for b in open_and(src, "episodes") for r in b])
    assert bulk.load_rows(target, "runs", runs) == 2
    assert raw(target, "runs") == raw(src, "runs")


def open_and(path: Path, table: str) -> list[list[dict]]:
    db = open_database(path)
    try:
        return list(bulk.iter_rows(db, table))
    finally:
        db.close()


# -- JSONL --------------------------------------------------------------------------------------


def test_jsonl_export_then_import_rebuilds_every_table_exactly(src, tmp_path):
    counts = export_all(src, "jsonl", tmp_path / "out")
    assert counts == {t: len(raw(src, t)) for t in TABLES}
    for t in TABLES:
        text = (tmp_path / "out" / f"{t}.jsonl").read_bytes().decode("utf-8")
        lines = text.split("\n")
        assert lines[-1] == "" and len(lines) - 1 == counts[t]
        assert all(list(json.loads(line)) == SCHEMAS[t].names for line in lines[:-1])
    assert "🦜" in (tmp_path / "out" / "turns.jsonl").read_text(encoding="utf-8")  # ensure_ascii=False

    rebuilt = tmp_path / "rebuilt.sqlite"
    assert import_jsonl(rebuilt, jsonl_files(tmp_path / "out")) == counts
    for t in TABLES:
        assert raw(rebuilt, t) == raw(src, t), t  # every column, byte for byte, in the same order
    con = sqlite3.connect(rebuilt)
    assert con.execute("pragma foreign_key_check").fetchall() == []
    con.close()
    # and the rebuilt database is a working debate database
    db = open_database(rebuilt)
    try:
        assert [o.model_dump() for o in db.outcomes()] == [o.model_dump() for o in open_outcomes(src)]
    finally:
        db.close()


def open_outcomes(path):
    db = open_database(path)
    try:
        return db.outcomes()
    finally:
        db.close()


def test_jsonl_of_one_run_imports_on_its_own(src, tmp_path):
    counts = export_all(src, "jsonl", tmp_path / "one", run_id="other")
    assert counts == {t: len(raw(src, t, RUN_WHERE[t], ("other",))) for t in TABLES}
    rebuilt = tmp_path / "one.sqlite"
    import_jsonl(rebuilt, jsonl_files(tmp_path / "one"))
    for t in TABLES:
        assert raw(rebuilt, t) == raw(src, t, RUN_WHERE[t], ("other",))


def test_failed_import_leaves_no_database(src, tmp_path):
    export_all(src, "jsonl", tmp_path / "out")
    files = jsonl_files(tmp_path / "out")
    target = tmp_path / "new.sqlite"
    with pytest.raises(StorageError, match="FOREIGN KEY"):
        import_jsonl(target, {"turns": files["turns"]})  # no episodes to point at
    assert not target.exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(files["runs"].read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    with pytest.raises(ExportError, match=r"bad.jsonl:3: not valid JSON"):
        import_jsonl(target, {"runs": bad})
    assert not target.exists()


# -- CSV ----------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[list[str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def csv_cell(v) -> str:
    """How a typed value is written to CSV (documented in debate.export.files)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.isoformat(timespec="microseconds")
    return repr(v) if isinstance(v, float) else str(v)


def test_csv_turn_text_round_trips_exactly(src, tmp_path):
    out = tmp_path / "turns.csv"
    assert export_table(src, "turns", "csv", out) == len(raw(src, "turns"))
    rows = read_csv(out)
    assert rows[0] == SCHEMAS["turns"].names
    db_text = [r[6] for r in raw(src, "turns")]
    assert [r[6] for r in rows[1:]] == db_text
    assert any(WEIRD in t for t in db_text)
    # pandas reads it back the same (text read as text, empty not turned into NaN)
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert df["text"].tolist() == db_text
    assert df["episode_id"].tolist() == [r[1] for r in raw(src, "turns")]


def test_csv_of_every_table_holds_every_value(src, tmp_path):
    for t in TABLES:
        out = tmp_path / f"{t}.csv"
        export_table(src, t, "csv", out)
        rows = read_csv(out)
        assert rows[0] == SCHEMAS[t].names
        assert rows[1:] == [[csv_cell(v) for v in r.values()] for r in expected(src, t)], t
        for r in rows[1:]:  # floats and times parse back to the same values
            for f, cell in zip(SCHEMAS[t], r):
                if cell and f.type == FLOAT:
                    assert math.isfinite(float(cell))
                if cell and f.type == TIME:
                    assert datetime.fromisoformat(cell).tzinfo is not None


# -- Parquet ------------------------------------------------------------------------------------


def test_parquet_schema_and_values_equal_the_database(src, tmp_path):
    for t in TABLES:
        out = tmp_path / f"{t}.parquet"
        assert export_table(src, t, "parquet", out) == len(raw(src, t))
        assert pq.read_schema(out).equals(SCHEMAS[t], check_metadata=True), t
        table = pq.read_table(out)
        assert table.schema.equals(SCHEMAS[t])
        assert table.to_pylist() == expected(src, t), t


def test_parquet_types_are_stable_across_batches_with_all_null_columns(tmp_path):
    path = tmp_path / "tiny.sqlite"
    asyncio.run(_tiny(path, n_pending=2, n_done=2, n_error=1))
    out = tmp_path / "episodes.parquet"
    assert export_table(path, "episodes", "parquet", out, batch_size=2) == 5
    f = pq.ParquetFile(out)
    assert f.metadata.num_row_groups == 3
    groups = [f.read_row_group(i) for i in range(3)]
    for col in ("chosen", "correct", "error", "started_at", "finished_at", "judge_model", "parse_status"):
        assert groups[0].column(col).null_count == 2, col  # the first batch: nothing but nulls
        assert any(g.column(col).null_count < g.num_rows for g in groups[1:]), col
    for i in range(3):
        assert f.read_row_group(i).schema.equals(SCHEMAS["episodes"]), i
    whole = pq.read_table(out)
    assert whole.schema.field("chosen").type == pa.int64()
    assert whole.column("chosen").to_pylist()[:2] == [None, None]
    assert whole.to_pylist() == expected(path, "episodes")
    # and the verdicts: confidence is null in every row, still float64
    export_table(path, "verdicts", "parquet", tmp_path / "v.parquet", batch_size=2)
    assert pq.read_table(tmp_path / "v.parquet").schema.field("confidence").type == pa.float64()


async def _tiny(path: Path, n_pending: int = 0, n_done: int = 1, n_error: int = 0, text: str = "hello",
                params: dict | None = None, config_json: str = "{}") -> None:
    """One run, one question; ``n_pending`` episodes never started, ``n_done`` complete ones with
    a turn, a call and a verdict each, then ``n_error`` that failed after their turn."""
    db = open_database(path)
    try:
        async with DatabaseWriter(db) as w:
            await w.put_run("tiny", "tiny", config_json, "h")
            q = Question(id="t1", question="Which?", options=("x", "y"), gold_index=1, context="ctx")
            uids = await w.put_questions([q])
            roles = RoleAssignment(models={"expert": "e", "judge": "j"})
            specs = [EpisodeSpec(run_id="tiny", question_id="t1", protocol="consultancy", roles=roles, seed=s, order=(0, 1))
                     for s in range(n_pending + n_done + n_error)]
            await w.put_episodes(specs, uids)
            for sp in specs[n_pending:]:
                await w.start_episode(sp.id)
                await w.add_turn("tiny", sp.id, Turn(index=0, round=1, role=Role.EXPERT, kind=Kind.SPEECH, text=text, argues_for=1, argues_for_letter="B"))
                await w.add_call("tiny", sp.id, CallRecord(model="e", purpose="generate", role="expert", prompt="p", reply=text, params=params or {}))
                if sp in specs[n_pending + n_done:]:
                    await w.finish_episode(sp.id, EpisodeStatus.ERROR, error="RuntimeError: judge fell over")
                    continue
                v = Verdict(chosen=1, probabilities=[0.25, 0.75], raw="B", judge_model="j", judge_kind="logprob")
                await w.add_verdict(sp.id, v, gold_index=1, is_final=True)
                await w.finish_episode(sp.id, EpisodeStatus.COMPLETE, verdict=v)
    finally:
        db.close()


# -- dataframes ---------------------------------------------------------------------------------


FRAMES = {"runs": runs_df, "questions": questions_df, "passages": passages_df, "episodes": episodes_df,
          "turns": turns_df, "verdicts": verdicts_df, "calls": calls_df}


def plain(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is pd.NA or v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in r.items()}
            for r in df.astype(object).to_dict("records")]


def test_dataframes_have_fixed_dtypes_and_every_row(src):
    for t, fn in FRAMES.items():
        df = fn(src)
        assert list(df.columns) == SCHEMAS[t].names
        assert dict(df.dtypes) == pandas_dtypes(t), t
        assert len(df) == len(raw(src, t))
        assert plain(df) == expected(src, t), t
    for t in ("episodes", "turns", "verdicts", "calls", "runs", "questions"):
        df = FRAMES[t](src, run_id="other")
        assert len(df) == len(raw(src, t, RUN_WHERE[t], ("other",))) > 0
        assert dict(df.dtypes) == pandas_dtypes(t)
    assert str(episodes_df(src)["chosen"].dtype) == "Int64"
    assert str(episodes_df(src)["correct"].dtype) == "boolean"
    assert str(turns_df(src)["created_at"].dtype) == "datetime64[us, UTC]"
    db = open_database(src)  # an open Database works too, and stays open
    try:
        assert len(turns_df(db)) == len(raw(src, "turns"))
        assert db.run("weird") is not None
    finally:
        db.close()


def test_dataframes_of_an_empty_database_keep_their_dtypes(tmp_path):
    path = tmp_path / "empty.sqlite"
    open_database(path).close()
    for t, fn in FRAMES.items():
        df = fn(path)
        assert len(df) == 0 and dict(df.dtypes) == pandas_dtypes(t)
    for fmt in ("jsonl", "csv", "parquet"):
        assert set(export_all(path, fmt, tmp_path / fmt).values()) == {0}
    assert pq.read_schema(tmp_path / "parquet" / "turns.parquet").equals(SCHEMAS["turns"], check_metadata=True)
    assert pq.read_table(tmp_path / "parquet" / "turns.parquet").num_rows == 0
    assert read_csv(tmp_path / "csv" / "turns.csv") == [SCHEMAS["turns"].names]
    assert (tmp_path / "jsonl" / "turns.jsonl").read_bytes() == b""
    with pytest.raises(FileNotFoundError, match="no such database"):
        episodes_df(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


# -- streaming ----------------------------------------------------------------------------------


def test_export_streams_instead_of_loading_the_table(tmp_path):
    """5 MB of turns are exported in batches with well under half of it in memory at any time."""
    path = tmp_path / "big.sqlite"
    asyncio.run(_tiny(path))
    episode_id = raw(path, "turns")[0][1]
    n, big = 600, "x" * 8_000
    with sqlite3.connect(path) as con:
        con.execute("delete from turns")
        con.executemany(
            "insert into turns (id, episode_id, idx, round, role, kind, text, quotes_json, n_verified, n_unverified, "
            "visible_to_judge, meta_json, created_at) values (?, ?, ?, 1, 'expert', 'speech', ?, '[]', 0, 0, 1, '{}', "
            "'2025-01-01 00:00:00.000000')",
            ((i, episode_id, i, f"{i}:{big}") for i in range(1, n + 1)),
        )
    for fmt in ("jsonl", "csv", "parquet"):
        tracemalloc.start()
        try:
            assert export_table(path, "turns", fmt, tmp_path / f"t.{fmt}", batch_size=50) == n
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 2_400_000, (fmt, peak)
    assert pq.ParquetFile(tmp_path / "t.parquet").metadata.num_row_groups == n // 50


# -- secrets ------------------------------------------------------------------------------------

SECRET_PARAMS = {
    "api_key": "sk-secret-1",
    "headers": {"Authorization": "Bearer sk-secret-2", "x-api-key": "sk-secret-3", "Accept": "json"},
    "extra": [{"authorization": "sk-secret-4"}, {"OPENAI_API_KEY": "sk-secret-5"}],
    "api_key_env": "OPENAI_API_KEY",
    "max_tokens": 5,
}


def test_exports_never_contain_credentials(tmp_path):
    path = tmp_path / "s.sqlite"
    asyncio.run(_tiny(path, params=SECRET_PARAMS, config_json=json.dumps({"models": {"m": {"api_key": "sk-secret-6"}}})))
    assert "sk-secret-1" in raw(path, "calls")[0][13]  # stored as given: the scrub is on export
    want = {
        "api_key": "***",
        "headers": {"Authorization": "***", "x-api-key": "***", "Accept": "json"},
        "extra": [{"authorization": "***"}, {"OPENAI_API_KEY": "***"}],
        "api_key_env": "OPENAI_API_KEY",
        "max_tokens": 5,
    }
    for fmt in ("jsonl", "csv", "parquet"):
        export_all(path, fmt, tmp_path / fmt)
        if fmt != "parquet":
            for f in (tmp_path / fmt).iterdir():
                assert "sk-secret" not in f.read_text(encoding="utf-8"), f
    calls = [json.loads(line) for line in (tmp_path / "jsonl" / "calls.jsonl").read_text(encoding="utf-8").splitlines()]
    assert json.loads(calls[0]["params_json"]) == want
    parquet = pq.read_table(tmp_path / "parquet" / "calls.parquet").to_pylist()
    assert json.loads(parquet[0]["params_json"]) == want
    runs = pq.read_table(tmp_path / "parquet" / "runs.parquet").to_pylist()
    assert json.loads(runs[0]["config_json"]) == {"models": {"m": {"api_key": "***"}}}
    assert json.loads(calls_df(path)["params_json"][0]) == want
    assert "sk-secret" not in runs_df(path)["config_json"][0]


def test_scrub_leaves_other_json_untouched():
    for text in ('{"b": 1,   "a": [1, 2]}', '{"max_tokens": 3, "tokenizer": "x", "api_key_env": "K"}', "not json key", "[]"):
        assert scrub_json_text(text) is text
    assert scrub_json_text('[{"apiKey": null}]') == '[{"apiKey": "***"}]'


# -- property: any text survives ----------------------------------------------------------------


@pytest.fixture(scope="module")
def prop(tmp_path_factory):
    """A source database with one turn, and a target holding the same rows but no turns; both
    kept open (as ``Database``), so an example costs milliseconds."""
    d = tmp_path_factory.mktemp("prop")
    asyncio.run(_tiny(d / "src.sqlite"))
    export_all(d / "src.sqlite", "jsonl", d / "j")
    import_jsonl(d / "dst.sqlite", {t: f for t, f in jsonl_files(d / "j").items() if t != "turns"})
    src, dst = open_database(d / "src.sqlite"), open_database(d / "dst.sqlite")
    yield d, src, dst
    src.close()
    dst.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text())
def test_any_turn_text_survives_jsonl_and_csv(prop, text):
    d, src, dst = prop
    with sqlite3.connect(src.path) as con:
        con.execute("update turns set text = ?", (text,))
    assert raw(src.path, "turns")[0][6] == text
    export_table(src, "turns", "jsonl", d / "t.jsonl")
    export_table(src, "turns", "csv", d / "t.csv")
    line = (d / "t.jsonl").read_text(encoding="utf-8")
    assert line.endswith("\n") and line.count("\n") == 1
    row = json.loads(line)
    assert row["text"] == text
    assert read_csv(d / "t.csv")[1][6] == text
    bulk.load_rows(dst, "turns", [row])  # the JSONL row imported: the stored row is identical
    try:
        assert raw(dst.path, "turns") == raw(src.path, "turns")
    finally:
        with sqlite3.connect(dst.path) as con:
            con.execute("delete from turns")


# -- CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli():
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def error_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_cli_export_all_then_import(cli, src, tmp_path):
    r = cli("export", src, "--format", "jsonl", "--table", "all", "--out", tmp_path / "dump")
    assert r.exit_code == 0, r.output
    assert f"turns: {len(raw(src, 'turns'))} rows" in r.stdout
    r = cli("import-jsonl", tmp_path / "dump", "--db", tmp_path / "copy.sqlite")
    assert r.exit_code == 0, r.output
    for t in TABLES:
        assert raw(tmp_path / "copy.sqlite", t) == raw(src, t)
    # importing again into the now full database is refused, and changes nothing
    line = error_line(cli("import-jsonl", tmp_path / "dump", "--db", tmp_path / "copy.sqlite"))
    assert "already has rows" in line
    assert raw(tmp_path / "copy.sqlite", "runs") == raw(src, "runs")


def test_cli_default_output_names(cli, src, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for fmt in ("jsonl", "csv", "parquet"):
        r = cli("export", src, "--format", fmt, "--table", "turns", "--run", "weird")
        assert r.exit_code == 0, r.output
        assert (tmp_path / f"exp-turns.{fmt}").is_file()
    assert len(read_csv(tmp_path / "exp-turns.csv")) - 1 == len(raw(src, "turns", RUN_WHERE["turns"], ("weird",)))
    assert cli("export", src, "--table", "model_calls", "--format", "csv").exit_code == 0
    assert (tmp_path / "exp-calls.csv").is_file()
    (tmp_path / "somewhere").mkdir()
    assert cli("export", src, "--table", "verdicts", "--out", tmp_path / "somewhere").exit_code == 0
    assert (tmp_path / "somewhere" / "exp-verdicts.jsonl").is_file()
    r = cli("export", src, "--format", "parquet")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "exp-all").iterdir()) == sorted(f"{t}.parquet" for t in TABLES)


def test_cli_errors_are_one_line_and_exit_2(cli, src, tmp_path):
    assert "no such database" in error_line(cli("export", tmp_path / "missing.sqlite", "--table", "turns"))
    assert not (tmp_path / "missing.sqlite").exists()
    assert "unknown format 'xml'" in error_line(cli("export", src, "--format", "xml"))
    assert "unknown table 'turnz'" in error_line(cli("export", src, "--table", "turnz"))
    assert "no run 'ghost'" in error_line(cli("export", src, "--run", "ghost", "--out", tmp_path / "g"))
    assert "no such directory" in error_line(cli("import-jsonl", tmp_path / "nodir", "--db", tmp_path / "n.sqlite"))
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "runs.jsonl").write_text("", encoding="utf-8")
    line = error_line(cli("import-jsonl", tmp_path / "partial", "--db", tmp_path / "n.sqlite"))
    assert "missing passages.jsonl" in line
    assert not (tmp_path / "n.sqlite").exists()
    (tmp_path / "afile").write_text("x")
    assert "not a directory" in error_line(cli("export", src, "--out", tmp_path / "afile"))
