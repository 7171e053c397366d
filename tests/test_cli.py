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
    assert again.exit_code == 2 and "different settings (seed)" in one_error_line(again)


def test_report_on_missing_db(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 2
    assert "no such database" in one_error_line(result)


def test_protocol_flag_params_are_typed():
    from debate.cli.app import _protocol_flag

    spec = _protocol_flag("debate:rounds=3,simultaneous=false")
    assert spec.name == "debate" and spec.params == {"rounds": 3, "simultaneous": False}


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("debate:rounds=abc", "protocols[0].params: rounds: Input should be a valid integer"),
        ("debate:rounds=1.5", "protocols[0].params: rounds: Input should be a valid integer"),
        ("debate:rounds=0", "protocols[0].params: rounds: Input should be greater than or equal to 1"),
        ("debate:simultaneous=maybe", "protocols[0].params: simultaneous: Input should be a valid boolean"),
        ("consultancy:side=wrong", "protocols[0].params: parameter 'side' of 'consultancy' is set per variant"),
    ],
)
def test_bad_protocol_parameter_values(tmp_path, flag, message):
    result, db = invoke(tmp_path, "-p", flag, "--expert", "scripted", "--judge", "scripted")
    assert result.exit_code == 2
    assert message in one_error_line(result)
    assert not db.exists()


def test_settings_get_their_own_rows_and_duplicates_run_once(tmp_path):
    data = tmp_path / "qs.jsonl"
    write_jsonl(data, [GOOD])
    args = ["--dataset", str(data), "--expert", "scripted", "--judge", "scripted",
            "-p", "debate", "-p", "debate:rounds=2", "-p", "debate:simultaneous=false,interactive=true"]
    result, db = invoke(tmp_path, *args)
    assert result.exit_code == 0, result.stderr
    import sqlite3

    rows = sqlite3.connect(db).execute("select variant, count(*) from episodes group by variant order by variant").fetchall()
    assert rows == [("debate", 2), ("debate(interactive=True,simultaneous=False)", 2)]


def test_three_option_question_is_refused_for_debate(tmp_path):
    data = tmp_path / "three.jsonl"
    write_jsonl(data, [dict(GOOD, options=["a", "b", "c"], gold_index=2)])
    result, db = invoke(tmp_path, "--dataset", str(data), "--expert", "scripted", "--judge", "scripted", "-p", "debate")
    assert result.exit_code == 2
    assert "has 3 options; 'debate' argues exactly two" in one_error_line(result)
    assert not db.exists()


def test_markup_in_names_is_shown_literally(tmp_path):
    data = tmp_path / "qs.jsonl"
    write_jsonl(data, [dict(GOOD, question="Is [bold]this[/] [link=x]ok[/link] [?")])
    result, db = invoke(tmp_path, "--dataset", str(data), "--expert", "scripted", "--judge", "scripted",
                        "--name", "x[/]", "-p", "direct_blind")
    assert result.exit_code == 0, result.stderr
    assert "run x[/]" in result.output and "Judge accuracy — x[/]" in result.output


def test_config_that_is_a_directory_or_not_utf8(tmp_path):
    result, _ = invoke(tmp_path, str(tmp_path))
    assert result.exit_code == 2 and "not a file" in one_error_line(result)
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    result, _ = invoke(tmp_path, str(bad))
    assert result.exit_code == 2 and "not UTF-8" in one_error_line(result)


def test_plugin_protocol_runs_from_the_cli(tmp_path):
    plugin = tmp_path / "my_protocols.py"
    plugin.write_text('''
import debate
from debate import EpisodeContext, Role, Verdict

@debate.protocol("plugin_blind", roles=("judge",))
async def plugin_blind(ctx: EpisodeContext) -> Verdict:
    """The blind judge, registered from a plugin file."""
    return await ctx.decide()
''')
    data = tmp_path / "qs.jsonl"
    write_jsonl(data, [GOOD])
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"plugins: [{plugin}]\nprotocols: [{{name: plugin_blind}}]\nexpert: scripted\njudge: scripted\ndataset: {data}\n")
    result, db = invoke(tmp_path, str(cfg))
    assert result.exit_code == 0, result.stderr
    assert "plugin_blind" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("plugins: [no_such_module_xyz]\nexpert: scripted\njudge: scripted\n")
    result, _ = invoke(tmp_path, str(bad))
    assert result.exit_code == 2 and "plugins[0]: importing 'no_such_module_xyz' failed" in one_error_line(result)
