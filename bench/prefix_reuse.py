"""Prefix (passage) KV reuse on the embedded Gemma 3 270M: a debate's expert calls with and without it.

    python bench/prefix_reuse.py [--story-tokens 6000] [--speeches 6] [--tokens 24]

The story is the longest context in the shipped QuALITY sample, with the next-longest appended
when that is shorter than --story-tokens, cut to --story-tokens tokens. A 3-round simultaneous
debate has 6 speeches (2 debaters x 3 rounds); each is one Engine.generate call, one row, greedy,
--tokens new tokens, its suffix holding the question, the options and every earlier speech.

WITH reuse: the story's KV is prefilled once (that time is included) and every call forks it.
WITHOUT: engine.prefixes is emptied before every call, so each call prefills the whole story.
Both runs produce the same speeches (greedy, same prompts); the script checks that.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources

import torch

from debate.experts.embedded import embedded_model_dir
from debate.experts.local.engine import Engine, Row
from debate.experts.local.prefix_cache import PrefixCache


def load_story(engine: Engine, want_tokens: int) -> tuple[str, str, list[str], list[str]]:
    path = resources.files("debate.datasets") / "data" / "quality_sample.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_ctx: dict[str, dict] = {}
    for r in rows:
        by_ctx.setdefault(r["context"], r)
    stories = sorted(by_ctx.values(), key=lambda r: len(r["context"]), reverse=True)
    first = stories[0]
    text, titles = first["context"], [first["title"]]
    for extra in stories[1:]:
        if engine.count_tokens(text) >= want_tokens:
            break
        text += "\n\n" + extra["context"]
        titles.append(extra["title"])
    ids = engine.encode(text, bos=False)[:want_tokens]
    return engine.tokenizer.decode(ids), first["question"], list(first["options"]), titles


def debate(engine: Engine, story: str, question: str, options: list[str], speeches: int, tokens: int,
           reuse: bool) -> tuple[float, list[float], list[str], int]:
    """(wall s, s per call, speeches, tokens prefilled: the story once with reuse, every call without, plus every suffix)."""
    prefix = f"Story:\n{story}\n\n"
    transcript = ""
    per_call, texts = [], []
    p_len = len(engine.encode(prefix, bos=True))
    prefilled = p_len if reuse else 0
    t0 = time.perf_counter()
    for i in range(speeches):
        side = "AB"[i % 2]
        opt = options["AB".index(side)]
        suffix = (f"Question: {question}\nA: {options[0]}\nB: {options[1]}\n\n{transcript}"
                  f"Debater {side} (round {i // 2 + 1}): My answer is {side}: \"{opt}\". The story says:")
        if not reuse:
            engine.prefixes = PrefixCache(engine.prefixes.max_entries)
        c0 = time.perf_counter()
        (res,) = engine.generate(prefix, [Row(suffix=suffix, max_tokens=tokens, temperature=0.0, seed=0)])
        per_call.append(time.perf_counter() - c0)
        texts.append(res.text)
        prefilled += res.prompt_tokens - (p_len if reuse else 0)
        transcript += f"Debater {side} (round {i // 2 + 1}): My answer is {side}: \"{opt}\". The story says:{res.text}\n\n"
    return time.perf_counter() - t0, per_call, texts, prefilled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--story-tokens", type=int, default=6000)
    ap.add_argument("--speeches", type=int, default=6)
    ap.add_argument("--tokens", type=int, default=24)
    args = ap.parse_args()

    t0 = time.perf_counter()
    engine = Engine(embedded_model_dir())
    print(f"model loaded in {time.perf_counter() - t0:.1f} s on {engine.device} ({engine.dtype}), "
          f"torch threads {torch.get_num_threads()}", flush=True)
    story, question, options, titles = load_story(engine, args.story_tokens)
    n_tok = engine.count_tokens(f"Story:\n{story}\n\n") + 1  # + BOS
    print(f"story: {' + '.join(titles)}, {len(story)} chars, prefix {n_tok} tokens incl. BOS", flush=True)
    print(f"{args.speeches} speeches x {args.tokens} tokens, greedy, one row per call", flush=True)

    # Warm-up (kernels, allocator) on a short prefix so neither timed run pays for it.
    engine.generate("Warm-up passage.", [Row(suffix="Hello", max_tokens=2)])
    engine.prefixes = PrefixCache(engine.prefixes.max_entries)

    with_wall, with_calls, with_texts, with_tok = debate(engine, story, question, options, args.speeches, args.tokens, reuse=True)
    print(f"WITH reuse:    {with_wall:7.1f} s  per call " + " ".join(f"{x:.1f}" for x in with_calls), flush=True)
    without_wall, without_calls, without_texts, without_tok = debate(engine, story, question, options, args.speeches, args.tokens, reuse=False)
    print(f"WITHOUT reuse: {without_wall:7.1f} s  per call " + " ".join(f"{x:.1f}" for x in without_calls), flush=True)
    print(f"speedup from prefix reuse: {without_wall / with_wall:.2f}x "
          f"(first call {with_calls[0]:.1f} s includes the one prefill; later calls with reuse "
          f"average {sum(with_calls[1:]) / max(1, len(with_calls) - 1):.1f} s, without "
          f"{sum(without_calls[1:]) / max(1, len(without_calls) - 1):.1f} s)")
    print("same speeches in both runs:", with_texts == without_texts)
    cues = [f"Debater {'AB'[i % 2]} (round {i // 2 + 1}): My answer is {'AB'[i % 2]}: \"{options[i % 2]}\". The story says:"
            for i in range(args.speeches)]
    new_text = engine.count_tokens(f"Question: {question}\nA: {options[0]}\nB: {options[1]}\n\n") + sum(
        engine.count_tokens(c + t + "\n\n") for c, t in zip(cues, with_texts))  # every speech and its cue, once
    print(f"tokens prefilled per debate: with reuse {with_tok}, without {without_tok}; story + all new text "
          f"(question, options, every speech and its cue once) {n_tok + new_text}: with reuse {with_tok / (n_tok + new_text):.2f}x")


if __name__ == "__main__":
    main()
