"""KV reuse on the embedded Gemma 3 270M: one real debate episode with and without it.

    python bench/prefix_reuse.py [--story-tokens 6000] [--rounds 3] [--tokens 100] [--dtype float32]

The episode is the built-in ``debate`` protocol (simultaneous rounds, the default) plus the
log-prob judge, run through ``run_experiment`` and the local backend exactly as ``debate run``
runs it, on one question whose story is the longest context in the shipped QuALITY sample with
the next-longest appended, cut to --story-tokens tokens. Three settings, one after the other in
one process, each from empty caches:

- none: every model call prefills its whole prompt, story included (``Engine.reuse = False``);
- passage: the story's KV is computed once and shared (the passage prefix cache alone);
- passage + turns: also each call's own tokens are kept (``turn_cache.py``), and rows of a
  batch that share a stem prefill it once.

Printed per setting: wall time, tokens prefilled, and that count against "story + all new
text": the distinct tokens of all the episode's prompts (a token trie per prefix: the story, the
question and framing, every cue and every rendered speech, each once), i.e. what a perfect prefix
cache would prefill. The speeches are greedy; the script says whether all three settings wrote
the same ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from debate import ProtocolSpec, Question, RunConfig, run_experiment
from debate.experts.local import LocalBackend
from debate.experts.local.prefix_cache import PrefixCache
from debate.experts.local.turn_cache import TurnCache

SETTINGS = ("none", "passage", "passage + turns")


def load_story(count: Any, want_tokens: int, encode: Any, decode: Any) -> Question:
    path = resources.files("debate.datasets") / "data" / "quality_sample.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_ctx: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_ctx.setdefault(r["context"], r)
    stories = sorted(by_ctx.values(), key=lambda r: len(r["context"]), reverse=True)
    first = stories[0]
    text, titles = first["context"], [first["title"]]
    for extra in stories[1:]:
        if count(text) >= want_tokens:
            break
        text += "\n\n" + extra["context"]
        titles.append(extra["title"])
    story = decode(encode(text)[:want_tokens])
    return Question(id="bench", question=first["question"], options=tuple(first["options"]), gold_index=first["gold_index"],
                    context=story, title=None, source={"bench": " + ".join(titles)})


def trie_size(seqs: list[list[int]]) -> int:
    """Distinct nodes of a token trie over ``seqs``: what a perfect prefix cache prefills."""
    root: dict[int, Any] = {}
    n = 0
    for s in seqs:
        node = root
        for t in s:
            if t not in node:
                node[t] = {}
                n += 1
            node = node[t]
    return n


async def one_episode(backend: LocalBackend, question: Question, rounds: int, tokens: int, db: Path, name: str) -> None:
    cfg = RunConfig(name=name, db=str(db), both_orders=False, speech_tokens=tokens, temperature=0.0,
                    protocols=[ProtocolSpec(name="debate", params={"rounds": rounds})])
    result = await run_experiment(cfg, questions=[question], backends={"embedded": backend})
    if (result.completed, result.errors) != (1, 0):
        raise SystemExit(f"{name}: the episode did not complete ({result})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--story-tokens", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=100, help="most tokens per speech (speeches also stop at a blank line)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()

    t0 = time.perf_counter()
    backend = LocalBackend("embedded", dtype=args.dtype)
    engine = backend.engine
    print(f"model loaded in {time.perf_counter() - t0:.1f} s on {engine.device} ({engine.dtype}), "
          f"torch threads {torch.get_num_threads()}", flush=True)
    question = load_story(engine.count_tokens, args.story_tokens, lambda t: engine.encode(t, bos=False), engine.tokenizer.decode)
    print(f"story: {question.source['bench']}, {engine.count_tokens(question.context)} tokens; debate, {args.rounds} "
          f"simultaneous rounds, speeches up to {args.tokens} tokens, greedy; log-prob judge", flush=True)

    calls: list[tuple[str, list[str]]] = []
    generate, score = engine.generate, engine.score

    def gen(prefix: str, rows: list[Any]) -> Any:
        calls.append((prefix, [r.suffix for r in rows]))
        return generate(prefix, rows)

    def sco(prefix: str, prompts: list[str], conts: list[list[str]], adapters: Any = None) -> Any:
        calls.append((prefix, list(prompts)))
        return score(prefix, prompts, conts, adapters)

    engine.generate, engine.score = gen, sco  # type: ignore[method-assign]
    budget = engine.turns.max_bytes  # the default turn_cache_mb
    asyncio.run(one_episode(backend, Question(id="warm", question="Warm?", options=("a", "b"), gold_index=0,
                                              context="A short warm-up story."), 1, 4, Path(tempfile.mkdtemp()) / "w.sqlite", "warm"))

    figures: dict[str, dict[str, Any]] = {}
    speeches: dict[str, list[str]] = {}
    for setting in SETTINGS:
        engine.reuse = setting != "none"
        engine.prefixes = PrefixCache(engine.prefixes.max_entries)
        engine.turns = TurnCache(budget if setting == "passage + turns" else 0)
        engine.prefilled_tokens = 0
        calls.clear()
        db = Path(tempfile.mkdtemp()) / "bench.sqlite"
        t = time.perf_counter()
        peak = [0]
        put = engine.turns.put

        def tracked(*a: Any) -> None:
            put(*a)
            peak[0] = max(peak[0], engine.turns.bytes)

        engine.turns.put = tracked  # type: ignore[method-assign]
        asyncio.run(one_episode(backend, question, args.rounds, args.tokens, db, "bench"))
        wall = time.perf_counter() - t
        con = sqlite3.connect(db)
        speeches[setting] = [r[0] for r in con.execute("select text from turns where kind = 'speech' order by idx")]
        out_tokens = [r[0] for r in con.execute("select completion_tokens from model_calls where purpose = 'generate'")]
        con.close()
        seqs = [engine.encode(p, bos=True) + engine.encode(s, bos=False) for p, rows in calls for s in rows]
        ideal = trie_size(seqs)
        figures[setting] = {"wall_s": round(wall, 2), "prefilled": engine.prefilled_tokens, "ideal": ideal,
                            "calls": len(seqs), "speech_tokens": out_tokens, "turn_cache_peak_mb": round(peak[0] / 2**20, 1)}
        print(f"{setting:16s} {wall:7.1f} s   prefilled {engine.prefilled_tokens:6d} tokens = "
              f"{engine.prefilled_tokens / ideal:.2f}x story + all new text ({ideal})   "
              f"{len(seqs)} calls, speech tokens {out_tokens}, turn cache peak {peak[0] / 2**20:.1f} MB", flush=True)

    base = figures["none"]["wall_s"]
    print()
    print("| setting | wall s | vs none | tokens prefilled | vs story + all new text |")
    print("|---|---:|---:|---:|---:|")
    for s in SETTINGS:
        f = figures[s]
        print(f"| {s} | {f['wall_s']:.1f} | {base / f['wall_s']:.2f}x | {f['prefilled']} | {f['prefilled'] / f['ideal']:.2f}x |")
    same = all(speeches[s] == speeches["none"] for s in SETTINGS)
    print(f"\nsame speeches in all three settings: {same}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "same_speeches": same, "args": vars(args) | {"json": str(args.json)}}, indent=1))


if __name__ == "__main__":
    main()
