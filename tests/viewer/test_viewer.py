"""``debate view``: the textual app driven by a Pilot over real SQLite files.

The databases are written by real runs on scripted models (whose replies are full of rich
markup, emoji and newlines), by the writer for a hand-built routed episode, and by one bulk
insert for 10,000 episodes. Expected counts are computed from the file with plain SQL/Python,
never from the viewer's own queries.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
import typer
from rich.style import Style
from typer.testing import CliRunner

from debate.cli.view_cmd import register
from debate.config import ProtocolSpec, RunConfig
from debate.core import CallRecord, EpisodeSpec, EpisodeStatus, Kind, QuoteCheck, Role, RoleAssignment, Turn, Usage, Verdict
from debate.core.question import Question
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.storage import DatabaseWriter, EpisodeRow, StorageError, open_database
from debate.storage.browse import EpisodeFilter, open_browser
from debate.viewer import ViewerApp
from debate.viewer.episodes import EpisodesScreen
from debate.viewer.help import HelpScreen
from debate.viewer.lines import LineView, wrap_starts
from debate.viewer.render import literal, split_lines
from debate.viewer.runs import RunsScreen
from debate.viewer.transcript import TranscriptScreen
from tests.helpers import CANARY, PASSAGE, prefers

try:  # the snapshot test needs the plugin; everything else runs without it
    import pytest_textual_snapshot  # noqa: F401
except ImportError:  # pragma: no cover

    @pytest.fixture
    def snap_compare():
        pytest.skip("pytest-textual-snapshot is not installed")


SIZE = (160, 48)
MARKUP = "[bold]not bold[/] and [link=x]click[/link], unclosed [ here 🦜"


def q(i: int, gold: int) -> Question:
    return Question(id=f"q{i}", question=f"How long did Mara keep the lighthouse? (q{i})",
                    options=("Five years", "Eleven years"), gold_index=gold, context=PASSAGE)


def speech(req) -> str:
    if req.role == "debater_b" and "(q3)" in req.prompt:
        raise RuntimeError("model fell over [bold]")
    return f"counted the ships that passed</quote> {MARKUP}\nsecond line <quote>the ledger was red</quote> ({req.role})"


async def _build_small(path: Path) -> None:
    qs = [q(1, 0), q(2, 1), q(3, 1)]
    main = RunConfig(
        name="main", db=str(path), expert="expert", judge="judge", speech_tokens=8,
        protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="consultancy", params={"rounds": 1}),
                   ProtocolSpec(name="debate", params={"rounds": 2})],
    )
    await run_experiment(main, questions=qs, backends={
        "expert": ScriptedBackend(name="expert", replies={"*": speech}),
        "judge": ScriptedBackend(name="judge", scorer=prefers("A")),
    })
    # A generative judge whose replies sometimes cannot be parsed.
    gen = RunConfig(name="gen", db=str(path), judge="judge", judge_kind="generative", protocols=[ProtocolSpec(name="direct_blind")])
    await run_experiment(gen, questions=qs, backends={
        "judge": ScriptedBackend(name="judge", replies={"judge": ["Answer: A", "I cannot decide [/] [bold", "Answer: B"]}),
    })
    await _write_routed_episode(path)


async def _write_routed_episode(path: Path) -> None:
    """One episode as a routed-expert protocol would store it: routing in turn meta, an
    intermediate verdict between rounds, then the final one."""
    db = open_database(path)
    question = q(9, 1)
    spec = EpisodeSpec(run_id="routed", question_id="q9", protocol="consultancy", params={"side": "correct"},
                       roles=RoleAssignment(models={"expert": "router", "judge": "judge"}), order=(1, 0))
    async with DatabaseWriter(db) as w:
        await w.put_run("routed", "routed", "{}", "hash")
        uids = await w.put_questions([question])
        await w.put_episodes([spec], uids)
        await w.start_episode(spec.id)
        for r in (1, 2):
            await w.add_call("routed", spec.id, CallRecord(model="router", purpose="generate", role="expert", prompt="p" * 40,
                                                            reply=f"speech {r}", usage=Usage(prompt_tokens=123, completion_tokens=45),
                                                            latency_s=1.5))
            await w.add_turn("routed", spec.id, Turn(
                index=r - 1, round=r, role=Role.EXPERT, kind=Kind.SPEECH, text=f"Round {r} speech [i]literal[/i]",
                argues_for=1, argues_for_letter="A", quotes=[QuoteCheck(text="x", verified=True)] if r == 2 else [],
                meta={"routing": {"expert": "lora-history", "score": 0.91}, "finish_reason": "stop"}))
            verdict = Verdict(chosen=1, probabilities=[0.4, 0.6] if r == 1 else [0.25, 0.75], judge_model="judge", judge_kind="logprob")
            await w.add_verdict(spec.id, verdict, gold_index=1, is_final=r == 2)
        await w.finish_episode(spec.id, EpisodeStatus.COMPLETE, verdict=verdict, gold_index=1)
    db.close()


@pytest.fixture(scope="session")
def small_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("viewer") / "small.sqlite"
    asyncio.run(_build_small(path))
    return path


@pytest.fixture(scope="session")
def big_db(tmp_path_factory) -> Path:
    """10,000 episodes, written in one bulk insert of episode rows."""
    path = tmp_path_factory.mktemp("viewer") / "big.sqlite"
    db = open_database(path)
    questions = [Question(id=f"b{i}", question=f"Bulk question {i}?", options=("yes", "no"), gold_index=i % 2, context="ctx")
                 for i in range(10)]

    async def head() -> dict[str, str]:
        async with DatabaseWriter(db) as w:
            await w.put_run("big", "big", "{}", "hash")
            return await w.put_questions(questions)

    uids = asyncio.run(head())
    roles = json.dumps({"debater_a": "x", "debater_b": "x", "judge": "j"}, sort_keys=True)
    rows = []
    for i in range(10_000):
        status = "error" if i % 97 == 0 else "complete"
        rows.append(dict(
            id=f"ep{i:05d}", run_id="big", question_uid=uids[f"b{i % 10}"], protocol="debate", variant="debate",
            params_json="{}", order_json="[0, 1]" if i % 2 else "[1, 0]", roles_json=roles, seed=i, status=status,
            attempt=1, chosen=None if status == "error" else i % 2, correct=None if status == "error" else (i % 3 == 0),
            judge_model="j", parse_status=None if status == "error" else "ok",
        ))
    with db.write_engine.begin() as conn:
        conn.execute(EpisodeRow.__table__.insert(), rows)  # type: ignore[attr-defined]
    db.close()
    return path


def sql(path: Path, query: str, *args) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def visible_text(view) -> str:
    """What the widget draws on screen right now, row by row."""
    return "\n".join(view.render_line(y).text for y in range(view.size.height))


def all_rows(view: LineView) -> str:
    return "\n".join(view.row_text(r) for r in range(view.row_count))


async def open_episode(pilot, app: ViewerApp, index: int) -> TranscriptScreen:
    screen = app.screen
    assert isinstance(screen, EpisodesScreen)
    screen.episode_list.move_to(index)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, TranscriptScreen)
    return app.screen


# -- runs and episode lists -----------------------------------------------------------------


async def test_runs_screen_lists_every_run_and_opens_one(small_db):
    app = ViewerApp.open(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        runs = [r for (r,) in sql(small_db, "select id from runs order by created_at")]
        assert runs == ["main", "gen", "routed"]
        assert app.screen.table.row_count == len(runs) + 1  # and "(all runs)"
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EpisodesScreen) and screen.run_id == "main"
        (n,) = sql(small_db, "select count(*) from episodes where run_id='main'")[0]
        assert n == 24
        assert screen.episode_list.count == n
        assert "24 episodes" in str(screen.query_one("#tally").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("down", "down", "down", "enter")  # the "(all runs)" row
        await pilot.pause()
        assert app.screen.run_id is None
        assert app.screen.episode_list.count == sql(small_db, "select count(*) from episodes")[0][0]


async def test_incorrect_and_correct_filters_match_the_database(small_db):
    app = ViewerApp.open(small_db, run_id="main")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lst = app.screen.episode_list
        wrong = sql(small_db, "select count(*) from episodes where run_id='main' and correct = 0")[0][0]
        right = sql(small_db, "select count(*) from episodes where run_id='main' and correct = 1")[0][0]
        assert wrong and right and wrong + right < 24  # the two errors have no verdict
        await pilot.press("c")
        await pilot.pause()
        assert app.screen.filter.correct is False
        assert lst.count == wrong
        assert all(" ✗ " in lst.row_text(i) for i in range(lst.count))
        await pilot.press("c")
        await pilot.pause()
        assert lst.count == right
        assert all(" ✓ " in lst.row_text(i) for i in range(lst.count))
        await pilot.press("c")
        await pilot.pause()
        assert lst.count == 24


async def test_error_parse_protocol_order_and_model_filters(small_db):
    app = ViewerApp.open(small_db, run_id="main")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lst = app.screen.episode_list
        await pilot.press("e")
        await pilot.pause()
        errors = sql(small_db, "select id from episodes where run_id='main' and status='error' order by rowid")
        assert lst.count == len(errors) == 2
        assert [lst.summary(i).episode_id for i in range(lst.count)] == [e for (e,) in errors]
        await pilot.press("e", "p")  # errors off; first protocol variant (sorted)
        await pilot.pause()
        variants = sorted(v for (v,) in sql(small_db, "select distinct variant from episodes where run_id='main'"))
        assert app.screen.filter.variant == variants[0]
        assert lst.count == sql(small_db, "select count(*) from episodes where run_id='main' and variant=?", variants[0])[0][0]
        await pilot.press("backspace", "o")
        await pilot.pause()
        assert app.screen.filter.order == (0, 1)
        assert lst.count == sql(small_db, "select count(*) from episodes where run_id='main' and order_json='[0, 1]'")[0][0] == 12
        await pilot.press("backspace", "m", "m")  # models sorted: expert, judge
        await pilot.pause()
        assert app.screen.filter.model == "judge"
        judged = sql(small_db, "select count(*) from episodes where run_id='main' and roles_json like '%\"judge\"%'")[0][0]
        assert lst.count == judged == 24

    app = ViewerApp.open(small_db, run_id="gen")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        failed = sql(small_db, "select count(*) from episodes where run_id='gen' and parse_status != 'ok'")[0][0]
        assert failed == 2
        assert app.screen.episode_list.count == failed
        assert "parse failures 2" in str(app.screen.query_one("#tally").render())


async def test_search_narrows_to_question_and_turn_text(small_db):
    questions = dict(sql(small_db, "select e.id, q.question from episodes e join questions q on q.uid = e.question_uid where e.run_id='main'"))
    texts: dict[str, str] = {}
    for eid, text in sql(small_db, "select episode_id, text from turns"):
        texts[eid] = texts.get(eid, "") + "\n" + text

    def expected(term: str) -> int:
        return sum(term.lower() in (questions[e] + texts.get(e, "")).lower() for e in questions)

    app = ViewerApp.open(small_db, run_id="main")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lst = app.screen.episode_list
        # "[link=x]" sits in every speech and in those judge questions whose reply came first in
        # the scripted judge's cycle, which depends on scheduling: its count comes from the DB alone.
        for term, n in (("(q2)", 8), ("(debater_b)", 4), ("[link=x]", None), ("no such words", 0)):
            await pilot.press("slash")
            app.screen.query_one("#search").value = term
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen.filter.search == term
            assert lst.count == expected(term), term
            assert expected(term) == n if n is not None else expected(term) >= 12, term
        await pilot.press("slash", "escape")  # cancelling keeps the search and stays on the list
        await pilot.pause()
        assert isinstance(app.screen, EpisodesScreen) and app.screen.filter.search == "no such words"
        await pilot.press("backspace")
        await pilot.pause()
        assert lst.count == 24


# -- transcripts ----------------------------------------------------------------------------


async def test_transcript_shows_model_text_literally_with_quotes_verdict_and_calls(small_db):
    ep = sql(small_db, "select id from episodes where run_id='main' and variant='debate' and status='complete' order by rowid")[0][0]
    index = [e for (e,) in sql(small_db, "select id from episodes where run_id='main' order by rowid")].index(ep)
    app = ViewerApp.open(small_db, run_id="main")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_episode(pilot, app, index)
        assert screen.episode_id == ep
        view = screen.view
        text = all_rows(view)
        assert text.count(MARKUP) == 4  # two rounds, two debaters, as typed
        assert "[bold]not bold[/]" in visible_text(view)
        for heading in ("Debater A · round 1", "Debater B · round 2", "Judge · final verdict"):
            assert heading in text
        n_calls = sql(small_db, "select count(*) from model_calls where episode_id=?", ep)[0][0]
        assert f"Model calls ({n_calls})" in text
        p_tok = sql(small_db, "select sum(prompt_tokens) from model_calls where episode_id=?", ep)[0][0]
        assert f"tokens {p_tok:,} in" in text
        probs = json.loads(sql(small_db, "select probabilities_json from verdicts where episode_id=? and is_final", ep)[0][0])
        assert f"{probs[0]:5.3f}" in text and f"{probs[1]:5.3f}" in text

        # Quotes: verified ones drawn underlined, unverified ones struck through.
        styles: dict[str, Style] = {}
        for y in range(view.size.height):
            for seg in view.render_line(y):
                if seg.text in ("counted the ships that passed", "the ledger was red") and seg.style:
                    styles[seg.text] = seg.style
        assert styles["counted the ships that passed"].underline and not styles["counted the ships that passed"].strike
        assert styles["the ledger was red"].strike and not styles["the ledger was red"].underline

        svg = app.export_screenshot().replace("&#160;", " ")
        assert "[link=x]click[/link]" in svg

        await pilot.press("t")  # every call's prompt and reply
        await pilot.pause()
        assert "prompt (" in all_rows(view)
        assert CANARY not in all_rows(view).split("Model calls")[0]
        await pilot.press("v")  # the passage the experts read
        await pilot.pause()
        assert "Passage (the experts' view" in all_rows(view) and CANARY in all_rows(view).split("Model calls")[0]
        await pilot.press("n")  # next episode in the list
        await pilot.pause()
        assert screen.episode_id != ep
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, EpisodesScreen)
        assert app.screen.episode_list.cursor == index + 1


async def test_error_episode_and_routed_episode(small_db):
    app = ViewerApp.open(small_db, run_id="main")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e", "enter")
        await pilot.pause()
        text = all_rows(app.screen.view)
        assert "── Error ──" in text and "model fell over [bold]" in text

    app = ViewerApp.open(small_db, run_id="routed")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        text = all_rows(app.screen.view)
        assert text.count("router expert=lora-history  score=0.91") == 2
        assert "Consultant · round 1" in text and "[i]literal[/i]" in text
        # The intermediate verdict sits between the rounds; the final one after round 2.
        assert text.index("Round 1 speech") < text.index("intermediate verdict") < text.index("Round 2 speech") < text.index("final verdict")
        assert "0.600" in text and "0.750" in text
        assert "tokens 246 in / 90 out  latency 3.00 s" in text


async def test_megabyte_transcript_opens_and_scrolls_to_the_end(tmp_path):
    line = "word " * 15 + MARKUP
    body = "\n".join(f"{i:06d} {line}" for i in range(12_000))
    long_line = "x" * 200_000  # one line with no break at all
    reply = f"counted the ships that passed</quote>\n{body}\n{long_line}\nTHE-LAST-LINE"
    assert len(reply.encode()) > 1_000_000
    cfg = RunConfig(name="big-text", db=str(tmp_path / "mb.sqlite"), expert="expert", judge="judge", both_orders=False,
                    protocols=[ProtocolSpec(name="consultancy", params={"rounds": 1})])
    await run_experiment(cfg, questions=[q(1, 0)], backends={
        "expert": ScriptedBackend(name="expert", replies={"*": reply}),
        "judge": ScriptedBackend(name="judge", scorer=prefers("A")),
    })
    app = ViewerApp.open(tmp_path / "mb.sqlite", run_id="big-text")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        view = app.screen.view
        assert view.row_count > 12_000 + 200_000 // SIZE[0]
        await pilot.press("end")
        await pilot.pause()
        assert view.scroll_offset.y == view.max_scroll_y > 0
        assert view.render_line(view.size.height - 1).text.rstrip() == view.row_text(view.row_count - 1).rstrip()
        everything = all_rows(view)
        assert "THE-LAST-LINE" in everything and "011999 word" in everything
        await pilot.press("home", "pagedown")
        await pilot.pause()
        assert view.scroll_offset.y > 0


async def test_ten_thousand_episodes_open_and_scroll_to_the_end(big_db):
    app = ViewerApp.open(big_db, run_id="big")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lst = app.screen.episode_list
        assert lst.count == 10_000
        await pilot.press("end")
        await pilot.pause()
        assert lst.cursor == 9_999
        assert lst.scroll_offset.y == lst.max_scroll_y
        assert visible_text(lst).rstrip().splitlines()[-1].startswith("10000 ")
        assert lst.current.episode_id == "ep09999"
        assert lst.pages_fetched <= 4  # first screen and last screen, never the whole run
        await pilot.press("pageup", "up", "home")
        await pilot.pause()
        assert lst.cursor == 0 and lst.scroll_offset.y == 0
        await pilot.press("c")
        await pilot.pause()
        wrong = sql(big_db, "select count(*) from episodes where correct = 0")[0][0]
        assert lst.count == wrong
        await pilot.press("c", "c", "e")
        await pilot.pause()
        assert lst.count == sql(big_db, "select count(*) from episodes where status = 'error'")[0][0] == 104
        await pilot.press("backspace", "slash", *"question 7?", "enter")
        await pilot.pause()
        assert lst.count == 1_000


# -- live mode, help, read-only, CLI --------------------------------------------------------


async def test_live_mode_follows_a_run_being_written(tmp_path):
    path = tmp_path / "live.sqlite"
    db = open_database(path)
    roles = RoleAssignment(models={"judge": "judge"})
    specs = [EpisodeSpec(run_id="live", question_id="q1", protocol="direct_blind", roles=roles, seed=s, order=(0, 1)) for s in range(5)]
    async with DatabaseWriter(db) as w:
        await w.put_run("live", "live", "{}", "hash")
        uids = await w.put_questions([q(1, 0)])
        await w.put_episodes(specs[:3], uids)
        app = ViewerApp.open(path, run_id="live", live=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert screen.episode_list.count == 3
            assert "pending 3" in str(screen.query_one("#tally").render())
            await w.put_episodes(specs, uids)
            for sp in specs[:2]:
                await w.start_episode(sp.id)
                await w.finish_episode(sp.id, EpisodeStatus.COMPLETE, verdict=Verdict(chosen=0), gold_index=0)
            await pilot.pause(1.5)
            assert screen.episode_list.count == 5
            tally = str(screen.query_one("#tally").render())
            assert "complete 2" in tally and "pending 3" in tally
            assert screen.episode_list.summary(0).status is EpisodeStatus.COMPLETE
    db.close()


async def test_help_screen_opens_and_closes_and_q_quits(small_db):
    app = ViewerApp.open(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("#help-text").render())
        assert "cycle judge result" in help_text and "search question and turn text" in help_text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


def test_viewer_reads_without_writing(small_db, tmp_path):
    before = sql(small_db, "select count(*), max(rowid) from episodes")
    with open_browser(small_db) as b, b.engine.connect() as conn:
        with pytest.raises(Exception, match="readonly|read-only|query_only"):
            conn.exec_driver_sql("DELETE FROM episodes")
    assert sql(small_db, "select count(*), max(rowid) from episodes") == before
    with pytest.raises(StorageError, match="no such database"):
        open_browser(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StorageError, match="not a debate database"):
        open_browser(tmp_path / "notes.txt")


def test_browser_counts_agree_with_sql(small_db):
    with open_browser(small_db) as b:
        runs = {r.id: r for r in b.runs()}
        assert runs["main"].tally.total == 24 and runs["main"].tally.by_status["error"] == 2
        flt = EpisodeFilter(run_id="main", correct=False)
        page = b.page(flt, 0, 100)
        assert len(page) == b.count(flt) == sql(small_db, "select count(*) from episodes where run_id='main' and correct=0")[0][0]
        assert b.page(flt, 3, 2) == page[3:5]
        assert b.count(EpisodeFilter(search="%")) == 0  # LIKE wildcards are searched for literally


def test_cli_view_reports_a_missing_database_in_one_line(tmp_path):
    cli = typer.Typer()
    register(cli)

    @cli.callback()
    def _root() -> None:
        pass

    result = CliRunner().invoke(cli, ["view", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 2
    assert "no such database" in result.output and "Traceback" not in result.output


def test_wrap_starts_breaks_words_and_folds_long_ones():
    assert wrap_starts("short", 10) == [0]
    assert wrap_starts("aaa bbb ccc", 7) == [0, 8]
    assert wrap_starts("x" * 25, 10) == [0, 10, 20]
    assert wrap_starts("🦜" * 6, 4) == [0, 2, 4]  # two cells each


def test_control_characters_are_shown_not_sent_to_the_terminal():
    shown = literal("red \x1b[31mALERT\x1b[0m\r\nnext\tcol \u202eevil \x07")
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown and "\r" not in shown
    assert shown == "red \u241b[31mALERT\u241b[0m\nnext    col \ufffdevil \u2407"
    lines = split_lines("ab\ncd <q>ef</q>\ng", [(1, 4, Style(bold=True)), (6, 15, Style(italic=True))])
    assert [ln.text for ln in lines] == ["ab", "cd <q>ef</q>", "g"]
    assert lines[0].spans == ((1, 2, Style(bold=True)),)
    assert lines[1].spans == ((0, 1, Style(bold=True)), (3, 12, Style(italic=True)))
    assert lines[1].to_text(3, 6).plain == "<q>" and lines[2].spans == ()


def test_episode_list_snapshot(small_db, snap_compare):
    app = ViewerApp.open(small_db, run_id="main")
    assert snap_compare(app, terminal_size=(150, 34), press=["c"])
