"""Call records report the model's latency; waiting for a free connection is stored apart."""

from __future__ import annotations

import json
import sqlite3

from debate.config import ModelSpec, ProtocolSpec, RunConfig
from debate.orchestrator import run_experiment
from tests.helpers import question


async def test_latency_excludes_queueing(tmp_path):
    cfg = RunConfig(
        name="lat", db=str(tmp_path / "lat.sqlite"), expert="slow", judge="slow", both_orders=True,
        models={"slow": ModelSpec(backend="scripted", delay_s=0.2, max_concurrency=1)},
        protocols=[ProtocolSpec(name="direct_blind")],
    )
    await run_experiment(cfg, questions=[question(f"q{i}") for i in range(3)])
    rows = sqlite3.connect(cfg.db).execute("select latency_s, params_json from model_calls").fetchall()
    assert len(rows) == 6
    assert all(0.15 <= lat < 0.6 for lat, _ in rows)  # one call's own time, never the queue behind it
    queued = sorted(json.loads(p)["queue_s"] for _, p in rows)
    assert queued[0] < 0.1 and queued[-1] >= 0.8  # the last of 6 one-at-a-time calls waited for 5
