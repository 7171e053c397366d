"""Starting servers from scripts and tests: a free loopback port, and waiting until one answers.

Shared by the benchmarks and the tests that start ``debate serve`` (or vLLM) in a subprocess, and
useful to anyone scripting several deployments on one machine.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS has just handed out on ``host`` (free unless someone takes it first)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None = None, *, timeout_s: float = 90,
                 interval_s: float = 0.2, log: Callable[[], str] | None = None) -> None:
    """Return once ``GET url`` answers 200. Raises ``RuntimeError`` (with the tail of ``log()``)
    if ``proc`` exits first or nothing answers within ``timeout_s``; the process is left as it is."""
    deadline = time.monotonic() + timeout_s
    tail = (lambda: "\n" + log()[-4000:]) if log is not None else (lambda: "")
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering {url}:{tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(interval_s)  # not listening yet
    raise RuntimeError(f"nothing answered {url} within {timeout_s:.0f} s:{tail()}")
