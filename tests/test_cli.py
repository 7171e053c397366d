"""The CLI on bad input: one line naming the problem and the place, exit != 0, nothing written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from debate.cli.app import app

runner = CliRunner()


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


GOOD = {"id": "g1", "question": "Which?", "options": ["x", "y"], "gold_index": 0, "context": "A passage."}


def invoke(tmp_path, *args):
    db = tmp_path / "out.sqlite"
    result = runner.invoke(app, ["run", "--db", str(db), *args])
    return result, db


def one_error_line(result) -> str:
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_unknown_protocol(tmp_path):
    result, db = invoke(tmp_path, "--protocol", "debait", "--expert", "scripted", "--judge", "scripted")
    assert result.exit_code == 2
    assert "protocols[0].name: unknown protocol 'debait'" in one_error_line(result)
    assert not db.exists()


def test_unknown_model_in_config_file(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("expert: gpt5000\njudge: scripted\n")
    result, db = invoke(tmp_path, str(cfg))
    assert result.exit_code == 2
    assert "unknown model 'gpt5000'" in one_error_line(result)
    assert not db.exists()


def test_config_field_error_names_file_and_field(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("limit: -3\n")
    result, db = invoke(tmp_path, str(cfg))
    line = one_error_line(result)
    assert str(cfg) in line and "field 'limit'" in line
    assert result.exit_code == 2 and not db.exists()


def test_dataset_line_missing_options(tmp_path):
    data = tmp_path / "qs.jsonl"
    bad = dict(GOOD, id="g2")
    del bad["options"]
    write_jsonl(data, [GOOD, bad])
    result, db = invoke(tmp_path, "--dataset", str(data), "--expert", "scripted", "--judge", "scripted")
    line = one_error_line(result)
    assert f"{data}:2:" in line and "options" in line
    assert result.exit_code == 2 and not db.exists()


def test_empty_dataset_file(tmp_path):
    data = tmp_path / "empty.jsonl"
    data.write_text("")
    result, db = invoke(tmp_path, "--dataset", str(data), "--expert", "scripted", "--judge", "scripted")
    line = one_error_line(result)
    assert str(data) in line and "empty" in line
    assert result.exit_code == 2 and not db.exists()


def test_scripted_run_then_report_and_mismatch(tmp_path):
    data = tmp_path / "qs.jsonl"
    write_jsonl(data, [GOOD, dict(GOOD, id="g2", gold_index=1)])
    args = ["--dataset", str(data), "--expert", "scripted", "--judge", "scripted", "-p", "direct_blind", "-p", "debate:rounds=1"]
    result, db = invoke(tmp_path, *args)
    assert result.exit_code == 0, result.output + result.stderr
    assert "8 episodes run" in result.output
    report = runner.invoke(app, ["report", str(db)])
    assert report.exit_code == 0
    assert "direct_blind" in report.output and "debate" in report.output
    # The same name with another config refuses to resume.
    again, _ = invoke(tmp_path, *args, "--seed", "5")
    assert again.exit_code == 2 and "config" in one_error_line(again).lower()


def test_report_on_missing_db(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 2
    assert "no such database" in one_error_line(result)


def test_protocol_flag_params_are_typed():
    from debate.cli.app import _protocol_flag

    spec = _protocol_flag("debate:rounds=3,simultaneous=false")
    assert spec.name == "debate" and spec.params == {"rounds": 3, "simultaneous": False}
