"""The glibc heap settings a local model's process uses (``heap.py``): arena cap, periodic trim."""

from __future__ import annotations

import os
import subprocess
import sys

import debate.experts.local.heap as heap_module

# The module alone, by path: importing the package would load torch in every subprocess.
CODE = ("import importlib.util as u; s = u.spec_from_file_location('heap', %r); m = u.module_from_spec(s); "
        "s.loader.exec_module(m); print(m.limit_arenas(), m.limit_arenas())" % heap_module.__file__)


def _run(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_the_cap_is_set_once_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _run(env) == "True False"


def test_a_users_malloc_arena_max_wins() -> None:
    assert _run({**os.environ, "MALLOC_ARENA_MAX": "4"}) == "False False"


def test_heap_trim_runs_at_most_once_per_interval() -> None:
    from debate.experts.local import heap

    assert heap._TRIM is not None  # glibc, as on every machine this project runs on
    assert heap.trim(0.0) is True
    assert heap.trim(3600.0) is False  # it just ran
