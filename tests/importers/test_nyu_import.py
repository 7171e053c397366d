"""The NYU debate release importer, against the real release (skipped only when it is absent).

The whole release is imported once per module (about 20 s on a 2-core machine); the error,
resume and in-progress cases use small copies holding a few rooms.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from debate.cli.nyu_cmd import register
from debate.core import EpisodeStatus, Kind, ParseStatus, Role
from debate.datasets import DatasetError
from debate.importers import ImportSummary, detokenise, import_nyu
from debate.importers.nyu import question_id
from debate.report import accuracy_table
from debate.storage import ConfigMismatchError, open_database

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "quality_nyu_debates"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"the NYU debate release is not at {DATA}")

PAPER = {"human_debate": (154, 130), "human_consultancy": (96, 71), "ai_debate": (87, 68), "ai_consultancy": (76, 61)}
IMPORTED = {"human_debate": 266, "human_consultancy": 110, "ai_debate": 91, "ai_consultancy": 94}


# -- the detokeniser (no data needed) --------------------------------------------------------------


def test_detokenise_ptb_tokens():
    tokens = ["``", "I", "do", "n't", "know", ",", "''", "he", "said", "-LRB-", "quietly", "-RRB-", ".", "\n", "\n",
              "It", "'s", "$", "5", "--", "or", "so", "..."]
    story = detokenise(tokens)
    assert story.text == "\"I don't know,\" he said (quietly).\n\nIt's $5--or so..."
    assert len(story) == len(tokens)
    assert story.span(1, 5) == "I don't know"
    assert story.span(9, 12) == "(quietly)"
    assert story.span(13, 15) == ""  # newlines only: trimmed to nothing
    for i, tok in enumerate(tokens):
        assert story.text[story.starts[i] : story.ends[i]] == {"``": '"', "''": '"', "-LRB-": "(", "-RRB-": ")"}.get(tok, tok)


def test_detokenise_chunks_and_words():
    # Early rooms tokenise by line chunks (with their own spaces) or by whitespace, with empty tokens.
    assert detokenise(["AMBITION", "\n", "By WILLIAM L.", "BADE", "\n", "\n", " Illustrated by L."]).text == (
        "AMBITION\nBy WILLIAM L. BADE\n\n Illustrated by L."
    )
    assert detokenise(["ROCKLYNNE", "\n", "\n", "", "Illustrated", "by", "DON."]).text == "ROCKLYNNE\n\nIllustrated by DON."
    with pytest.raises(IndexError):
        detokenise(["a", "b"]).span(1, 3)


# -- the whole release -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, ImportSummary]:
    if not DATA.is_dir():
        pytest.skip(f"the NYU debate release is not at {DATA}")
    db = tmp_path_factory.mktemp("nyu") / "nyu.sqlite"
    return db, import_nyu(DATA, db)


def _rows(db_path: Path, sql: str) -> int:
    con = sqlite3.connect(db_path)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def _episodes_by_room(db, run_id: str) -> dict[str, object]:
    return {json.loads(ep.params_json)["room"]: ep for ep in db.episodes(run_id)}


@needs_data
def test_summary_counts(imported):
    db_path, s = imported
    assert (s.run_id, s.paper_run_id) == ("nyu-debates", "nyu-debates-paper")
    assert s.rooms_listed == 631 and s.rooms_imported == 561
    assert s.left_out == {"InProgress": 41, "WaitingToBegin": 29}
    assert s.by_protocol == IMPORTED
    assert s.paper_by_protocol == {p: n for p, (n, _) in PAPER.items()} and s.included_in_paper == 413
    assert s.no_live_judge == 44 and s.unfinished == 0
    assert s.questions == 305
    assert (s.written, s.skipped) == (561 + 413, 0)
    with open_database(db_path) as db:
        full, paper = db.counts("nyu-debates"), db.counts("nyu-debates-paper")
        assert full["episodes"] == {"pending": 0, "running": 0, "complete": 517, "error": 44}
        assert paper["episodes"] == {"pending": 0, "running": 0, "complete": 413, "error": 0}
        assert full["calls"] == paper["calls"] == 0
        assert {r.id: r.status for r in db.runs()} == {"nyu-debates": "complete", "nyu-debates-paper": "complete"}
        assert Counter(ep.protocol for ep in db.episodes("nyu-debates")) == IMPORTED
    # One question row per imported room (its source names the room); the paper run reuses them.
    assert _rows(db_path, "SELECT count(*) FROM questions") == 561
    assert _rows(db_path, "SELECT count(DISTINCT id) FROM questions") == 305


@needs_data
def test_paper_accuracy_is_reproduced_exactly(imported):
    db_path, _ = imported
    with open_database(db_path) as db:
        outcomes = db.outcomes("nyu-debates-paper")
    # Pooled per protocol (what the CLI's "(all)" rows show for consultancy).
    pooled = {r.variant: r for r in accuracy_table([o.model_copy(update={"variant": o.protocol}) for o in outcomes])}
    assert {p: (r.n, r.correct) for p, r in pooled.items()} == PAPER
    assert round(100 * pooled["human_debate"].accuracy, 1) == 84.4
    assert round(100 * pooled["human_consultancy"].accuracy, 1) == 74.0
    # As stored: consultancy splits by the consultant's side; the one exact 0.5/0.5 tie is counted wrong.
    rows = {r.variant: r for r in accuracy_table(outcomes)}
    assert (rows["human_debate"].n, rows["human_debate"].correct, rows["human_debate"].parse_failures) == (154, 130, 0)
    assert (rows["human_consultancy[correct]"].n, rows["human_consultancy[correct]"].correct) == (48, 42)
    incorrect = rows["human_consultancy[incorrect]"]
    assert (incorrect.n, incorrect.correct, incorrect.parse_failures) == (48, 29, 1)
    assert {r.judge_model for r in rows.values()} == {"human"}
    assert all(r.errors == 0 and r.pending == 0 for r in rows.values())
    with open_database(db_path) as db:
        # The live judge's latest verdict is its final one; offline judges are another judge model.
        assert db.outcomes("nyu-debates-paper", judged_by="human") == outcomes
        offline = db.outcomes("nyu-debates-paper", judged_by="human-offline")
        assert 0 < len(offline) < len(outcomes)


@needs_data
def test_full_run_keeps_judgeless_rooms_as_errors(imported):
    db_path, _ = imported
    with open_database(db_path) as db:
        rows = accuracy_table(db.outcomes("nyu-debates"))
        judged = {r.variant: (r.n, r.correct) for r in rows if r.judge_model == "human"}
        assert judged["human_debate"] == (222, 193)
        (judgeless,) = [r for r in rows if r.judge_model != "human"]
        assert (judgeless.variant, judgeless.n, judgeless.errors) == ("human_debate", 0, 44)
        ep = _episodes_by_room(db, "nyu-debates")["pied-piper-of-mars-3"]
        assert ep.status == EpisodeStatus.ERROR.value and "no live judge" in ep.error
        assert "judge" not in json.loads(ep.roles_json)
        assert db.turns(ep.id)  # the transcript is there
        offline = db.verdicts(ep.id)
        assert offline and all((v.judge_model, v.judge_kind, v.is_final) == ("human-offline", "human_offline", False)
                               for v in offline)


@needs_data
def test_a_pail_of_air_0(imported):
    db_path, _ = imported
    with open_database(db_path) as db:
        ep = _episodes_by_room(db, "nyu-debates-paper")["a-pail-of-air-0"]
        assert ep.protocol == ep.variant == "human_debate"
        assert json.loads(ep.roles_json) == {"debater_a": "human", "debater_b": "human", "judge": "human"}
        assert json.loads(ep.params_json) == {"room": "a-pail-of-air-0", "included_in_paper": True}
        assert (ep.status, ep.chosen, ep.correct, ep.parse_status) == ("complete", 1, True, "ok")

        q = db.question(ep.question_uid)
        assert q.id == question_id("51461", "What are the layers of frozen material, from bottom to top?")
        assert q.options == ("Water, nitrogen, carbon dioxide, oxygen, helium", "Water, carbon dioxide, nitrogen, oxygen, helium")
        assert q.gold_index == 1 and q.title == "A Pail of Air"
        assert q.source == {
            "dataset": "quality_nyu_debates", "room": "a-pail-of-air-0", "license": "CC-BY-4.0", "article_id": "51461",
            "is_human": True, "is_debate": True, "included_in_paper": True, "status": "Complete",
        }
        assert q.context.startswith("A Pail of Air By FRITZ LEIBER\n\nIllustrated by ED ALEXANDER")

        turns = [t.to_turn() for t in db.turns(ep.id)]
        J, A, B = Role.JUDGE, Role.DEBATER_A, Role.DEBATER_B
        assert [t.role for t in turns] == [J, A, B, J, A, B, J]
        assert [t.kind for t in turns] == [Kind.JUDGE_QUESTION, Kind.SPEECH, Kind.SPEECH, Kind.JUDGE_QUESTION,
                                           Kind.SPEECH, Kind.SPEECH, Kind.VERDICT]
        assert [t.index for t in turns] == list(range(7))
        assert [t.round for t in turns] == [0, 1, 1, 1, 2, 2, 2]
        assert [(t.argues_for, t.argues_for_letter) for t in turns if t.kind is Kind.SPEECH] == [(0, "A"), (1, "B")] * 2
        assert [len(t.quotes) for t in turns] == [0, 3, 5, 0, 3, 0, 0]
        first = turns[1].quotes[0]
        assert first.text == (
            "the carbon dioxide--when you're shoveling for water, you have to make sure you don't go too high and "
            "get any of that stuff mixed in, for it would put you to sleep, maybe for good, and make the fire go out."
        )
        assert first.verified and first.text in q.context
        assert f"<quote>{first.text}</quote>" in turns[1].text
        assert turns[1].text.startswith('The story is about Earth after it was pulled away from the sun by the "dark star".')
        assert turns[0].text == "" and turns[0].meta["distribution"] == [0.29, 0.71]
        assert turns[6].meta["end_debate"] is True and turns[6].text.startswith("I need more context overall.")

        verdicts = db.verdicts(ep.id)
        live = [v for v in verdicts if v.judge_model == "human"]
        assert [json.loads(v.probabilities_json) for v in live] == [[0.29, 0.71], [0.36000000000000004, 0.64],
                                                                     [0.010000000000000007, 0.99]]
        assert [v.is_final for v in live] == [False, False, True] and all(v.chosen == 1 for v in live)
        offline = [v for v in verdicts if v.judge_model == "human-offline"]
        assert len(offline) == 3 and not any(v.is_final for v in offline)
        assert json.loads(offline[0].raw)["offline_judge"] == "Lulu Lemonade"
        assert offline[0].status == ParseStatus.AMBIGUOUS.value  # a 0.5/0.5 step


@needs_data
def test_tie_and_consultancy_sides(imported):
    db_path, _ = imported
    with open_database(db_path) as db:
        rooms = _episodes_by_room(db, "nyu-debates-paper")
        tie = rooms["end-as-a-hero-8"]
        assert (tie.variant, tie.status, tie.chosen, tie.correct, tie.parse_status) == (
            "human_consultancy[incorrect]", "complete", None, False, "ambiguous")
        (final,) = [v for v in db.verdicts(tie.id) if v.is_final]
        assert json.loads(final.probabilities_json) == [0.5, 0.5] and final.chosen is None
        # Every consultancy speech is the expert's, for the side the episode is labelled with.
        sides = Counter()
        for room, ep in rooms.items():
            if "consultancy" not in ep.protocol:
                continue
            gold = db.question(ep.question_uid).gold_index
            speeches = [t for t in db.turns(ep.id) if t.kind == Kind.SPEECH.value]
            assert speeches and {t.role for t in speeches} == {Role.EXPERT.value}, room
            (argued,) = {t.argues_for for t in speeches}
            side = json.loads(ep.params_json)["side"]
            assert side == ("correct" if argued == gold else "incorrect"), room
            sides[(ep.protocol, side)] += 1
        assert sides == {("human_consultancy", "correct"): 48, ("human_consultancy", "incorrect"): 48,
                         ("ai_consultancy", "correct"): 38, ("ai_consultancy", "incorrect"): 38}


@needs_data
def test_every_quote_is_a_span_of_its_context(imported):
    db_path, _ = imported
    n = 0
    clamped = []
    escaped = set()
    with open_database(db_path) as db:
        contexts: dict[str, str] = {}
        for ep in db.episodes("nyu-debates"):
            context = contexts.get(ep.question_uid)
            if context is None:
                context = contexts[ep.question_uid] = db.question(ep.question_uid).context
            for row in db.turns(ep.id):
                turn = row.to_turn()
                assert turn.text.count("<quote>") == turn.text.count("</quote>") == len(turn.quotes)
                for quote in turn.quotes:
                    assert quote.verified and quote.text in context and f"<quote>{quote.text}</quote>" in turn.text
                    n += 1
                if "‹quote›" in turn.text or "‹/quote›" in turn.text:
                    escaped.add((json.loads(ep.params_json)["room"], turn.role))
                if "clamped_quote_spans" in turn.meta:
                    clamped.append((json.loads(ep.params_json)["room"], turn.index, turn.meta["clamped_quote_spans"]))
    assert n == 7846
    # One quote in the release runs past its story's last token (6927 tokens): cut at the end.
    assert clamped == [("a-pail-of-air-7", 15, [[6926, 6929]])]
    # Judges who typed literal <quote> tags: escaped, so they are not taken for quotes.
    assert escaped == {(r, Role.JUDGE) for r in ("the-blue-behemoth-1", "the-five-hells-of-orion-5", "the-winning-of-the-moon-2")}


@needs_data
def test_reimport_is_idempotent(imported):
    db_path, _ = imported
    tables = ("runs", "questions", "passages", "episodes", "turns", "verdicts")
    before = {t: _rows(db_path, f"SELECT count(*) FROM {t}") for t in tables}
    again = import_nyu(DATA, db_path)
    assert (again.written, again.skipped) == (0, 974)
    assert {t: _rows(db_path, f"SELECT count(*) FROM {t}") for t in tables} == before
    with pytest.raises(ConfigMismatchError):  # same name, other rooms: refused, not mixed
        import_nyu(DATA, db_path, only_complete=False)


@needs_data
def test_cli_command_prints_summary_and_paper_table(imported):
    db_path, _ = imported
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so typer keeps "import-nyu" as a subcommand
        pass

    result = CliRunner().invoke(app, ["import-nyu", str(DATA), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "561 of 631 rooms imported into run 'nyu-debates'" in result.output
    assert "0 episodes written, 974 already in" in result.output
    assert "nyu-debates-paper" in result.output
    lines = result.output.splitlines()
    assert any("human_debate " in l and " 154 " in l and "84.4%" in l for l in lines)
    assert any("human_consultancy (all)" in l and " 96 " in l and "74.0%" in l for l in lines)

    bad = CliRunner().invoke(app, ["import-nyu", str(db_path.parent / "nowhere"), "--db", str(db_path.parent / "x.sqlite")])
    assert bad.exit_code == 2
    assert "no such folder" in bad.output and not (db_path.parent / "x.sqlite").exists()


# -- small copies: errors, resuming, rooms in progress ---------------------------------------------


def _small_copy(tmp_path: Path, names: list[str]) -> Path:
    root = tmp_path / "release"
    (root / "debates").mkdir(parents=True)
    lines = {json.loads(l)["name"]: l for l in (DATA / "debates-metadata.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()}
    (root / "debates-metadata.jsonl").write_text("".join(lines[n] + "\n" for n in names), encoding="utf-8")
    for n in names:
        shutil.copy(DATA / "debates" / f"{n}.json", root / "debates" / f"{n}.json")
    return root


@needs_data
def test_malformed_room_names_the_file(tmp_path):
    root = _small_copy(tmp_path, ["a-pail-of-air-0", "end-as-a-hero-8"])
    db = tmp_path / "out.sqlite"
    room = root / "debates" / "end-as-a-hero-8.json"
    room.write_text(room.read_text(encoding="utf-8")[:5000], encoding="utf-8")  # truncated JSON
    with pytest.raises(DatasetError) as err:
        import_nyu(root, db)
    assert str(room) in str(err.value) and "not valid JSON" in str(err.value) and "\n" not in str(err.value)
    assert not db.exists()  # nothing is written before the whole release checks out

    data = json.loads((DATA / "debates" / "end-as-a-hero-8.json").read_text(encoding="utf-8"))
    del data["setup"]["answers"]
    room.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"end-as-a-hero-8\.json: missing field 'setup\.answers'"):
        import_nyu(root, db)

    data = json.loads((DATA / "debates" / "end-as-a-hero-8.json").read_text(encoding="utf-8"))
    data["rounds"][1]["SequentialSpeeches"]["speeches"]["0"]["content"].append({"Quote": {"span": [10, 5]}})
    room.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"end-as-a-hero-8\.json: rounds\[1\]\.SequentialSpeeches\.speeches\.0\.content\[\d+\]: quote span"):
        import_nyu(root, db)

    room.unlink()
    with pytest.raises(DatasetError, match=r"end-as-a-hero-8\.json: no such file \(room listed in debates-metadata\.jsonl line 2\)"):
        import_nyu(root, db)
    (root / "debates-metadata.jsonl").write_text('{"name": "x"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"debates-metadata\.jsonl:1: missing field 'status'"):
        import_nyu(root, db)
    with pytest.raises(DatasetError, match="no such folder"):
        import_nyu(tmp_path / "missing", db)
    assert not db.exists()


@needs_data
def test_rooms_in_progress_and_resuming_an_interrupted_import(tmp_path):
    root = _small_copy(tmp_path, ["a-pail-of-air-0", "the-absurdity-of-family-love-0", "grifters-asteroid-1"])
    db_path = tmp_path / "out.sqlite"
    s = import_nyu(root, db_path, run_name="small", only_complete=False)
    assert (s.rooms_imported, s.unfinished, s.written) == (3, 2, 4)
    with open_database(db_path) as db:
        assert db.counts("small")["episodes"]["running"] == 2 and db.run("small").status == "incomplete"
        rooms = _episodes_by_room(db, "small")
        assert rooms["the-absurdity-of-family-love-0"].chosen is None
        assert db.turns(rooms["the-absurdity-of-family-love-0"].id)
        pail = rooms["a-pail-of-air-0"].id
        n_turns, n_verdicts = len(db.turns(pail)), len(db.verdicts(pail))
    # An import killed half-way through a room leaves it running with part of its transcript.
    con = sqlite3.connect(db_path)
    with con:
        con.execute("UPDATE episodes SET status = 'running', chosen = NULL, correct = NULL WHERE id = ?", (pail,))
        con.execute("DELETE FROM turns WHERE episode_id = ? AND idx > 2", (pail,))
    con.close()
    again = import_nyu(root, db_path, run_name="small", only_complete=False)
    assert (again.written, again.skipped) == (3, 1)  # the unfinished rooms are rewritten, the paper run is done
    with open_database(db_path) as db:
        ep = db.episode(pail)
        assert (ep.status, ep.chosen, ep.correct, ep.attempt) == ("complete", 1, True, 2)
        assert (len(db.turns(pail)), len(db.verdicts(pail))) == (n_turns, n_verdicts)
        assert db.counts("small")["episodes_total"] == 3
