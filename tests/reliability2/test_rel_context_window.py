"""A prompt longer than the model's context window fails its episode up front, once, marked.

A tiny randomly initialised Gemma 3 (character-level tokenizer, so tokens == characters) with a
512-token window is the expert and the judge of a real ``run_experiment``. The passage is longer
than the window: every episode that shows it to the expert must end as ``error`` with error text
starting ``context_exceeded:``, after exactly one (failed, recorded) model call. The blind judge
never sees the passage, so its short prompt fits and those episodes complete.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from debate.config import ProtocolSpec, RunConfig  # noqa: E402
from debate.core.question import Question  # noqa: E402
from debate.experts.local.backend import LocalBackend  # noqa: E402
from debate.orchestrator import run_experiment  # noqa: E402
from debate.protocols.context import CONTEXT_EXCEEDED, ContextExceededError, guard_context  # noqa: E402
from tests.tiny_gemma import build_tiny_gemma3  # noqa: E402

CONTEXT = 512


def _build(path: Path) -> None:
    build_tiny_gemma3(path, layer_types=["sliding_attention", "full_attention"], context=CONTEXT)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-gemma3-ctx")
    _build(path)
    return path


async def test_too_long_prompt_fails_once_marked_and_the_run_goes_on(tiny_model: Path, tmp_path: Path) -> None:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        long_passage = "The keeper counted ships every night. " * 80  # ~3000 tokens > 512
        q = Question(id="long", question="Ships?", options=("yes", "no"), gold_index=0, context=long_passage)
        cfg = RunConfig(
            name="ctx", db=str(tmp_path / "ctx.sqlite"), expert="tiny", judge="tiny", both_orders=False,
            speech_tokens=4, max_in_flight=4,
            protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="direct_oracle"),
                       ProtocolSpec(name="consultancy", params={"rounds": 1})],
        )
        tiny = LocalBackend(tiny_model, name="tiny", device="cpu", dtype="float32")
        result = await run_experiment(cfg, questions=[q], backends={"tiny": tiny})
    finally:
        torch.set_num_threads(n)

    assert result.total == 4  # blind, oracle, consultancy x 2 sides
    assert (result.completed, result.errors) == (1, 3)
    con = sqlite3.connect(tmp_path / "ctx.sqlite")
    rows = con.execute("select id, protocol, status, error from episodes").fetchall()
    for ep, protocol, status, error in rows:
        if protocol == "direct_blind":
            assert status == "complete" and error is None
            calls = con.execute("select role, error from model_calls where episode_id=?", (ep,)).fetchall()
            assert calls == [("judge", None)]
            continue
        assert status == "error"
        assert error.startswith(f"{CONTEXT_EXCEEDED}:"), error
        assert "context window is 512" in error
        # Detected before running: one call, recorded with its error, no retry, no turn, no verdict.
        calls = con.execute("select role, error, reply from model_calls where episode_id=?", (ep,)).fetchall()
        assert len(calls) == 1, calls
        role, call_error, reply = calls[0]
        assert role == "expert" and reply == ""
        assert "ContextExceeded" in call_error
        assert con.execute("select count(*) from turns where episode_id=?", (ep,)).fetchone() == (0,)
        assert con.execute("select count(*) from verdicts where episode_id=?", (ep,)).fetchone() == (0,)
    assert con.execute("select count(*) from episodes where error like 'context_exceeded:%'").fetchone() == (3,)
    assert con.execute("select status from runs").fetchone() == ("incomplete",)


async def test_guard_context_maps_only_overflow_errors() -> None:
    from debate.experts.local.engine import ContextExceeded

    async def raise_(exc: BaseException) -> None:
        raise exc

    with pytest.raises(ContextExceededError) as info:
        await guard_context(raise_(ContextExceeded("prompt is 9 tokens")))
    assert isinstance(info.value.__cause__, ContextExceeded)
    assert str(info.value) == "ContextExceeded: prompt is 9 tokens"
    with pytest.raises(RuntimeError):
        await guard_context(raise_(RuntimeError("other")))
    with pytest.raises(ValueError) as plain:
        await guard_context(raise_(ValueError("not an overflow")))
    assert type(plain.value) is ValueError
    assert await guard_context(asyncio_value(5)) == 5


async def asyncio_value(v: int) -> int:
    return v
