"""A cross-play tournament: the debater the judge finds convincing gets the higher rating."""

from __future__ import annotations

import math
import sqlite3

import pytest

from debate.config import ConfigError, RunConfig
from debate.experts.backend import ScoreRequest
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.orchestrator.tournament import tournament_config
from debate.report.summary import analyse, plot_analysis
from debate.storage import open_database
from tests.helpers import question


def swayed_judge() -> ScriptedBackend:
    """Picks the side whose speech says 'convincing'; a coin-free tie goes to A."""

    def scorer(req: ScoreRequest) -> list[float]:
        sides = {}
        for chunk in req.prompt.split("(defending ")[1:]:
            sides[chunk[0]] = sides.get(chunk[0], 0) + ("convincing" in chunk.split("\n\n")[0])
        best = max(sides, key=lambda k: (sides[k], k == "A")) if sides else "A"
        return [math.log(0.8) if c.strip() == best else math.log(0.2) for c in req.continuations]

    return ScriptedBackend(name="judge", scorer=scorer)


async def test_tournament_ratings_follow_persuasiveness(tmp_path):
    base = RunConfig(name="t", db=str(tmp_path / "t.sqlite"), judge="judge", speech_tokens=8)
    cfg = tournament_config(base, ["strong", "medium", "weak"], rounds=1)
    # 3 self-play pairs + 6 ordered cross pairs (each debater in each seat)
    assert [tuple(p.roles.values()) for p in cfg.protocols] == [
        ("strong", "strong"), ("medium", "medium"), ("weak", "weak"),
        ("strong", "medium"), ("strong", "weak"), ("medium", "strong"),
        ("medium", "weak"), ("weak", "strong"), ("weak", "medium"),
    ]
    backends = {
        "strong": ScriptedBackend(name="strong", replies={"*": "a convincing point</quote>"}),
        "medium": ScriptedBackend(name="medium", replies={"*": ["a convincing point</quote>", "meh</quote>"]}),
        "weak": ScriptedBackend(name="weak", replies={"*": "meh</quote>"}),
        "judge": swayed_judge(),
    }
    qs = [question(f"q{i}", gold=i % 2) for i in range(4)]
    result = await run_experiment(cfg, questions=qs, backends=backends)
    assert (result.total, result.errors) == (9 * 4 * 2, 0)

    db = open_database(cfg.db)
    analysis = analyse(db, "t", n_resamples=200, rating_resamples=50)
    assert analysis.ratings is not None
    rating = {r.player: r.rating for r in analysis.ratings.rows}
    assert rating["strong"] > rating["medium"] > rating["weak"]
    # strong vs weak: strong's side always chosen.
    con = sqlite3.connect(cfg.db)
    rows = con.execute("select correct, chosen, order_json from episodes where variant = 'debate[strong vs weak]'").fetchall()
    assert len(rows) == 8
    for _correct, chosen, order in rows:
        assert chosen == int(order.strip("[]").split(",")[0])  # debater A argues the first shown option
    figures = plot_analysis(analysis, tmp_path / "plots")
    assert any("rating" in p.name for p in figures)


def test_tournament_needs_two_distinct_debaters():
    with pytest.raises(ConfigError, match="at least two"):
        tournament_config(RunConfig(), ["solo"])
    with pytest.raises(ConfigError, match="twice"):
        tournament_config(RunConfig(), ["a", "a"])
