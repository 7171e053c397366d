"""KV of earlier calls past the passage, reused by the longest common run of tokens.

The passage cache (``prefix_cache.py``) saves the story's prefill, but every call of a debate
still prefilled the question, the framing and the whole transcript so far, so prefill grew with
the square of the speeches. Here each call's own tokens (prompt past the passage, and the reply
it generated) keep their KV after the call; a later call on the same passage and weights starts
from the entry sharing the longest run of leading tokens with its prompt, as vLLM's and SGLang's
prefix caches do. Rows of one batch that share a long stem get it prefilled once
(:func:`shared_stems`), so a debate round's two speeches pay for the transcript once.

Entries are keyed by the passage cache's key (passage text, adapter, MoE options): a token's KV
depends on everything before it. Memory is bounded in bytes, least recently used first out; an
entry whose tokens begin another's is dropped when the longer one comes in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import count
from typing import Any

import numpy as np
import torch

@dataclass
class CachedTurn:
    ids: np.ndarray
    kv: torch.Tensor
    """``[layers, 2 (keys, values), kv_heads, tokens, dim]``: one allocation per entry, so a
    dropped entry's memory goes back whole instead of leaving 36 small holes in the heap."""


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    m = min(len(a), len(b))
    diff = np.flatnonzero(a[:m] != b[:m])
    return int(diff[0]) if diff.size else m


class TurnCache:
    def __init__(self, max_bytes: int, min_tokens: int = 8) -> None:
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens
        """Shorter matches are not worth a copy into the batch's cache."""
        self._entries: OrderedDict[tuple[str, int], CachedTurn] = OrderedDict()
        self._ids = count()
        self.bytes = 0
        self.hits = 0
        self.reused_tokens = 0
        """Tokens matched; a batch may take fewer (``reuse_cut``): ``Engine.prefilled_tokens`` is what was computed."""

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def match(self, key: str, ids: list[int]) -> tuple[CachedTurn | None, int]:
        """The entry sharing the most leading tokens with ``ids`` and how many it covers; at most
        ``len(ids) - 1``, since the last prompt token must go through the model for its logits."""
        best_k, best_n = self._best(key, ids)
        if best_k is None:
            return None, 0
        best = self._entries[best_k]
        self._entries.move_to_end(best_k)
        self.hits += 1
        self.reused_tokens += best_n
        return best, best_n

    def peek(self, key: str, ids: list[int]) -> int:
        """How many tokens :meth:`match` would reuse, without counting or touching the entry."""
        return self._best(key, ids)[1]

    def _best(self, key: str, ids: list[int]) -> tuple[tuple[str, int] | None, int]:
        if not self._entries or len(ids) < 2:
            return None, 0
        arr = np.asarray(ids, dtype=np.int64)
        best_k, best_n = None, 0
        for k, turn in self._entries.items():
            if k[0] == key:
                n = common_prefix(turn.ids, arr)
                if n > best_n:
                    best_k, best_n = k, n
        best_n = min(best_n, len(ids) - 1)
        return (None, 0) if best_k is None or best_n < self.min_tokens else (best_k, best_n)

    def put(self, key: str, ids: list[int], kv: torch.Tensor) -> None:
        if len(ids) < self.min_tokens or not self.enabled:
            return
        nbytes = kv.numel() * kv.element_size()
        if nbytes > self.max_bytes:
            return
        arr = np.asarray(ids, dtype=np.int64)
        for k in [k for k, t in self._entries.items() if k[0] == key and len(t.ids) <= len(arr)]:
            if common_prefix(self._entries[k].ids, arr) == len(self._entries[k].ids):
                self._drop(k)  # the new entry covers everything this one could match
        for k, t in self._entries.items():
            if k[0] == key and len(t.ids) >= len(arr) and common_prefix(t.ids, arr) == len(arr):
                return  # an entry already covers these tokens
        self._entries[(key, next(self._ids))] = CachedTurn(arr, kv)
        self.bytes += nbytes
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, k: tuple[str, int]) -> None:
        kv = self._entries.pop(k).kv
        self.bytes -= kv.numel() * kv.element_size()

    def __len__(self) -> int:
        return len(self._entries)


def shared_stems(seqs: list[list[int]], matched: list[int], min_new: int) -> list[list[int]]:
    """Leading runs of tokens that several rows share, each at least ``min_new`` tokens past
    what those rows already match in the cache: prefilled once, they save the copies.

    Rows sharing a run are neighbours in sorted order; a group grows while the run it shares
    stays ``min_new`` past its rows' matches."""
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    arrs = [np.asarray(s, dtype=np.int64) for s in seqs]
    stems: list[list[int]] = []
    k = 0
    while k < len(order) - 1:
        shared, j, best = None, k, max(matched[order[k]], 0)
        while j + 1 < len(order):
            n = common_prefix(arrs[order[j]], arrs[order[j + 1]])
            n = n if shared is None else min(shared, n)
            floor = max(best, matched[order[j + 1]])
            if n < floor + min_new:
                break
            shared, best, j = n, floor, j + 1
        if shared is not None:
            stems.append(list(seqs[order[k]][:shared]))
        k = j + 1
    return stems


def row_kv(layers: list[Any], row: int, cols: torch.Tensor) -> torch.Tensor:
    """One batch row's keys and values at ``cols`` (its real tokens, pads left out), copied
    into one ``[layers, 2, kv_heads, tokens, dim]`` tensor."""
    first = layers[0].keys
    out = first.new_empty((len(layers), 2, first.shape[1], len(cols), first.shape[3]))
    for i, layer in enumerate(layers):
        torch.index_select(layer.keys[row], 1, cols, out=out[i, 0])
        torch.index_select(layer.values[row], 1, cols, out=out[i, 1])
    return out


def copy_turns(layers: list[Any], matches: list[tuple[CachedTurn | None, int]], width: int) -> None:
    """Each row's reused tokens into the last ``n`` of the first ``width`` columns of the batch's
    cache layers (zeros elsewhere: pads are masked, and a masked zero adds nothing, unlike garbage)."""
    for i, layer in enumerate(layers):
        k = layer.keys.new_zeros((len(matches), layer.keys.shape[1], width, layer.keys.shape[3]))
        v = layer.values.new_zeros((len(matches), layer.values.shape[1], width, layer.values.shape[3]))
        for r, (turn, n) in enumerate(matches):
            if turn is not None:
                k[r, :, width - n :] = turn.kv[i, 0, :, :n]
                v[r, :, width - n :] = turn.kv[i, 1, :, :n]
        layer.update(k, v)


def reuse_cut(reusable: list[int], lengths: list[int], slack: float = 1.1) -> int:
    """How many leading columns a batch gives reused tokens: rows reuse ``min(reusable, cut)``.

    A batch's rows are ``[pad][reused][pad][new]`` with one column for reused and new tokens
    alike, so rows that reuse very different amounts make every row wider: a row reusing 400 of
    450 tokens beside one reusing none of its 450 needs 400 + 450 columns. The cut that saves
    the most prefill while keeping rows within ``slack`` times their width without reuse (the KV
    buffers and the attention scale with it) is taken; 0 when none does."""
    full = max(lengths)
    best, best_cost = 0, sum(lengths)
    for cut in sorted(set(reusable) - {0}):
        used = [min(r, cut) for r in reusable]
        width = cut + max(n - u for n, u in zip(lengths, used))
        cost = sum(lengths) - sum(used)
        if width <= slack * full and cost < best_cost:
            best, best_cost = cut, cost
    return best
