"""Odd model replies and odd text: stored as they came, the run completes, the report renders.

Replies that are empty, whitespace only, ``None`` (a provider that returned no text) or cut by the
token limit (``finish_reason: length``) are data, not failures. A generative judge that says
nothing gets an EMPTY verdict, counted wrong. Unusual Unicode (bidi marks, zero-width joiners,
combining characters, emoji sequences, control characters) survives SQLite byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from debate.cli.app import app
from debate.config import ProtocolSpec, RunConfig
from debate.core.question import Question
from debate.experts.backend import Generation
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.protocols.quotes import verify_quotes
from tests.helpers import PASSAGE, prefers, question

CUT = Generation(text="counted the ships that", finish_reason="length")  # cut inside the opening's quote
ODD_REPLIES = ["", "   \n\t  ", None, "\u200b", CUT]

WEIRD = (
    "\u200fRTL mark, \u202eoverride\u202c, \u2067isolate\u2069; ZWJ family \U0001F469\u200d\U0001F469\u200d\U0001F467; "
    "zero-width\u200b\u200c\u2060joins; combining e\u0301 a\u0308 \u0915\u094d\u0937; flags \U0001F1F3\U0001F1FF; "
    "escape \x1b[31mred\x1b[0m bell\x07 tab\t del\x7f; line\u2028sep\u2029para; BOM\ufeff; "
    "\U0001D54F math, \uFDFD, \u0e01\u0e33, \u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd."
)
# The speech opening leaves a <quote> open, so the reply starts inside it.
Q1 = WEIRD[: WEIRD.index("; zero")]  # quotes are checked on word boundaries: cut between words
WEIRD_REPLY = f"{Q1}</quote> \U0001F469\u200d\U0001F467 e\u0301\x1b[0m \u202e! <quote>{WEIRD[120:170]}</quote>"


def cfg(tmp_path: Path, name: str, **kw) -> RunConfig:
    base = dict(
        name=name, db=str(tmp_path / "odd.sqlite"), expert="expert", judge="judge", speech_tokens=8,
        protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="consultancy", params={"rounds": 2}),
                   ProtocolSpec(name="debate", params={"rounds": 2})],
    )
    return RunConfig(**{**base, **kw})


async def test_empty_whitespace_none_and_cut_replies_are_stored_and_the_run_completes(tmp_path: Path) -> None:
    expert = ScriptedBackend(name="expert", replies={"*": list(ODD_REPLIES)}, scorer=prefers("A"))
    judge = ScriptedBackend(name="judge", scorer=prefers("A"))
    qs = [question("q1", gold=0), question("q2", gold=1)]
    result = await run_experiment(cfg(tmp_path, "odd"), questions=qs, backends={"expert": expert, "judge": judge})
    assert (result.total, result.completed, result.errors) == (16, 16, 0)

    con = sqlite3.connect(tmp_path / "odd.sqlite")
    replies = [r for (r,) in con.execute("select reply from model_calls where role != 'judge' order by id")]
    assert len(replies) == 32 and all(e is None for (e,) in con.execute("select error from model_calls"))
    # Stored exactly as the model gave them (None as ""): nothing stripped, nothing dropped.
    expected = {"" if r is None else (r.text if isinstance(r, Generation) else r) for r in ODD_REPLIES}
    assert set(replies) == expected
    finish = [json.loads(p)["finish_reason"] for (p,) in con.execute(
        "select params_json from model_calls where purpose='generate' and role != 'judge'")]
    assert finish.count("length") == replies.count(CUT.text) > 0
    turn_meta = [json.loads(m) for (m,) in con.execute("select meta_json from turns")]
    assert sum(m["finish_reason"] == "length" for m in turn_meta) == finish.count("length")
    # A speech cut inside a quote has its quote closed and checked against the passage.
    cut = con.execute("select text, quotes_json from turns where text like '%counted the ships%'").fetchall()
    assert cut and all(t.endswith("</quote>") and json.loads(q)[0]["verified"] for t, q in cut)
    assert con.execute("select count(*) from turns").fetchone() == (32,)
    assert con.execute("select count(*) from verdicts where is_final").fetchone() == (16,)

    report = CliRunner().invoke(app, ["report", str(tmp_path / "odd.sqlite"), "--run", "odd"])
    assert report.exit_code == 0, report.output
    assert "consultancy" in report.output


async def test_empty_generative_verdict_is_empty_and_counted_wrong(tmp_path: Path) -> None:
    expert = ScriptedBackend(name="expert", replies={"*": "I am right."}, scorer=prefers("A"))
    judge = ScriptedBackend(name="judge", replies={"judge": ["", "  \n ", None]})
    qs = [question("q1", gold=0), question("q2", gold=1)]
    config = cfg(tmp_path, "silent", judge_kind="generative",
                 protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="debate", params={"rounds": 1})])
    result = await run_experiment(config, questions=qs, backends={"expert": expert, "judge": judge})
    assert (result.total, result.completed, result.errors) == (8, 8, 0)

    con = sqlite3.connect(tmp_path / "odd.sqlite")
    rows = con.execute("select status, chosen, correct, parse_status from episodes where run_id='silent'").fetchall()
    assert rows == [("complete", None, 0, "empty")] * 8
    verdicts = con.execute("select status, chosen, raw from verdicts where is_final").fetchall()
    assert {(s, c) for s, c, _ in verdicts} == {("empty", None)}
    assert {r for _, _, r in verdicts} <= {"", "  \n "}

    report = CliRunner().invoke(app, ["report", str(tmp_path / "odd.sqlite"), "--run", "silent"])
    assert report.exit_code == 0, report.output
    assert "0.0%" in report.output or "0%" in report.output


async def test_unusual_unicode_is_stored_byte_exact_and_reported(tmp_path: Path) -> None:
    passage = f"{PASSAGE} {WEIRD}"
    q = Question(id="u\u200d1", question=f"Which\u200f one\U0001F914?\x1b", options=(f"yes e\u0301\u202e", "no \U0001F469\u200d\U0001F467"),
                 gold_index=0, context=passage, title="T\u0308itle\u200b")
    expert = ScriptedBackend(name="expert", replies={"*": WEIRD_REPLY}, scorer=prefers("A"))
    judge = ScriptedBackend(name="judge", replies={"*": f"{WEIRD} ?"}, scorer=prefers("B"))
    config = cfg(tmp_path, "uni", protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="direct_oracle"),
                                             ProtocolSpec(name="consultancy", params={"rounds": 2, "interactive": True}),
                                             ProtocolSpec(name="debate", params={"rounds": 1})])
    result = await run_experiment(config, questions=[q], backends={"expert": expert, "judge": judge})
    assert result.errors == 0 and result.completed == result.total == 10

    con = sqlite3.connect(tmp_path / "odd.sqlite")
    con.text_factory = bytes  # compare the stored bytes, not a decoded view of them
    assert con.execute("select text from passages").fetchall() == [(passage.encode(),)]
    qrow = con.execute("select id, question, options_json, title from questions").fetchone()
    assert qrow[0] == q.id.encode() and qrow[1] == q.question.encode() and qrow[3] == q.title.encode()
    assert tuple(json.loads(qrow[2].decode())) == q.options
    replies = {r for (r,) in con.execute("select reply from model_calls where purpose='generate' and role != 'judge'")}
    assert replies == {WEIRD_REPLY.encode()}
    asked = {r for (r,) in con.execute("select reply from model_calls where purpose='generate' and role='judge'")}
    assert asked == {f"{WEIRD} ?".encode()}
    prompts = [p.decode() for (p,) in con.execute("select prompt from model_calls where role != 'judge'")]
    assert prompts and all(passage.strip() in p for p in prompts)  # experts saw the passage intact
    con.text_factory = str
    texts = [t for (t,) in con.execute("select text from turns where kind='speech'")]
    assert texts and all(WEIRD_REPLY.strip() in t for t in texts)
    quotes = [json.loads(j) for (j,) in con.execute("select quotes_json from turns where kind='speech'")]
    assert quotes and all(qs_ == [{"text": Q1, "verified": True}, {"text": WEIRD[120:170], "verified": True}]
                          for qs_ in quotes)
    assert [c.verified for c in verify_quotes("<quote>" + WEIRD_REPLY, passage)] == [True, True]

    runner = CliRunner()
    for args in (["report", str(tmp_path / "odd.sqlite"), "--run", "uni"],
                 ["analyse", str(tmp_path / "odd.sqlite"), "--run", "uni", "--resamples", "50"],
                 ["export", str(tmp_path / "odd.sqlite"), "--format", "csv", "--table", "turns", "--out", str(tmp_path / "t.csv")]):
        out = runner.invoke(app, args)
        assert out.exit_code == 0, (args, out.output, out.exception)
