"""Fault injection against a real HTTP server on 127.0.0.1, through litellm (no internet).

Every test talks to the server through ``LiteLLMBackend`` (and, for runs, through the config's
``backend: litellm`` models), so the retry policy, timeouts, call records and the run's
error-rate guard are exercised end to end.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
import pytest  # noqa: E402

import debate.experts.litellm_backend as lb  # noqa: E402
from debate.config import ModelSpec, ProtocolSpec, RunConfig  # noqa: E402
from debate.experts.backend import GenerateRequest, ScoreRequest  # noqa: E402
from debate.experts.limits import LimitedBackend  # noqa: E402
from debate.experts.litellm_backend import LiteLLMBackend, RetryBudgetExceeded, retry_after_s  # noqa: E402
from debate.orchestrator.runner import RunAborted, run_experiment  # noqa: E402
from tests.helpers import question  # noqa: E402

SECRET = "sk-DEBATE-SECRET-7f3a9c2e51"


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def ok(text: str = "Option A is right.") -> Reply:
    top = [("A", -0.1), ("B", -2.5)]
    return Reply(body={
        "id": "c", "object": "chat.completion", "created": 1700000000, "model": "x",
        "choices": [{
            "index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
            "logprobs": {"content": [{"token": "A", "logprob": -0.1, "bytes": None,
                                      "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]}]},
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    })


def fail(status: int, **headers: str) -> Reply:
    return Reply(status=status, body={"error": {"message": f"injected {status}", "type": "test", "code": status}},
                 headers=dict(headers))


@dataclass
class Server:
    """``respond(n, prompt)`` decides each reply (n counts requests from 0); concurrency is measured."""

    respond: Callable[[int, str], Reply] = lambda n, prompt: ok()
    port: int = 0
    count: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    auth: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture
def server() -> Iterator[Server]:
    fake = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
            with fake.lock:
                n = fake.count
                fake.count += 1
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                fake.auth.append(self.headers.get("Authorization", ""))
            try:
                reply = fake.respond(n, prompt)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = json.dumps(reply.body or {}).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeouts)
            finally:
                with fake.lock:
                    fake.in_flight -= 1

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    fake.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


def backend(api_base: str, **kw: Any) -> LiteLLMBackend:
    params: dict[str, Any] = {"wait_initial_s": 0.001, "wait_max_s": 0.01, "timeout_s": 5, "max_retries": 3}
    params.update(kw)
    return LiteLLMBackend("openai/x", api_base=api_base, api_key="sk-test", **params)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the retry policy ---------------------------------------------------------------------------


async def test_429_retry_after_header_is_waited_for(server: Server) -> None:
    server.respond = lambda n, p: fail(429, **{"Retry-After": "1"}) if n == 0 else ok("done")
    t0 = time.monotonic()
    gen = await backend(server.api_base).generate(GenerateRequest(prompt="Go"))
    elapsed = time.monotonic() - t0
    assert gen.text == "done"
    assert elapsed >= 1.0  # backoff alone would wait at most 0.01 s
    assert gen.meta["attempts"] == 2
    assert 1.0 <= gen.meta["retry_wait_s"] < 1.5


def test_retry_after_parsing() -> None:
    class E(Exception):
        def __init__(self, headers: dict[str, str]) -> None:
            self.response = type("R", (), {"headers": headers})()

    assert retry_after_s(E({"retry-after": "2"})) == 2.0
    assert retry_after_s(E({"retry-after-ms": "250"})) == 0.25
    assert retry_after_s(E({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # a past date: no wait
    assert retry_after_s(E({})) is None
    assert retry_after_s(ValueError("no response")) is None


async def test_500_and_503_are_retried_and_recorded(server: Server) -> None:
    server.respond = lambda n, p: [fail(500), fail(503)][n] if n < 2 else ok()
    scores = await backend(server.api_base).score(ScoreRequest(prompt="Answer:", continuations=["A", "B"]))
    assert scores.logprobs == [-0.1, -2.5]
    assert scores.meta["attempts"] == 3  # type: ignore[attr-defined]
    assert server.count == 3


async def test_hanging_server_times_out_each_attempt_then_fails(server: Server) -> None:
    server.respond = lambda n, p: Reply(body=ok().body, delay_s=1.5)
    t0 = time.monotonic()
    with pytest.raises(litellm.Timeout) as info:
        await backend(server.api_base, timeout_s=0.3, max_retries=2).generate(GenerateRequest(prompt="Go"))
    assert time.monotonic() - t0 < 1.4
    assert server.count == 2
    assert info.value.retry_meta["attempts"] == 2  # type: ignore[attr-defined]


async def test_total_timeout_stops_retrying(server: Server) -> None:
    # litellm's first call in a process sets itself up for ~0.5 s, which would eat this budget
    # when the test runs alone: one plain call first, not counted.
    server.respond = lambda n, p: ok()
    await backend(server.api_base).generate(GenerateRequest(prompt="Warm"))
    server.count = 0
    server.respond = lambda n, p: Reply(body=ok().body, delay_s=1.5)
    t0 = time.monotonic()
    with pytest.raises(litellm.Timeout):
        await backend(server.api_base, timeout_s=0.3, max_retries=100, total_timeout_s=0.8).generate(
            GenerateRequest(prompt="Go")
        )
    assert time.monotonic() - t0 < 1.2
    assert 2 <= server.count <= 3


async def test_total_timeout_stops_backoff_on_errors(server: Server) -> None:
    server.respond = lambda n, p: fail(500)
    t0 = time.monotonic()
    # The last attempt either gets its 500, is cut short by the budget (a Timeout), or is never
    # started because the budget ran out during the wait before it (RetryBudgetExceeded; seen
    # once in a fresh clone's run when the 0.5 s ended between attempts).
    with pytest.raises((litellm.InternalServerError, litellm.Timeout, RetryBudgetExceeded)) as info:
        await backend(server.api_base, wait_initial_s=0.1, wait_max_s=0.1, max_retries=1000,
                      total_timeout_s=0.5).generate(GenerateRequest(prompt="Go"))
    assert time.monotonic() - t0 < 0.8
    meta = info.value.retry_meta  # type: ignore[attr-defined]
    assert 1 < meta["attempts"] < 100 and meta["retry_wait_s"] <= 0.5


async def test_connection_refused_is_retried_then_raises() -> None:
    b = backend(f"http://127.0.0.1:{free_port()}/v1", max_retries=3)
    # litellm reports a refused connection as APIConnectionError or "InternalServerError: Connection error".
    with pytest.raises((litellm.APIConnectionError, litellm.InternalServerError)) as info:
        await b.generate(GenerateRequest(prompt="Go"))
    assert info.value.retry_meta["attempts"] == 3  # type: ignore[attr-defined]


async def test_limited_backend_caps_connections(server: Server) -> None:
    server.respond = lambda n, p: Reply(body=ok().body, delay_s=0.1)
    limited = LimitedBackend(backend(server.api_base), max_concurrency=4)
    gens = await asyncio.gather(*(limited.generate(GenerateRequest(prompt=f"Go {i}")) for i in range(30)))
    assert len(gens) == 30 and server.count == 30
    assert 2 <= server.max_in_flight <= 4


# -- whole runs through config-built litellm models ---------------------------------------------


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Config-built backends use the default waits (seconds); keep them tiny here."""
    base = lb.LiteLLMBackend

    class Fast(base):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **kw: Any) -> None:
            kw.setdefault("wait_initial_s", 0.005)
            kw.setdefault("wait_max_s", 0.01)
            kw.setdefault("timeout_s", 5)
            super().__init__(*a, **kw)

    monkeypatch.setattr(lb, "LiteLLMBackend", Fast)
    monkeypatch.setenv("TEST_KEY", SECRET)


