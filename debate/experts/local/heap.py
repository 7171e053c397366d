"""glibc heap settings for a process that runs a local model: fewer arenas, and freed pages
handed back now and then. On a C library without these calls (macOS, musl) both do nothing.

Arenas: glibc gives each thread that allocates its own heap arena (up to 8 per core). The model
thread, the event loop and the database writer each free tensors and rows of many sizes in their
own arena, and pages freed in an arena's middle stay resident: the default run's peak RSS was
3.06 GB with ``MALLOC_ARENA_MAX=1`` against 3.33 GB without, the same run otherwise (2-core
machine, 2026-12-04). :func:`limit_arenas` sets what that variable sets; a value the user set wins.

Trim: batches allocate and free tensors of many sizes (a step's logits, the batch's KV buffers,
the turn cache's entries), most between 128 KB and 32 MB, which glibc serves from its heaps once
its mmap threshold has risen. A sampled default run sat at 3.1-3.2 GB through its last minutes of
small batches. ``malloc_trim(0)`` hands such pages back in milliseconds; after every batch it
cost more than it saved (pages freed and faulted back in), so :func:`trim` runs every few seconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time

M_ARENA_MAX = -8
try:
    _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None)
except OSError:  # no C library to load
    _LIBC = None
_TRIM = getattr(_LIBC, "malloc_trim", None)
_MALLOPT = getattr(_LIBC, "mallopt", None)
_capped = False
_last_trim = 0.0


def limit_arenas(arenas: int = 2) -> bool:
    """Cap the arenas once per process, before the model's thread makes one; True when set here."""
    global _capped
    if _capped or "MALLOC_ARENA_MAX" in os.environ or _MALLOPT is None:
        return False
    _capped = True
    return bool(_MALLOPT(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)) == 1)


def trim(interval_s: float = 5.0) -> bool:
    """Trim the heaps unless that was done less than ``interval_s`` ago; True when it ran."""
    global _last_trim
    now = time.monotonic()
    if _TRIM is None or now - _last_trim < interval_s:
        return False
    _last_trim = now
    _TRIM(ctypes.c_size_t(0))
    return True
