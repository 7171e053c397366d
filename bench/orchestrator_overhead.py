"""Orchestrator overhead: whole runs on an instant scripted model, SQLite writes included.

    python bench/orchestrator_overhead.py [--episodes 256] [--in-flight 1,4,16,64]

Every episode is a 3-round `debate` (two debaters, 6 speeches) plus a log-prob judge call, on a
synthetic two-option question with a short passage. The models answer instantly (ScriptedBackend,
no delay), so the wall time is all orchestrator: planning, prompt building, quote checks, the
single SQLite writer (WAL), progress accounting. Each in-flight setting runs into a fresh SQLite
file in its own temp dir; all settings are measured in the same process, one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from debate.config import ProtocolSpec, RunConfig
from debate.core.question import Question
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment

PASSAGE = (
    "Mara kept the lighthouse on Gull Rock for eleven years. The violet walrus sang opera beneath "
    "the frozen harbour at midnight. Every night she counted the ships that passed, and wrote the "
    "number in a green ledger. In the spring of her last year a storm took the lamp's lens, and she "
    "rowed to the mainland for another."
)


def questions(n: int) -> list[Question]:
    return [
        Question(
            id=f"q{i}", question=f"How long did Mara keep the lighthouse? (#{i})",
            options=("Five years", "Eleven years"), gold_index=i % 2, context=PASSAGE,
            title="Gull Rock", source={"dataset": "bench"},
        )
        for i in range(n)
    ]


def backends() -> dict[str, ScriptedBackend]:
    expert = ScriptedBackend(
        name="expert",
        replies={"*": 'every night she counted the ships that passed</quote> so my answer is right.'},
        scorer=lambda req: [-0.1] + [-3.0] * (len(req.continuations) - 1),
    )
    judge = ScriptedBackend(name="judge", scorer=lambda req: [-0.1] + [-3.0] * (len(req.continuations) - 1))
    return {"expert": expert, "judge": judge}


async def one_setting(in_flight: int, episodes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="debate-bench-") as tmp:
        db = Path(tmp) / "runs.sqlite"
        cfg = RunConfig(
            name="bench", db=str(db), expert="expert", judge="judge",
            protocols=[ProtocolSpec(name="debate", params={"rounds": 3})],
            both_orders=False, max_in_flight=in_flight, speech_tokens=24,
        )
        qs = questions(episodes)
        bk = backends()
        t0 = time.perf_counter()
        result = await run_experiment(cfg, questions=qs, backends=bk)
        wall = time.perf_counter() - t0
        con = sqlite3.connect(db)
        calls = con.execute("select count(*) from model_calls").fetchone()[0]
        turns = con.execute("select count(*) from turns").fetchone()[0]
        con.close()
    assert result.completed == episodes and result.errors == 0, result
    return {"in_flight": in_flight, "episodes": episodes, "wall": wall, "calls": calls, "turns": turns}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=256)
    ap.add_argument("--in-flight", default="1,4,16,64", help="comma-separated max_in_flight values")
    args = ap.parse_args()
    settings = [int(x) for x in args.in_flight.split(",")]

    rows = []
    for k in settings:
        r = asyncio.run(one_setting(k, args.episodes))
        rows.append(r)
        print(f"  in-flight {k}: {r['wall']:.2f} s", flush=True)

    base = rows[0]["episodes"] / rows[0]["wall"]
    print()
    print(f"3-round debate + judge per episode; {rows[0]['calls'] // rows[0]['episodes']} model calls "
          f"and {rows[0]['turns'] // rows[0]['episodes']} turns per episode; instant scripted model; SQLite writes included")
    head = f"{'in-flight':>9} {'episodes':>8} {'wall s':>7} {'episodes/s':>10} {'ms/episode':>10} {'calls/s':>8} {'vs in-flight=' + str(rows[0]['in_flight']):>15}"
    print(head)
    print("-" * len(head))
    for r in rows:
        eps = r["episodes"] / r["wall"]
        print(f"{r['in_flight']:>9} {r['episodes']:>8} {r['wall']:>7.2f} {eps:>10.1f} "
              f"{1000 * r['wall'] / r['episodes']:>10.2f} {r['calls'] / r['wall']:>8.0f} {eps / base:>14.2f}x")
    print("\nms/episode = wall / episodes: the model is instant, so all of it is orchestrator overhead.")


if __name__ == "__main__":
    main()
