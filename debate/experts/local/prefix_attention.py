"""Attention over a passage prefix that every row of a batch shares, without a copy per row.

Every row of a batch starts with the same passage. Copying its KV into each row (16 rows over a
4k-token passage on the embedded model: ~2.4 GB) and letting SDPA read all the copies on every
decode step made attention ~40% of a 16-row step on a 2-core CPU. Here the prefix's keys and
values stay where the prefix cache keeps them (batch 1), all rows' queries meet them in one
matmul, and only each row's own tokens (suffix + generated) live in the batch's cache. The two
parts share one softmax, so this is ordinary attention over ``prefix + row``, reordered.

transformers calls the function registered here for every attention layer once the engine
switches the model to it (:func:`active`); the engine passes a :class:`PrefixAttention` as the
``debate_prefix`` keyword, which transformers hands through to the layers. Masks come from real
positions (``kpos``: -1 for a pad), so rows padded in the middle see exactly their own tokens,
and a sliding-window layer (the model passes ``sliding_window``) sees the window by position.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

NAME = "debate_shared_prefix"
FUSED_FROM = 4
"""Queries per row above which SDPA's fused kernel beats the shared-prefix matmuls (suffix prefills)."""
MAX_SCORES = 1 << 25
"""Score-matrix elements per chunk of queries (~128 MB in float32): long suffixes are split."""


