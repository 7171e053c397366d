"""SIGKILL the real CLI mid-run, again and again, at seeded random points; re-run the same command:
finished work is kept unchanged, nothing doubles."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

QUESTIONS = 10
# per question: 2 orders x (blind 1 + consultancy 2 sides + debate 1) = 8 episodes
EPISODES = QUESTIONS * 8
TURNS = QUESTIONS * 2 * (2 * 1 + 2 * 1)  # consultancy 1 round x 2 sides, debate 1 round x 2 debaters


def write_inputs(tmp_path):
    data = tmp_path / "qs.jsonl"
    data.write_text("".join(
        json.dumps({"id": f"k{i}", "question": f"Q{i}?", "options": ["yes", "no"], "gold_index": i % 2,
                    "context": f"Passage {i}: the answer is {'yes' if i % 2 == 0 else 'no'}."}) + "\n"
        for i in range(QUESTIONS)
    ))
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"""
name: killme
db: {tmp_path / 'kill.sqlite'}
dataset: {data}
expert: slow
judge: slow
max_in_flight: 2
models:
  slow: {{backend: scripted, delay_s: 0.05, replies: {{"*": "I stand by my answer."}}}}
protocols:
  - {{name: direct_blind}}
  - {{name: consultancy, params: {{rounds: 1}}}}
  - {{name: debate, params: {{rounds: 1}}}}
""")
    return cfg, tmp_path / "kill.sqlite"


def snapshot(db):
    con = sqlite3.connect(db)
    try:
        done = con.execute("select id, chosen, correct, parse_status, finished_at from episodes where status='complete'").fetchall()
        turns = con.execute(
            "select t.episode_id, t.idx, t.role, t.text, t.created_at from turns t join episodes e on e.id=t.episode_id "
            "where e.status='complete'"
        ).fetchall()
        verdicts = con.execute(
            "select v.episode_id, v.chosen, v.is_final, v.probabilities_json from verdicts v "
            "join episodes e on e.id=v.episode_id where e.status='complete'"
        ).fetchall()
        return set(done), set(turns) | {("verdict", *v) for v in verdicts}
    finally:
        con.close()


def count_complete(db) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=1)
        n = con.execute("select count(*) from episodes where status='complete'").fetchone()[0]
        con.close()
        return n
    except sqlite3.OperationalError:
        return 0


KILLS = 20


def test_sigkill_then_rerun_finishes_without_duplicates(tmp_path):
    """``KILLS`` SIGKILLs at seeded random points: a random time after start (often during start-up,
    schema creation or the first calls) or just after a random few more episodes have finished."""
    cfg, db = write_inputs(tmp_path)
    cmd = [sys.executable, "-m", "debate", "run", str(cfg)]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    rng = random.Random(20240611)
    snapshots = []
    mid_run = 0
    for trial in range(KILLS):
        before = count_complete(db)
        assert before < EPISODES - 2, f"trial {trial}: too little work left to kill mid-run"
        # Never let a run finish: stop at most three episodes further on, whatever the mode.
        target = before + rng.randint(1, 3)
        at_time = rng.uniform(0.3, 3.5) if rng.random() < 0.4 else None
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        t0 = time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < 60:
            if at_time is not None and time.monotonic() - t0 >= at_time:
                break
            if count_complete(db) >= target:
                time.sleep(rng.uniform(0, 0.03))  # land anywhere inside the next episode's writes
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"trial {trial}: the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        snap = snapshot(db) if db.exists() else (set(), set())
        mid_run += 0 < len(snap[0]) < EPISODES and len(snap[0]) > before
        if snapshots:  # finished work from earlier trials is still there, unchanged
            assert snapshots[-1][0] <= snap[0] and snapshots[-1][1] <= snap[1], f"trial {trial}"
        snapshots.append(snap)
    assert mid_run >= KILLS // 2, "most kills should land while episodes were finishing"

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    after_eps, after_turns = snapshot(db)
    for before_eps, before_turns in snapshots:
        assert before_eps <= after_eps and before_turns <= after_turns  # finished work untouched
    con = sqlite3.connect(db)
    assert con.execute("select count(*), count(distinct id) from episodes").fetchone() == (EPISODES, EPISODES)
    assert con.execute("select count(*) from episodes where status='complete'").fetchone() == (EPISODES,)
    assert con.execute("select count(*) from turns").fetchone() == (TURNS,)
    assert con.execute("select count(*) from verdicts where is_final").fetchone() == (EPISODES,)
    # No turn index repeats inside an episode.
    assert con.execute("select count(*) from (select episode_id, idx from turns group by 1, 2 having count(*) > 1)").fetchone() == (0,)
