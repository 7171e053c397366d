"""``debate serve`` over HTTP vs the same local backend in process, on the embedded Gemma 3 270M.

    python bench/serve_throughput.py [--requests 16] [--tokens 24] [--concurrency 1,4,16] [--library shipped]

Starts one ``debate serve embedded`` subprocess on a free 127.0.0.1 port and, in this process, a
``LocalBackend`` on the same weights. For each concurrency c it sends the same ``--requests``
prompts (c in flight at a time), greedy, ``--tokens`` new tokens each: over HTTP as OpenAI
``/v1/completions`` requests (httpx, what litellm sends), and in process as ``generate`` calls.
Both sides batch concurrent requests in the backend's batcher, so the ratio served / in-process
is what HTTP, JSON and the server's event loop cost. Prints completion tokens/s per side and
the ratio; the two sides run one after the other, never at once (2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from debate.serve.launch import free_port, wait_healthy

QUESTION = ("Question: A student mixes baking soda and vinegar and sees bubbles. What do the bubbles show?\n"
            "A: A gas is produced\nB: The liquid is boiling\n\n")


def prompts(n: int) -> list[str]:
    """Distinct prompts (no cross-request prefix sharing on either side)."""
    return [f"Case {i}. " + QUESTION + f"Expert {i % 3 + 1}: The correct answer is" for i in range(n)]


def start(port: int, library: str | None, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "debate", "serve", "embedded", "--port", str(port), "--max-batch", "16"]
    if library:
        cmd += ["--library", library]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, timeout_s=600, interval_s=0.5, log=log.read_text)
    except RuntimeError as exc:
        proc.kill()
        raise SystemExit(str(exc)) from None
    return proc


async def over_http(port: int, texts: list[str], tokens: int, concurrency: int, model: str) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=600) as client:
        async def one(p: str) -> int:
            async with sem:
                r = await client.post("/completions", json={"model": model, "prompt": p, "max_tokens": tokens,
                                                             "temperature": 0, "seed": 0})
                r.raise_for_status()
                return int(r.json()["usage"]["completion_tokens"])

        t0 = time.perf_counter()
        done = await asyncio.gather(*(one(p) for p in texts))
        return time.perf_counter() - t0, sum(done)


async def in_process(backend: object, texts: list[str], tokens: int, concurrency: int, adapter: str | None) -> tuple[float, int]:
    from debate.experts.backend import GenerateRequest

    sem = asyncio.Semaphore(concurrency)

    async def one(p: str) -> int:
        async with sem:
            g = await backend.generate(GenerateRequest(prompt=p, max_tokens=tokens, temperature=0.0, seed=0, adapter=adapter))  # type: ignore[attr-defined]
            return g.usage.completion_tokens

    t0 = time.perf_counter()
    done = await asyncio.gather(*(one(p) for p in texts))
    return time.perf_counter() - t0, sum(done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--library", default=None, help="serve a LoRA library too and send every request to --expert")
    ap.add_argument("--expert", default=None)
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    texts = prompts(args.requests)

    from debate.experts.local import LocalBackend

    port = free_port()
    log = Path(tempfile.mkdtemp()) / "serve.log"
    t0 = time.perf_counter()
    proc = start(port, args.library, log)
    print(f"debate serve ready on 127.0.0.1:{port} in {time.perf_counter() - t0:.1f} s", flush=True)
    backend = LocalBackend("embedded", name="bench", library=args.library, max_batch=16)
    model = args.expert or "embedded"
    try:
        asyncio.run(over_http(port, texts[:1], 2, 1, model))  # warm-up: first-request costs
        asyncio.run(in_process(backend, texts[:1], 2, 1, args.expert))
        rows = []
        for c in levels:
            ws, ns = asyncio.run(over_http(port, texts, args.tokens, c, model))
            wl, nl = asyncio.run(in_process(backend, texts, args.tokens, c, args.expert))
            rows.append((c, ns / ws, nl / wl, (ns / ws) / (nl / wl), ns, nl))
            print(f"  concurrency {c}: served {ns} tok in {ws:.1f} s, in-process {nl} tok in {wl:.1f} s", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"\n{args.requests} requests x {args.tokens} tokens, greedy, model={model}")
    print("| concurrency | served tok/s | in-process tok/s | served / in-process |")
    print("|---:|---:|---:|---:|")
    for c, s, l, r, *_ in rows:
        print(f"| {c} | {s:.1f} | {l:.1f} | {r:.2f}x |")
    print(f"| 1 -> {levels[-1]} speed-up (served) | {rows[-1][1] / rows[0][1]:.2f}x | {rows[-1][2] / rows[0][2]:.2f}x | |")


if __name__ == "__main__":
    main()
