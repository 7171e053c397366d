"""A batch's KV cache: each row's own tokens in buffers with room to grow; the shared prefix by reference.

transformers' ``DynamicLayer.update`` appends with ``torch.cat``, which copies a layer's whole
cache every step. Here each layer's keys and values for the rows' own tokens (suffix + generated)
live in a buffer sized for the whole call; ``update`` writes the new step into the next free
slots and hands attention a view of the filled part. The buffer doubles if a call outgrows it,
so a wrong size estimate costs speed, never correctness.

The passage prefix is not copied into the rows at all: :class:`RowCache` keeps a reference to the
prefix cache's tensors (batch 1), and the engine's attention (``prefix_attention.py``) reads them
for every row at once. Rows under different LoRA adapters each get their own prefix KV.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import CacheLayerMixin, DynamicCache, DynamicLayer


class GrowingLayer(DynamicLayer):
    """A full-attention cache layer over a preallocated ``[batch, heads, capacity, dim]`` buffer."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int, offset: int = 0) -> None:
        super().__init__()
        self.offset = offset
        """Positions before this buffer (the shared prefix), counted in ``get_seq_length``."""
        n, h, length, d = keys.shape
        capacity = max(capacity, length)
        self.dtype, self.device = keys.dtype, keys.device
        self._k = torch.empty((n, h, capacity, d), dtype=keys.dtype, device=keys.device)
        self._v = torch.empty((n, h, capacity, values.shape[-1]), dtype=values.dtype, device=values.device)
        self._k[:, :, :length] = keys
        self._v[:, :, :length] = values
        self._len = length
        self.is_initialized = True
        self._views()

    @property
    def capacity(self) -> int:
        return self._k.shape[2]

    def _views(self) -> None:
        self.keys = self._k[:, :, : self._len]
        self.values = self._v[:, :, : self._len]

    def _grow(self, need: int) -> None:
        cap = max(need, 2 * self.capacity)
        k = self._k.new_empty((*self._k.shape[:2], cap, self._k.shape[3]))
        v = self._v.new_empty((*self._v.shape[:2], cap, self._v.shape[3]))
        k[:, :, : self._len] = self.keys
        v[:, :, : self._len] = self.values
        self._k, self._v = k, v

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        raise RuntimeError("GrowingLayer is built from a prefix's keys; it is never lazily initialised")

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        n = key_states.shape[-2]
        if self._len + n > self.capacity:
            self._grow(self._len + n)
        self._k[:, :, self._len : self._len + n] = key_states
        self._v[:, :, self._len : self._len + n] = value_states
        self._len += n
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.offset + self._len

    def reset(self) -> None:
        self._len = 0
        self._views()

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative number of tokens to remove")
        self._len = max(0, self._len + tokens_to_remove) if tokens_to_remove else self._len
        self._views()

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._k = self._k.repeat_interleave(repeats, dim=0)
        self._v = self._v.repeat_interleave(repeats, dim=0)
        self._views()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        # Rows that finished are dropped; only the filled part is copied (the rest is garbage anyway).
        keep = self._k.new_empty((len(indices), *self._k.shape[1:]))
        keep_v = self._v.new_empty((len(indices), *self._v.shape[1:]))
        keep[:, :, : self._len] = self.keys[indices]
        keep_v[:, :, : self._len] = self.values[indices]
        self._k, self._v = keep, keep_v
        self._views()

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.batch_select_indices(beam_idx)


class RowCache(DynamicCache):
    """The rows' own KV (:class:`GrowingLayer` per layer) plus, per layer, the prefix's
    ``(keys, values)``: batch 1 when all rows share it, one per row otherwise."""

    prefix: list[tuple[torch.Tensor, torch.Tensor]]
    prefix_len: int

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        super().batch_select_indices(indices)
        self.prefix = [(k, v) if k.shape[0] == 1 else (k[indices], v[indices]) for k, v in self.prefix]


def compact(cache: DynamicCache) -> None:
    """Copy each layer's keys and values out of a larger buffer they are a view of.

    A sliding-window layer keeps its last ``window - 1`` keys as a slice of the last chunk's
    ``torch.cat``, which holds the whole buffer alive: a cached passage's 15 sliding layers of
    Gemma 3 kept up to 1,535 positions each instead of 511 (~20 MB per 2.7k-token passage)."""
    for layer in cache.layers:
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes() > t.numel() * t.element_size():
                setattr(layer, name, t.clone())


def batch_cache(prefix_cache: DynamicCache, prefix_len: int, rows: int, extra_tokens: int,
                row_caches: list[DynamicCache] | None = None) -> RowCache:
    """A ``rows``-row cache over ``prefix_cache`` (batch 1, ``prefix_len`` tokens, left untouched
    and not copied), with room for ``extra_tokens`` positions per row (suffix width + tokens to
    generate). ``row_caches`` (one per row: the same prefix under different LoRA adapters)
    gives each row its own prefix KV instead."""
    if row_caches is not None and len(row_caches) != rows:
        raise ValueError(f"batch_cache: {len(row_caches)} row caches for {rows} rows")
    layers: list[CacheLayerMixin] = []
    prefix: list[tuple[torch.Tensor, torch.Tensor]] = []
    for i, layer in enumerate(prefix_cache.layers):
        if not layer.is_initialized or layer.keys is None or layer.keys.numel() == 0:
            raise ValueError("batch_cache needs a prefilled prefix cache (every layer initialised)")
        if row_caches is None:
            prefix.append((layer.keys, layer.values))
        else:
            prefix.append((torch.cat([c.layers[i].keys for c in row_caches]), torch.cat([c.layers[i].values for c in row_caches])))
        n, h, _, d = layer.keys.shape
        empty_k = layer.keys.new_empty((rows, h, 0, d))
        empty_v = layer.values.new_empty((rows, h, 0, layer.values.shape[-1]))
        layers.append(GrowingLayer(empty_k, empty_v, extra_tokens, offset=prefix_len))
    cache = RowCache()
    cache.layers = layers
    cache.layer_class_to_replicate = None  # every layer is here; none may be added lazily
    cache.prefix, cache.prefix_len = prefix, prefix_len
    return cache
