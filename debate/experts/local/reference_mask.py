"""Masks for the reference path (``Engine(growing_cache=False)``: transformers' DynamicCache and
its own attention), which the tests hold the engine's default path against.

There transformers applies a sliding window by cache *index*, and its sliding layers keep only
the last ``window - 1`` entries, so with pads in the middle of rows the engine builds the 4-D
masks itself, from each key's real position (``kpos``: -1 for a pad).
"""

from __future__ import annotations

from typing import Any

import torch


def reference_mask(config: Any, dtype: torch.dtype, sliding_window: int | None, cache: Any, kpos: torch.Tensor, qpos: torch.Tensor) -> Any:
    """The ``attention_mask`` for a forward of queries at ``qpos`` over keys at ``kpos`` (both per row).

    ``kpos`` covers the cached keys and the queries themselves (the last ``qpos.shape[1]``).
    """
    if sliding_window is None:
        # Causal order by index is causal order by position within a row: a padding mask is enough.
        return (kpos >= 0).long()
    q, n_keys = qpos.shape[1], kpos.shape[1]
    k, qq = kpos[:, None, None, :], qpos[:, None, :, None]
    seen = (k >= 0) & (k <= qq)
    # Every query also sees its own key, so a pad's query row is never fully masked (NaNs).
    own = torch.arange(n_keys - q, n_keys, device=kpos.device)[:, None] == torch.arange(n_keys, device=kpos.device)
    full = seen | own
    sliding = (seen & (k > qq - sliding_window)) | own
    # The sliding layers hold only the prefix's last keys, so their key axis is the tail of this one.
    types = config.get_text_config().layer_types
    n_sliding = cache.layers[types.index("sliding_attention")].get_seq_length() + q
    masks = {"full_attention": full, "sliding_attention": sliding[..., n_keys - n_sliding :]}
    if getattr(config, "_attn_implementation", "sdpa") != "sdpa":  # eager adds the mask
        lowest = torch.finfo(dtype).min
        masks = {t: torch.zeros(m.shape, dtype=dtype, device=m.device).masked_fill(~m, lowest) for t, m in masks.items()}
    return masks