def run_config(tmp_path: Path, server: Server, **kw: Any) -> RunConfig:
    base: dict[str, Any] = dict(
        name="faults", db=str(tmp_path / "runs.sqlite"), expert="m", judge="m", speech_tokens=8, both_orders=False,
        protocols=[ProtocolSpec(name="consultancy", params={"rounds": 1})],
        models={"m": ModelSpec(backend="litellm", model="openai/x", api_base=server.api_base, api_key_env="TEST_KEY")},
    )
    return RunConfig(**{**base, **kw})


def questions(n: int, poison: set[int] = frozenset()) -> list:  # type: ignore[assignment]
    qs = []
    for i in range(n):
        q = question(f"q{i}")
        if i in poison:
            q = q.model_copy(update={"question": q.question + " POISON"})
        qs.append(q)
    return qs


def rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


async def test_run_records_attempts_and_waits_and_survives_a_failing_episode(
    tmp_path: Path, server: Server, fast_retries: None
) -> None:
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def respond(n: int, prompt: str) -> Reply:
        if "POISON" in prompt:
            return fail(500)
        with lock:  # the first request with any given prompt fails once
            seen[prompt] = seen.get(prompt, 0) + 1
            first = seen[prompt] == 1
        return fail(503) if first else ok()

    server.respond = respond
    result = await run_experiment(run_config(tmp_path, server), questions=questions(3, poison={1}))
    # consultancy runs each question on both sides: 6 episodes, the poisoned question's 2 fail
    assert (result.total, result.completed, result.errors) == (6, 4, 2)

    db = tmp_path / "runs.sqlite"
    calls = [(json.loads(p), e) for p, e in rows(db, "select params_json, error from model_calls")]
    assert calls and all("attempts" in p and "retry_wait_s" in p for p, _ in calls)
    good = [p for p, e in calls if e is None]
    # Each prompt fails once; the judge's prompt is the same for both sides of a question.
    assert good and all(p["attempts"] in (1, 2) for p in good)
    assert sum(p["attempts"] == 2 for p in good) >= len(good) // 2
    assert all(p["retry_wait_s"] == 0 for p in good if p["attempts"] == 1)
    assert sum(p["retry_wait_s"] for p in good) > 0
    bad = [p for p, e in calls if e is not None]
    assert bad and all(p["attempts"] == 3 for p in bad)  # max_retries (3) used up
    errors = rows(db, "select error from episodes where status='error'")
    assert len(errors) == 2 and all("InternalServerError" in e and "3 attempt" in e for (e,) in errors)
    assert rows(db, "select status from runs") == [("incomplete",)]


