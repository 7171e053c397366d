"""Scoring on the local engine: option log-probabilities (the log-prob judge, direct answers)
and OpenAI-style per-token logprobs (``debate serve``). Prompts batch like generation does and
reuse the same passage and turn caches."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from debate.experts.local.moe import Tally, score_phases

if TYPE_CHECKING:
    from debate.experts.local.engine import Engine
    from debate.experts.local.prefix_cache import CachedPrefix


class Scored(tuple):  # type: ignore[type-arg]
    """``(logprobs, prompt_tokens)`` for one scored prompt, carrying ``meta`` (the MoE routing)."""

    meta: dict[str, Any]

    def __new__(cls, logprobs: list[float], prompt_tokens: int, meta: dict[str, Any] | None = None) -> "Scored":
        self = super().__new__(cls, (logprobs, prompt_tokens))
        self.meta = meta or {}
        return self


def score(
    engine: Engine, prefix_text: str, prompts: list[str], continuations: list[list[str]], adapters: list[str | None] | None = None
) -> list[tuple[list[float], int]]:
    """Log-probability of each continuation after ``prefix + prompt``; rows batch together.

    Returns, per prompt, the log-probs and the number of prompt tokens processed (a
    :class:`Scored` pair, whose ``meta["moe"]`` is the prompt's routing on an MoE model).
    """
    adapters = adapters or [None] * len(prompts)
    prefix, mixed = engine._prefixes(prefix_text, adapters)
    row_prefix = mixed or [prefix] * len(prompts)
    tally = engine.moe.tally(len(prompts))
    results: list[tuple[list[float], int]] = [([], 0)] * len(prompts)
    extra: list[dict[str, Any]] = [{} for _ in prompts]
    single: list[int] = []
    for i, conts in enumerate(continuations):
        if all(len(engine.encode(c, bos=False)) == 1 for c in conts):
            single.append(i)
        else:
            engine.adapters.begin([adapters[i]] * len(conts))
            results[i] = _score_multi(engine, row_prefix[i], engine._text_ids(prefix_text, prompts[i]), conts, tally, i)
            engine.adapters.end()
            extra[i] = engine.adapters.meta(0)
    if single:
        suffixes = [engine._text_ids(prefix_text, prompts[i]) or [engine.pad_id] for i in single]
        for s in suffixes:
            engine._check_fits(prefix, s, 1)
        row_caches = [row_prefix[i] for i in single] if mixed else None
        cache, ids, kpos, pos = engine._batch_inputs(prefix, suffixes, row_caches)
        tally.step(single, prompt=kpos[:, -ids.shape[1]:] >= 0)
        engine.adapters.begin([adapters[i] for i in single], kpos[:, -ids.shape[1]:] >= 0)
        logits = engine._forward(cache, ids, kpos, pos)[:, -1, :]
        engine.adapters.end()  # scored prompts are read from the turn cache, not filed: nothing extends them
        logp = torch.log_softmax(logits.float(), dim=-1)
        for b, i in enumerate(single):
            tok = [engine.encode(c, bos=False)[0] for c in continuations[i]]
            results[i] = ([float(logp[b, t]) for t in tok], len(prefix.ids) + len(suffixes[b]))
            extra[i] = engine.adapters.meta(b)
    moe = [{**({"moe": tally.trace(i, row_prefix[i], ("prompt", "continuation"))} if engine.moe.shape else {}), **extra[i]}
           for i in range(len(prompts))]
    return [Scored(lp, n, m) for (lp, n), m in zip(results, moe)]

def _score_multi(engine: Engine, prefix: CachedPrefix, p_ids: list[int], conts: list[str], tally: Tally, row: int) -> tuple[list[float], int]:
    seqs = [p_ids + engine.encode(c, bos=False) for c in conts]
    for s in seqs:
        engine._check_fits(prefix, s, 0)
    cache, ids, kpos, pos = engine._batch_inputs(prefix, seqs, turns=False)
    width = ids.shape[1]
    tally.step([row] * len(seqs), **score_phases([len(s) for s in seqs], len(p_ids), width, ids.device))
    keep = max(len(s) - len(p_ids) for s in seqs) + 1
    logits = engine._forward(cache, ids, kpos, pos, keep)
    logp = torch.log_softmax(logits.float(), dim=-1)
    offset = width - keep  # logits column j is sequence position offset + j
    out = []
    for r, s in enumerate(seqs):
        n_cont = len(s) - len(p_ids)
        if n_cont == 0:
            out.append(0.0)
            continue
        total = 0.0
        for k in range(n_cont):
            col = width - n_cont + k  # position of the continuation token
            total += float(logp[r, col - 1 - offset, ids[r, col]])
        out.append(total if math.isfinite(total) else float("-inf"))
    return out, len(prefix.ids) + len(p_ids)

def token_logprobs(
    engine: Engine, prefix_text: str, prompt: str, text: str, k: int, adapter: str | None = None
) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """OpenAI-style logprobs of ``text`` after ``prefix + prompt``, in one forward pass:
    per token of ``text``, ``(token, its log-probability, the k most likely (token, logprob))``.

    An empty ``text`` still gets one position: the next token's top k, its token the most
    likely one (so a reply that ended at once still shows what was likely; ``debate serve``).
    """
    prefix = engine._prefixes(prefix_text, [adapter])[0]
    p_ids = engine._text_ids(prefix_text, prompt) or [engine.pad_id]
    c_ids = engine.encode(text, bos=False)
    engine._check_fits(prefix, p_ids + c_ids, 0 if c_ids else 1)
    cache, ids, kpos, pos = engine._batch_inputs(prefix, [p_ids + c_ids], turns=False)
    engine.adapters.begin([adapter])
    logits = engine._forward(cache, ids, kpos, pos, len(c_ids) + 1)[0]
    engine.adapters.end()
    logp = torch.log_softmax(logits.float(), dim=-1)  # row j predicts text token j (the last row: after it)
    k = max(0, min(k, logp.shape[-1]))
    out = []
    for j in range(max(1, len(c_ids))):
        tok = c_ids[j] if c_ids else int(torch.argmax(logp[j]))
        values, indices = torch.topk(logp[j], k) if k else (torch.empty(0), torch.empty(0, dtype=torch.long))
        out.append((_piece(engine, tok), float(logp[j, tok]), [(_piece(engine, int(i)), float(v)) for i, v in zip(indices, values)]))
    return out


def _piece(engine: Engine, token_id: int) -> str:
    """One token as text, its leading space kept and special tokens named (``<eos>``)."""
    return engine.tokenizer.decode([token_id])
