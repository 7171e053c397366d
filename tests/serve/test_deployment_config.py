"""Deployments in the run config: validated with one-line errors, left out of the results hash
(which server answers never changes results), and each key read from its own variable."""

from __future__ import annotations

import pytest

from debate.config import ConfigError, DeploymentSpec, ModelSpec, RunConfig, load_config
from debate.experts.litellm_backend import adapter_model
from debate.experts.litellm_router import LiteLLMRouterBackend
from debate.orchestrator.models import build_backend


def spec(*deployments: DeploymentSpec, **kw: object) -> ModelSpec:
    return ModelSpec(**{"backend": "litellm", "model": "openai/tiny", "deployments": list(deployments), **kw})


A = DeploymentSpec(api_base="http://10.0.0.1:8000/v1", name="gpu-1", max_concurrency=8)
B = DeploymentSpec(api_base="http://10.0.0.2:8000/v1", name="gpu-2", rpm=600, weight=2)


def test_deployments_do_not_change_the_results_hash() -> None:
    one = RunConfig(expert="x", models={"x": spec(A)})
    two = RunConfig(expert="x", models={"x": spec(A, B)})
    plain = RunConfig(expert="x", models={"x": ModelSpec(backend="litellm", model="openai/tiny")})
    other = RunConfig(expert="x", models={"x": spec(A, B, model="openai/other")})
    assert one.hash == two.hash == plain.hash
    assert other.hash != one.hash
    assert "deployments" not in two.results_view()["models"]["x"]


def test_deployments_are_validated_with_the_field_named(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models:\n  x: {backend: local, deployments: [{api_base: 'http://h/v1'}]}\n")
    with pytest.raises(ConfigError, match=r"field 'models.x.deployments': .*need backend 'litellm' \(backend is 'local'\)"):
        load_config(cfg)
    cfg.write_text("models:\n  x: {backend: litellm, model: openai/m, deployments: [{api_base: 'http://h/v1'}, {api_base: 'http://h/v1'}]}\n")
    with pytest.raises(ConfigError, match="two deployments are named 'http://h/v1'"):
        load_config(cfg)
    cfg.write_text("models:\n  x: {backend: litellm, model: openai/m, deployments: [{api_base: 'http://h/v1', max_concurrency: 0}]}\n")
    with pytest.raises(ConfigError, match=r"field 'models.x.deployments.0.max_concurrency'"):
        load_config(cfg)
    cfg.write_text("models:\n  x: {backend: litellm, model: openai/m, deployments: [{api_base: 'http://h/v1', port: 1}]}\n")
    with pytest.raises(ConfigError, match=r"field 'models.x.deployments.0.port': Extra inputs are not permitted"):
        load_config(cfg)


def test_router_backend_reads_each_deployments_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_ALL", "sk-all")
    monkeypatch.setenv("KEY_TWO", "sk-two")
    b = B.model_copy(update={"api_key_env": "KEY_TWO", "model": "openai/tiny-b"})
    backend = build_backend("x", spec(A, b, api_key_env="KEY_ALL")).inner
    assert isinstance(backend, LiteLLMRouterBackend)
    got = [(d.name, d.model, d.api_key, d.max_concurrency, d.rpm, d.weight) for d in backend.deployments]
    assert got == [("gpu-1", "openai/tiny", "sk-all", 8, None, 1.0), ("gpu-2", "openai/tiny-b", "sk-two", None, 600, 2.0)]
    monkeypatch.delenv("KEY_TWO")
    with pytest.raises(ConfigError, match="model 'x', deployment 'gpu-2': environment variable KEY_TWO is not set"):
        build_backend("x", spec(A, b, api_key_env="KEY_ALL"))


def test_adapters_are_sent_as_the_model_name() -> None:
    assert adapter_model("openai/base", None) == "openai/base"
    assert adapter_model("openai/base", "medical") == "openai/medical"
    assert adapter_model("hosted_vllm/org/base", "logic") == "hosted_vllm/logic"
    with pytest.raises(ValueError, match="'@token' .*needs the local backend"):
        adapter_model("openai/base", "@token")


def test_keyless_openai_compatible_servers_need_no_made_up_variable(monkeypatch) -> None:
    from debate.orchestrator.models import NO_KEY, server_key

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert server_key("openai/embedded", "http://127.0.0.1:8000/v1", None) == NO_KEY
    assert server_key("openai/embedded", "http://127.0.0.1:8000/v1", "sk-set") == "sk-set"
    assert server_key("openai/gpt-4o", None, None) is None  # the real OpenAI: litellm asks for the key itself
    assert server_key("anthropic/claude", "http://x/v1", None) is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert server_key("openai/embedded", "http://127.0.0.1:8000/v1", None) == "sk-env"