async def test_error_rate_guard_stops_the_run_resumably(tmp_path: Path, server: Server, fast_retries: None) -> None:
    server.respond = lambda n, p: fail(500)
    cfg = run_config(tmp_path, server, max_in_flight=2, max_error_rate=0.5, min_episodes_for_error_rate=2)
    with pytest.raises(RunAborted, match=r"stopped: \d+ of \d+ finished episodes failed"):
        await run_experiment(cfg, questions=questions(6))

    db = tmp_path / "runs.sqlite"
    assert rows(db, "select status from runs") == [("stopped",)]
    statuses = dict(rows(db, "select status, count(*) from episodes group by status"))
    assert statuses.get("error", 0) >= 2
    assert statuses.get("complete", 0) == 0
    assert statuses.get("pending", 0) + statuses.get("running", 0) >= 6  # 12 episodes, most never finished

    # Fix the server and re-run the same command: it resumes and finishes everything.
    server.respond = lambda n, p: ok()
    result = await run_experiment(cfg, questions=questions(6))
    assert (result.total, result.completed, result.errors) == (12, 12, 0)
    assert rows(db, "select status from runs") == [("complete",)]
    assert rows(db, "select count(*) from model_calls where error is not null") == [(0,)]


async def test_error_rate_guard_waits_for_min_episodes(tmp_path: Path, server: Server, fast_retries: None) -> None:
    server.respond = lambda n, p: fail(500)
    cfg = run_config(tmp_path, server, max_error_rate=0.5, min_episodes_for_error_rate=100)
    result = await run_experiment(cfg, questions=questions(2))
    assert (result.total, result.errors) == (4, 4)


async def test_no_api_key_reaches_the_database_or_export(tmp_path: Path, server: Server, fast_retries: None) -> None:
    server.respond = lambda n, p: fail(500) if "POISON" in p else (fail(429) if n % 5 == 0 else ok())
    await run_experiment(run_config(tmp_path, server), questions=questions(3, poison={2}))
    assert any(a == f"Bearer {SECRET}" for a in server.auth)  # the key was really sent

    db = tmp_path / "runs.sqlite"
    con = sqlite3.connect(db)
    try:
        tables = [t for (t,) in con.execute("select name from sqlite_master where type='table'")]
        scanned = 0
        for t in tables:
            for cid, col, *_ in con.execute(f'pragma table_info("{t}")').fetchall():
                for (v,) in con.execute(f'select "{col}" from "{t}"'):
                    text = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                    scanned += 1
                    assert SECRET not in text, f"{t}.{col}"
                    assert "Bearer" not in text, f"{t}.{col}"
        assert scanned > 0
    finally:
        con.close()

    from typer.testing import CliRunner

    from debate.cli.app import app

    out = tmp_path / "export"
    res = CliRunner().invoke(app, ["export", str(db), "--format", "jsonl", "--table", "all", "--out", str(out)])
    assert res.exit_code == 0, res.output
    files = list(out.glob("*.jsonl"))
    assert files
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert SECRET not in text and "Bearer" not in text, f.name
