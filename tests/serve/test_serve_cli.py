"""``debate serve`` on bad input: one line naming the problem, exit 2, no server started."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from debate.cli.app import app

runner = CliRunner()


def error_line(*args: str) -> str:
    result = runner.invoke(app, ["serve", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_model_path(tmp_path: Path) -> None:
    assert error_line(str(tmp_path / "nope")) == f"error: model {str(tmp_path / 'nope')!r}: {str(tmp_path / 'nope')!r} does not exist"


def test_api_key_variable_must_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SERVE_KEY", raising=False)
    assert error_line("--api-key-env", "NO_SUCH_SERVE_KEY") == "error: --api-key-env: environment variable NO_SUCH_SERVE_KEY is not set"


def test_router_arguments_must_be_a_json_object() -> None:
    assert error_line("--router", "random", "--router-args", "{seed: 1}").startswith("error: --router-args: not JSON")
    assert error_line("--router", "random", "--router-args", "[1]") == "error: --router-args: must be a JSON object"


def test_router_needs_a_known_name_and_a_library(tiny_model: Path, library: Path) -> None:
    assert error_line(str(tiny_model), "--library", str(library), "--router", "best") == (
        "error: unknown router 'best'; known: centroid, oracle, random")
    assert error_line(str(tiny_model), "--router", "random") == (
        "error: model=routed needs a library with at least one expert (--library)")
    assert error_line(str(tiny_model), "--library", str(tiny_model / "nope")) == f"error: {tiny_model / 'nope'}: no such expert library folder"


def test_library_of_another_base_is_refused_before_serving(tiny_model: Path, tmp_path: Path) -> None:
    from tests.experts.lora_fixtures import build_base, build_expert

    other = build_base(tmp_path / "other-base", seed=5)
    build_expert(tmp_path / "lib", "stranger", other, seed=1)
    line = error_line(str(tiny_model), "--library", str(tmp_path / "lib"), "--port", "1")
    assert line.startswith(f"error: {tmp_path / 'lib' / 'stranger' / 'manifest.json'}: expert 'stranger' was trained on base model")
    assert line.endswith("nothing was loaded")


def test_bad_device_dtype_and_log_level_are_one_line(tiny_model: Path) -> None:
    assert error_line(str(tiny_model), "--device", "tpu") == "error: device 'tpu': use auto, cpu, cuda or cuda:N"
    assert error_line(str(tiny_model), "--dtype", "nonsense", "--device", "cpu") == (
        "error: dtype 'nonsense': use auto, float32, bfloat16, float16")
    assert error_line(str(tiny_model), "--log-level", "loud") == (
        "error: --log-level 'loud': use one of critical, error, warning, info, debug, trace")
    assert error_line(str(tiny_model), "--router-args", "{}") == "error: --router-args needs --router"


def test_cuda_on_a_machine_without_it_is_refused(tiny_model: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal is for machines without it")
    line = error_line(str(tiny_model), "--device", "cuda")
    assert line.startswith("error: device 'cuda': this torch (") and line.endswith("has no usable CUDA device; use cpu or auto")


def test_a_port_in_use_fails_before_the_model_loads(tiny_model: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert error_line(str(tiny_model), "--port", str(port)) == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert error_line(str(tiny_model), "--host", "256.1.1.1").startswith("error: --host '256.1.1.1': ")


def test_routed_is_no_name_for_the_base_model_when_a_router_serves_it(tiny_model: Path, library: Path) -> None:
    assert error_line(str(tiny_model), "--library", str(library), "--router", "random", "--served-model-name", "routed",
                      "--device", "cpu") == (
        "error: the base model's id 'routed' is reserved for the router's model id; pick another --served-model-name")


def test_waiting_for_a_server_names_what_went_wrong(tmp_path: Path) -> None:
    import subprocess
    import sys

    from debate.serve.launch import free_port, wait_healthy

    dead = subprocess.Popen([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], stdout=subprocess.PIPE)
    dead.wait()
    with pytest.raises(RuntimeError, match="the server exited with 3 before answering"):
        wait_healthy(f"http://127.0.0.1:{free_port()}/health", dead, timeout_s=5, log=lambda: "boom")
    with pytest.raises(RuntimeError, match=r"nothing answered http://127.0.0.1:\d+/health within 1 s:\nlast words"):
        wait_healthy(f"http://127.0.0.1:{free_port()}/health", timeout_s=1, log=lambda: "last words")
