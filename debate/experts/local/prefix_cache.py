"""An LRU of KV caches for shared prompt prefixes (the passage block).

Every turn of every protocol on a question starts with the same passage; computing its KV
state once and reusing it turns each later call from a multi-thousand-token prefill into a
few hundred tokens. Entries are keyed by the exact prefix text (and adapter, when one is
active), because an adapter changes the KV from its first adapted layer on.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass
class CachedPrefix:
    ids: list[int]
    cache: Any
    """A transformers ``DynamicCache`` holding the prefix's KV state (batch size 1)."""
    key: str = ""
    """The cache key (passage, adapter, MoE options): what the turn cache files later calls under."""

    def fork(self) -> Any:
        """A private copy, since decoding appends to the cache in place."""
        return copy.deepcopy(self.cache)


class PrefixCache:
    def __init__(self, max_entries: int = 8) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedPrefix] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(prefix: str, adapter: str | None = None) -> str:
        return hashlib.sha256(f"{adapter or ''}\x00{prefix}".encode()).hexdigest()

    def get(self, key: str) -> CachedPrefix | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CachedPrefix) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
