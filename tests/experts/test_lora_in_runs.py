"""LoRA experts inside a run: a model bound to one expert or to token routing, turns read back from SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from debate.config import ModelSpec, ProtocolSpec, RunConfig
from debate.core.question import Question
from debate.orchestrator import run_experiment
from debate.orchestrator.models import build_backend
from tests.experts.lora_fixtures import build_base, build_expert


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lora-run")
    base = build_base(root / "base")
    library = root / "library"
    for i, name in enumerate(["alpha", "beta", "gamma"]):
        build_expert(library, name, base, seed=20 + i, domain=name)
    return base, library


async def test_token_routed_and_single_expert_debaters_store_their_routing(lib: tuple[Path, Path], tmp_path: Path) -> None:
    base, library = lib
    q = Question(id="q1", question="Who kept the log?", options=("the keeper", "the cook"), gold_index=0,
                 context="The keeper kept a log of every ship that passed.")
    models = {
        "routed": ModelSpec(model=str(base), library=str(library), adapter="@token", device="cpu", dtype="float32"),
        "beta": ModelSpec(model=str(base), library=str(library), adapter="beta", device="cpu", dtype="float32"),
        "plain": ModelSpec(model=str(base), device="cpu", dtype="float32"),
    }
    cfg = RunConfig(
        name="lora", db=str(tmp_path / "lora.sqlite"), expert="routed", judge="plain", both_orders=False, speech_tokens=6,
        temperature=0.0, models=models,
        protocols=[ProtocolSpec(name="debate", params={"rounds": 1}, roles={"debater_a": "routed", "debater_b": "beta"})],
    )
    result = await run_experiment(cfg, questions=[q])
    assert (result.completed, result.errors) == (1, 0)
    con = sqlite3.connect(tmp_path / "lora.sqlite")
    turns = {role: json.loads(meta) for role, meta in con.execute("select role, meta_json from turns where kind='speech'")}
    routing = turns["debater_a"]["routing"]
    assert routing["mode"] == "token" and set(routing["picks"]) == {"alpha", "beta", "gamma"}
    assert sum(routing["picks"].values()) > 0
    assert "routing" not in turns["debater_b"]
    calls = {role: json.loads(p).get("adapter") for role, p in con.execute(
        "select role, params_json from model_calls where purpose='generate'")}
    assert calls == {"debater_a": "@token", "debater_b": "beta"}


def test_adapter_and_library_only_for_local_models() -> None:
    with pytest.raises(ValueError, match="an adapter needs a local model"):
        ModelSpec(backend="litellm", model="openai/x", adapter="beta")
    with pytest.raises(ValueError, match="an expert library needs a local model"):
        ModelSpec(backend="scripted", model="scripted", library="shipped")


def test_unknown_default_adapter_fails_on_first_call_with_the_names(lib: tuple[Path, Path]) -> None:
    base, library = lib
    backend = build_backend("x", ModelSpec(model=str(base), library=str(library), adapter="delta", device="cpu"))
    import asyncio

    from debate.experts.backend import GenerateRequest
    from debate.experts.library.library import LibraryError

    with pytest.raises(LibraryError, match="unknown expert 'delta'; this library has alpha, beta, gamma"):
        asyncio.run(backend.generate(GenerateRequest(prompt="x")))
