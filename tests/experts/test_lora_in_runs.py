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
from tests.experts.lora_fixtures import build_library


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_library(tmp_path_factory.mktemp("lora-run"), ["alpha", "beta", "gamma"], seed=20)


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


def test_an_adapter_without_a_library_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="adapter 'logic' needs a 'library'"):
        ModelSpec(model="embedded", adapter="logic")


def _run(tmp_path: Path, models: dict[str, ModelSpec], protocol: ProtocolSpec, expert: str = "lib") -> RunConfig:
    return RunConfig(name="bad", db=str(tmp_path / "bad.sqlite"), expert=expert, judge="plain", both_orders=False,
                     speech_tokens=4, models={**models, "plain": ModelSpec(model=models[expert].model, device="cpu")},
                     protocols=[protocol])


Q = Question(id="q1", question="Who kept the log?", options=("the keeper", "the cook"), gold_index=0, context="The keeper kept it.")


async def test_a_library_of_another_base_or_an_unknown_default_expert_fails_before_the_database(
        lib: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    from debate.config import ConfigError

    base, library = lib
    bad = tmp_path / "badlib"
    shutil.copytree(library, bad)
    m = json.loads((bad / "beta" / "manifest.json").read_text())
    m["base_fingerprint"] = "sha256:" + "0" * 32
    (bad / "beta" / "manifest.json").write_text(json.dumps(m))
    spec = ModelSpec(model=str(base), library=str(bad), device="cpu")
    with pytest.raises(ConfigError, match=r"models.lib: .*beta.*manifest.json: expert 'beta' was trained on base model sha256:0{32}"):
        await run_experiment(_run(tmp_path, {"lib": spec}, ProtocolSpec(name="consultancy", params={"rounds": 1})), questions=[Q])
    assert not (tmp_path / "bad.sqlite").exists()
    spec = ModelSpec(model=str(base), library=str(library), adapter="nosuch", device="cpu")
    with pytest.raises(ConfigError, match="models.lib: unknown expert 'nosuch'; this library has alpha, beta, gamma"):
        await run_experiment(_run(tmp_path, {"lib": spec}, ProtocolSpec(name="consultancy", params={"rounds": 1})), questions=[Q])
    assert not (tmp_path / "bad.sqlite").exists()


async def test_routed_refuses_a_default_adapter_it_would_ignore(lib: tuple[Path, Path], tmp_path: Path) -> None:
    from debate.config import ConfigError

    base, library = lib
    spec = ModelSpec(model=str(base), library=str(library), adapter="@token", device="cpu")
    q = Q.model_copy(update={"source": {"domain": "alpha"}})
    with pytest.raises(ConfigError, match="routed protocol picks its experts itself; the expert model's default adapter '@token'"):
        await run_experiment(_run(tmp_path, {"lib": spec}, ProtocolSpec(name="routed", params={"router": "random"})), questions=[q])
    assert not (tmp_path / "bad.sqlite").exists()


def test_an_expert_folder_carries_its_manifest_name(lib: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    from debate.experts.library.library import LibraryError, open_library

    _, library = lib
    shutil.copytree(library / "alpha", tmp_path / "lib" / "renamed")
    with pytest.raises(LibraryError, match="field 'name' is 'alpha' but the folder is 'renamed'"):
        open_library(tmp_path / "lib")


def test_training_input_is_checked_before_any_training(tmp_path: Path) -> None:
    from debate.experts.library.library import LibraryError
    from debate.training.expert import train_expert
    from debate.training.lora import LoraSettings

    (tmp_path / "file.md").write_text("x")
    with pytest.raises(LibraryError, match="is a file; name a folder"):
        train_expert("logic", tmp_path, tmp_path / "file.md")
    with pytest.raises(LibraryError, match="--data .*nodata: no such folder"):
        train_expert("logic", tmp_path / "nodata", tmp_path / "out")
    with pytest.raises(LibraryError, match="--learning-rate 0.0: must be above 0"):
        train_expert("logic", tmp_path, tmp_path / "out", settings=LoraSettings(learning_rate=0.0))
    with pytest.raises(LibraryError, match="--base .*nobase: not an HF folder"):
        train_expert("logic", tmp_path, tmp_path / "out", base=str(tmp_path / "nobase"))
    assert not (tmp_path / "out").exists()


async def test_a_device_or_dtype_this_machine_lacks_fails_before_the_database(lib: tuple[Path, Path], tmp_path: Path) -> None:
    """Found by a fresh user: a bad dtype used to be stored as an error in every episode."""
    import torch

    from debate.config import ConfigError

    base, _ = lib
    cases = [({"dtype": "float8"}, r"models.lib: dtype 'float8': use auto, float32, bfloat16, float16"),
             ({"device": "tpu"}, r"models.lib: device 'tpu': use auto, cpu, cuda or cuda:N")]
    if not torch.cuda.is_available():
        cases.append(({"device": "cuda"}, r"models.lib: device 'cuda': this torch .* has no usable CUDA device"))
    for kw, message in cases:
        with pytest.raises(ConfigError, match=message):
            await run_experiment(_run(tmp_path, {"lib": ModelSpec(model=str(base), **kw)}, ProtocolSpec(name="consultancy", params={"rounds": 1})),
                                 questions=[Q])
        assert not (tmp_path / "bad.sqlite").exists()


def test_a_request_for_no_tokens_or_a_negative_temperature_is_refused() -> None:
    from pydantic import ValidationError

    from debate.experts.backend import GenerateRequest

    for kw, field in (({"max_tokens": 0}, "max_tokens"), ({"max_tokens": -1}, "max_tokens"), ({"temperature": -1.0}, "temperature")):
        with pytest.raises(ValidationError, match=field):
            GenerateRequest(prompt="x", **kw)
    assert GenerateRequest(prompt="x", max_tokens=1).max_tokens == 1