class PrefixAttention:
    """What one forward pass needs besides the layer's own keys: the prefix KV per layer
    (``[1 or rows, kv_heads, tokens, dim]``: a sliding layer's prefix holds only its last
    tokens), the prefix length, the queries' positions ``qpos`` ``[rows, q]`` and the row keys'
    positions ``kpos`` ``[rows, keys]`` (the last ``q`` are the queries' own; -1 marks a pad)."""

    def __init__(self, prefix: list[tuple[torch.Tensor, torch.Tensor]], prefix_len: int, qpos: torch.Tensor, kpos: torch.Tensor) -> None:
        self.prefix = prefix
        self.prefix_len = prefix_len
        self.qpos = qpos
        self.kpos = kpos
        self._masks: dict[tuple[int | None, int], tuple[torch.Tensor | None, torch.Tensor]] = {}

    def masks(self, window: int | None, prefix_keys: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(prefix mask ``[rows, 1, q, prefix_keys]`` or None when every prefix key is visible,
        row-key mask ``[rows, 1, q, keys]``); computed once per forward for each layer kind."""
        key = (window, prefix_keys)
        if key not in self._masks:
            q, n_keys = self.qpos.shape[1], self.kpos.shape[1]
            k, qq = self.kpos[:, None, None, :], self.qpos[:, None, :, None]
            seen = (k >= 0) & (k <= qq)
            if window is not None:
                seen &= k > qq - window
            # Every query sees its own key, so a pad's query row is never fully masked (NaNs).
            own = torch.arange(n_keys - q, n_keys, device=k.device)[:, None] == torch.arange(n_keys, device=k.device)
            rows = seen | own
            pre = None
            if window is not None:
                ppos = torch.arange(self.prefix_len - prefix_keys, self.prefix_len, device=k.device)
                pre = ppos[None, None, None, :] > qq - window
            self._masks[key] = (pre, rows)
        return self._masks[key]


def attend(
    module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: Any,
    *, scaling: float | None = None, sliding_window: int | None = None, softcap: float | None = None,
    debate_prefix: PrefixAttention | None = None, **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """An ``AttentionInterface`` function: ``query`` ``[rows, heads, q, dim]`` over the layer's
    prefix KV and its row keys ``key``/``value`` ``[rows, kv_heads, keys, dim]``; returns
    ``[rows, q, heads, dim]`` as transformers' SDPA function does. ``attention_mask`` is ignored."""
    if debate_prefix is None:
        raise RuntimeError(f"{NAME} attention needs a debate_prefix (only the engine's batched forwards use it)")
    if getattr(module, "sinks", None) is not None:
        raise NotImplementedError(f"{NAME}: attention sinks are not supported")
    pk, pv = debate_prefix.prefix[module.layer_idx]
    n, heads, q, d = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads
    scale = scaling if scaling is not None else d**-0.5
    pre_mask, row_mask = debate_prefix.masks(sliding_window, pk.shape[2])
    if q > FUSED_FROM and softcap is None:
        return _fused(query, pk, pv, key, value, pre_mask, row_mask, scale), None
    # [rows, kv_heads, group, q, dim]: head h reads kv head h // group, as repeat_kv lays them out.
    qg = query.reshape(n, kv_heads, group, q, d)
    width = pk.shape[2] + key.shape[2]
    step = max(1, MAX_SCORES // max(1, n * heads * width))
    out = torch.cat([
        _chunk(qg[:, :, :, s : s + step], pk, pv, key, value, None if pre_mask is None else pre_mask[:, :, s : s + step],
               row_mask[:, :, s : s + step], scale, softcap)
        for s in range(0, q, step)
    ], dim=3) if q > step else _chunk(qg, pk, pv, key, value, pre_mask, row_mask, scale, softcap)
    return out.reshape(n, heads, q, d).transpose(1, 2).contiguous(), None


def _fused(
    query: torch.Tensor, pk: torch.Tensor, pv: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
    pre_mask: torch.Tensor | None, row_mask: torch.Tensor, scale: float,
) -> torch.Tensor:
    """Many queries per row (a suffix's prefill): SDPA's fused kernel over ``prefix + row`` keys,
    the prefix expanded for this layer only; materialised scores would cost more than the copy."""
    n, _, q, _ = query.shape
    keys = torch.cat([pk.expand(n, -1, -1, -1), key], dim=2)
    values = torch.cat([pv.expand(n, -1, -1, -1), value], dim=2)
    pre = row_mask.new_ones((n, 1, q, pk.shape[2])) if pre_mask is None else pre_mask.expand(n, -1, -1, -1)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, keys, values, attn_mask=torch.cat([pre, row_mask], dim=-1), scale=scale, enable_gqa=True)
    return out.transpose(1, 2).contiguous()


def _chunk(
    qg: torch.Tensor, pk: torch.Tensor, pv: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
    pre_mask: torch.Tensor | None, row_mask: torch.Tensor, scale: float, softcap: float | None,
) -> torch.Tensor:
    n, kvh, g, q, d = qg.shape
    flat = qg.reshape(n, kvh, g * q, d)
    if pk.shape[0] == 1:  # one prefix for all rows: every row's queries in one matmul per kv head
        stacked = flat.transpose(0, 1).reshape(kvh, n * g * q, d)
        s_pre = (stacked @ pk[0].transpose(-1, -2)).reshape(kvh, n, g * q, -1).transpose(0, 1)
    else:
        s_pre = flat @ pk.transpose(-1, -2)
    s_row = flat @ key.transpose(-1, -2)
    parts = []
    for scores, mask in ((s_pre, pre_mask), (s_row, row_mask)):
        scores = scores.reshape(n, kvh, g, q, -1) * scale
        if softcap is not None:
            scores = torch.tanh(scores / softcap) * softcap
        parts.append(scores if mask is None else scores.masked_fill(~mask[:, :, None], float("-inf")))
    scores = torch.cat(parts, dim=-1)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(qg.dtype).reshape(n, kvh, g * q, -1)
    p_pre, p_row = probs[..., : pk.shape[2]], probs[..., pk.shape[2] :]
    if pv.shape[0] == 1:
        o_pre = (p_pre.transpose(0, 1).reshape(kvh, n * g * q, -1) @ pv[0]).reshape(kvh, n, g * q, d).transpose(0, 1)
    else:
        o_pre = p_pre @ pv
    return (o_pre + p_row @ value).reshape(n, kvh, g, q, d)


def register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, attend)


@contextmanager
def active(model: torch.nn.Module) -> Iterator[None]:
    """The model's attention layers call :func:`attend` inside this block, their usual
    implementation outside it (prefix prefill, embeddings, training stay untouched)."""
    configs = [model.config, model.config.get_text_config()]
    before = [c._attn_implementation for c in configs]
    for c in configs:
        c._attn_implementation = NAME
    try:
        yield
    finally:
        for c, b in zip(configs, before):
            c._attn_implementation = b


def placeholder_mask(rows: int, q: int, device: torch.device) -> torch.Tensor:
    """A 4-D mask transformers returns as is, so it builds none of its own (``attend`` ignores it)."""
    return torch.ones((rows, 1, q, 1), dtype=torch.bool, device=device)


register()
