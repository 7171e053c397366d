"""The routed-experts report on a scripted run: accuracy, routing accuracy, paths and compute per
strategy, with exact numbers, through the Python API and through ``debate report``/``analyse``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from debate.cli.app import app
from debate.config import ProtocolSpec, RunConfig
from debate.core.question import Question
from debate.experts.routing import routing_text
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.report.summary import analyse
from debate.storage import open_database
from debate.storage.analysis_queries import episode_compute
from tests.helpers import prefers
from tests.routing.fakes import FakeHost, library, with_cosines

QUESTIONS = [
    Question(id="m1", question="Which drug treats the infection?", options=("Penicillin", "Aspirin"), gold_index=0,
             source={"domain": "medical"}),
    Question(id="s1", question="Which gas do plants take in?", options=("Oxygen", "Carbon dioxide"), gold_index=1,
             source={"domain": "science"}),
    # A science question that the embeddings put nearest the medical centroid: a routing mistake.
    Question(id="x1", question="Which colour is the sky at noon?", options=("Blue", "Green"), gold_index=0,
             source={"domain": "science"}),
]
COSINES = {"m1": [0.9, 0.4, 0.1], "s1": [0.3, 0.95, 0.0], "x1": [0.5, 0.4, 0.3]}
ANSWERS = {("medical", "m1"): "A", ("science", "m1"): "B", ("medical", "s1"): "B", ("science", "s1"): "B",
           ("medical", "x1"): "A", ("science", "x1"): "A"}
SPEECH = "it follows from what is known."
PROTOCOLS = [
    ProtocolSpec(name="routed", label="routed"),
    ProtocolSpec(name="routed", params={"null_share": 0.5}, label="routed-null"),
    ProtocolSpec(name="routed", params={"k": 2, "debate_rounds": 1}, label="routed-k2"),
    ProtocolSpec(name="routed", params={"router": "oracle", "policy": "always_consult"}, label="oracle"),
    ProtocolSpec(name="direct_blind"),
]


def models() -> tuple[FakeHost, ScriptedBackend]:
    by_text = {q.question: q.id for q in QUESTIONS}

    def answer(req):
        qid = next(i for text, i in by_text.items() if text in req.prompt)
        return prefers(ANSWERS[(req.adapter, qid)])(req)

    def verdict(req):  # the judge follows a speech defending B, else answers A
        return prefers("B" if "defending B" in req.prompt else "A")(req)

    vectors = {routing_text(q): with_cosines(COSINES[q.id]) for q in QUESTIONS}
    expert = FakeHost(library(), vectors, name="expert", replies={"*": SPEECH}, scorer=answer)
    return expert, ScriptedBackend(name="judge", scorer=verdict)


@pytest.fixture
async def scripted_run(tmp_path):
    expert, judge = models()
    cfg = RunConfig(name="mix", db=str(tmp_path / "mix.sqlite"), expert="expert", judge="judge", both_orders=False,
                    protocols=PROTOCOLS, speech_tokens=8)
    result = await run_experiment(cfg, questions=QUESTIONS, backends={"expert": expert, "judge": judge})
    assert result.completed == 15 and result.errors == 0
    return cfg.db, expert, judge


async def test_routing_table_has_exact_accuracy_routing_paths_and_compute(scripted_run):
    db_path, expert, judge = scripted_run
    db = open_database(db_path)
    rows = {r.variant: r for r in analyse(db, "mix", n_resamples=200, rating_resamples=0).routing}
    assert list(rows) == ["direct_blind", "oracle", "routed", "routed-k2", "routed-null"]
    got = {v: (r.n, r.correct, r.routing_correct, r.routing_scored, r.null_first, r.paths, r.mean_calls)
           for v, r in rows.items()}
    assert got == {
        "routed": (3, 3, 2, 3, 0, {"null": 0, "consult": 3, "agree_consult": 0, "debate": 0}, 4.0),
        "routed-null": (3, 3, 2, 2, 1, {"null": 1, "consult": 2, "agree_consult": 0, "debate": 0}, 10 / 3),
        "routed-k2": (3, 2, 2, 3, 0, {"null": 0, "consult": 0, "agree_consult": 2, "debate": 1}, 16 / 3),
        "oracle": (3, 3, 3, 3, 0, {"null": 0, "consult": 3, "agree_consult": 0, "debate": 0}, 3.0),
        "direct_blind": (3, 2, 0, 0, 0, {}, 1.0),
    }
    assert rows["routed-k2"].routing_accuracy == pytest.approx(2 / 3)
    assert rows["routed-null"].routing_accuracy == 1.0 and rows["direct_blind"].routing_accuracy is None
    assert (rows["routed-k2"].ci_low, rows["routed-k2"].ci_high) == pytest.approx((0.2077, 0.9385), abs=1e-4)
    # Tokens: what the scripted models were sent and replied (words), embedding passes included.
    total = sum(len(r.full_prompt.split()) for r in expert.calls + judge.calls)
    total += sum(len(SPEECH.split()) for r in expert.calls if hasattr(r, "max_tokens"))
    total += sum(len(t.split()) for t in expert.embedded)
    assert sum(r.mean_tokens * r.n for r in rows.values()) == pytest.approx(total)
    for ep in episode_compute(db, "mix"):
        calls = db.calls(episode_id=ep.episode_id)
        assert (ep.calls, ep.tokens) == (len(calls), sum(c.prompt_tokens + c.completion_tokens for c in calls))
    db.close()


async def test_report_and_analyse_print_the_table_and_plot_accuracy_vs_compute(scripted_run, tmp_path):
    db_path, _, _ = scripted_run
    out = CliRunner().invoke(app, ["report", db_path, "--run", "mix"])
    assert out.exit_code == 0, out.output
    assert "Routed experts: accuracy vs compute" in out.output
    line = next(ln for ln in out.output.splitlines() if "routed-k2" in ln and "%" in ln and "(2/3)" in ln)
    for cell in ("66.7%", "2 (67%)", "1 (33%)", "5.33"):
        assert cell in line
    null_line = next(ln for ln in out.output.splitlines() if "routed-null" in ln and "(2/2)" in ln)
    assert "100.0% (2/2)" in null_line and "1 (33%)" in null_line
    figures = tmp_path / "figs"
    out = CliRunner().invoke(app, ["analyse", db_path, "--run", "mix", "--resamples", "200", "--plot", str(figures)])
    assert out.exit_code == 0, out.output
    assert "Routed experts: accuracy vs compute" in out.output
    assert (figures / "accuracy_vs_compute.png").stat().st_size > 10_000


async def test_no_routing_table_without_routed_episodes(tmp_path):
    cfg = RunConfig(name="plain", db=str(tmp_path / "p.sqlite"), expert="judge", judge="judge", both_orders=False,
                    protocols=[ProtocolSpec(name="direct_blind")])
    await run_experiment(cfg, questions=QUESTIONS, backends={"judge": ScriptedBackend(name="judge")})
    out = CliRunner().invoke(app, ["report", cfg.db, "--run", "plain"])
    assert out.exit_code == 0 and "Routed experts" not in out.output
    assert analyse(open_database(cfg.db), "plain", n_resamples=50).routing == []
