"""Give freed heap memory back to the system now and then (glibc's ``malloc_trim``).

Batches allocate and free tensors of many sizes (a step's logits, the batch's KV buffers, the
turn cache's entries), most between 128 KB and 32 MB, which glibc serves from its heaps once
its mmap threshold has risen. Pages freed in a heap's middle stay resident, so a long run's RSS
creeps up to a high-water mark and stays there (a sampled default run sat at 3.1-3.2 GB through
its last few minutes of small batches). ``malloc_trim(0)`` hands those pages back in a few
milliseconds; done after every batch it cost more than it saved (pages freed and faulted back
in again), so it runs at most every ``interval_s``. Elsewhere (macOS, musl) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time

try:
    _TRIM = getattr(ctypes.CDLL(ctypes.util.find_library("c") or None), "malloc_trim", None)
except OSError:  # no C library to load: nothing to trim
    _TRIM = None

_last = 0.0


def trim(interval_s: float = 5.0) -> bool:
    """Trim the heaps unless that was done less than ``interval_s`` ago; True when it ran."""
    global _last
    now = time.monotonic()
    if _TRIM is None or now - _last < interval_s:
        return False
    _last = now
    _TRIM(ctypes.c_size_t(0))
    return True
