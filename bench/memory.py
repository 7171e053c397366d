"""Peak resident memory (RSS) of the default run: ``debate run`` with its defaults, in a fresh folder.

    nice -n 10 python bench/memory.py [--limit N]      # N questions of the default sample (default: all 12)

The run is a child process (``python -m debate run``, a new database in a temporary folder, the
embedded model, every default protocol and option order). Its peak RSS is the kernel's high-water
mark for the largest process of the run (``getrusage(RUSAGE_CHILDREN).ru_maxrss``, read after it
exits); a sampler also sums the RSS of the run's whole process tree every 0.2 s, in case a run
ever starts helpers. The target is 3 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_BYTES = 3 * 1000**3


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and every process below it (0 once it is gone)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue  # the process ended between listing and reading: it holds no memory now
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="questions of the default sample (default: all, the full default run)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "debate", "run", "--db", str(Path(d) / "runs.sqlite")]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        print("running:", " ".join(cmd[1:]), f"(in {d})", flush=True)
        peak_tree, samples = 0, 0
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_tree, samples
            while not stop.is_set():
                peak_tree = max(peak_tree, tree_rss(proc.pid))
                samples += 1
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = proc.communicate()
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
        if proc.returncode != 0:
            sys.exit(f"debate run failed (exit {proc.returncode}):\n{err[-2000:]}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB
        con = sqlite3.connect(Path(d) / "runs.sqlite")
        episodes, complete = con.execute("select count(*), sum(status = 'complete') from episodes").fetchone()
        calls = con.execute("select count(*) from model_calls").fetchone()[0]
        con.close()
    print(f"| run | episodes (complete) | model calls | wall s | peak RSS (largest process) | peak RSS (process tree, sampled) | vs 3 GB target |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    label = f"debate run --limit {args.limit}" if args.limit else "debate run (full default)"
    print(f"| {label} | {episodes} ({complete}) | {calls} | {wall:.0f} | {peak / 1e9:.2f} GB | {peak_tree / 1e9:.2f} GB ({samples} samples) "
          f"| {'within' if max(peak, peak_tree) <= TARGET_BYTES else 'OVER'} ({max(peak, peak_tree) / TARGET_BYTES:.2f}x) |")


if __name__ == "__main__":
    main()
