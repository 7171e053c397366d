"""Real ``debate serve`` processes on 127.0.0.1 (free ports), started through the console entry
point (``python -m debate serve``) and stopped after the tests.

The model is a tiny random Gemma 3 (character tokens) with a library of two random LoRA experts
(``medical``, ``logic``; ``tests/experts/lora_fixtures.py``). Two servers of it start together at
session start (in parallel: starting one costs seconds of imports), ``server_a`` and ``server_b``,
both serving the experts and ``model=routed`` (centroid router) and both requiring API key
``KEY``. The deployment tests stop ``server_b`` mid-run, so they alone use it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from debate.serve.launch import free_port, wait_healthy
from tests.experts.lora_fixtures import build_base, build_expert

KEY = "sk-serve-test-4b1c"
KEY_ENV = "DEBATE_SERVE_TEST_KEY"
MODEL_ID = "tiny"
CONTEXT = 4096
EXPERTS = {"logic": "logic", "medical": "medical"}
"""Expert name -> domain."""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base}/v1"

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def start_server(model: Path | str, log: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "debate", "serve", str(model), "--port", str(port), "--served-model-name", MODEL_ID, *extra]
    # One thread each: two servers and the test process share a 2-core machine.
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", KEY_ENV: KEY, **(env or {})}
    out = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=Path(__file__).parents[2])
    return Server(proc, port, log)


def wait_ready(server: Server, timeout_s: float = 90) -> None:
    try:
        wait_healthy(f"{server.base}/health", server.proc, timeout_s=timeout_s, log=server.log.read_text)
    except RuntimeError:
        server.stop(kill=True)
        raise


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_base(tmp_path_factory.mktemp("tiny-serve"))
    config = json.loads((path / "config.json").read_text())
    config["max_position_embeddings"] = CONTEXT  # whatever the fixture's default: prompts here need room
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def library(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-library")
    for seed, (name, domain) in enumerate(EXPERTS.items(), start=1):
        build_expert(root, name, tiny_model, seed=seed, domain=domain)
    return root


@pytest.fixture(scope="session")
def servers(tiny_model: Path, library: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    logs = tmp_path_factory.mktemp("serve-logs")
    args = ("--library", str(library), "--router", "centroid", "--api-key-env", KEY_ENV, "--max-batch", "8")
    pair = [start_server(tiny_model, logs / f"{n}.log", *args) for n in "ab"]
    try:
        from debate.experts.litellm_backend import _litellm

        _litellm()  # seconds of imports, overlapped with the servers' start (the tests need it next)
        for s in pair:
            wait_ready(s)
        yield pair[0], pair[1]
    finally:
        for s in pair:
            s.stop()


@pytest.fixture(scope="session")
def server_a(servers: tuple[Server, Server]) -> Server:
    return servers[0]


@pytest.fixture(scope="session")
def server_b(servers: tuple[Server, Server]) -> Server:
    return servers[1]


@pytest.fixture(scope="session")
def tiny_backend(tiny_model: Path, library: Path):
    """The same weights and experts in process, to check what came over HTTP against."""
    from debate.experts.local import LocalBackend

    return LocalBackend(tiny_model, name="tiny-local", device="cpu", dtype="float32", library=library)


@pytest.fixture(autouse=True)
def _key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
