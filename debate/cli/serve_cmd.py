"""``debate serve``: the local backend over an OpenAI-compatible HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

import json
import os
from typing import Annotated, Optional

import typer

from debate.cli.errors import user_errors
from debate.config import ConfigError


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        model: Annotated[str, typer.Argument(help="embedded | local:PATH | PATH (HF folder, .gguf file, MoE model).")] = "embedded",
        library: Annotated[Optional[str], typer.Option(help="LoRA-expert library folder (or 'shipped'): one model id per expert.")] = None,
        router: Annotated[Optional[str], typer.Option(help="Router name: serve model=routed (decision in the response's 'routing').")] = None,
        router_args: Annotated[Optional[str], typer.Option("--router-args", help="JSON object of router keyword arguments.")] = None,
        host: Annotated[str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless an API key is set.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
        served_model_name: Annotated[Optional[str], typer.Option("--served-model-name", help="Model id of the base model (default: embedded, or the file/folder name).")] = None,
        api_key_env: Annotated[Optional[str], typer.Option("--api-key-env", help="Environment variable holding the API key clients must send.")] = None,
        device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
        dtype: Annotated[str, typer.Option(help="auto | float32 | bfloat16 | float16")] = "auto",
        max_batch: Annotated[int, typer.Option(min=1, help="Rows per batched forward pass across concurrent requests.")] = 16,
        default_max_tokens: Annotated[int, typer.Option(min=1, help="Chat replies' max_tokens when a request sets none.")] = 256,
        log_level: Annotated[str, typer.Option(help="uvicorn log level: critical | error | warning | info | debug")] = "warning",
    ) -> None:
        """Serve a local model, its experts and a router over OpenAI's /v1/models,
        /v1/chat/completions and /v1/completions (logprobs included)."""
        from debate.serve import ServeOptions, serve

        with user_errors():
            if log_level not in LOG_LEVELS:
                raise ConfigError(f"--log-level {log_level!r}: use one of {', '.join(LOG_LEVELS)}")
            if router_args and not router:
                raise ConfigError("--router-args needs --router")
            key = None
            if api_key_env:
                key = os.environ.get(api_key_env)
                if key is None:
                    raise ConfigError(f"--api-key-env: environment variable {api_key_env} is not set")
                if not key:
                    raise ConfigError(f"--api-key-env: environment variable {api_key_env} is empty")
            try:
                kwargs = json.loads(router_args) if router_args else None
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--router-args: not JSON ({exc.msg} at column {exc.colno})") from None
            if kwargs is not None and not isinstance(kwargs, dict):
                raise ConfigError("--router-args: must be a JSON object")
            try:
                opts = ServeOptions(model=model, library=library, router=router, router_args=kwargs, host=host, port=port,
                                    served_model_name=served_model_name, api_key=key, device=device, dtype=dtype,
                                    max_batch=max_batch, default_max_tokens=default_max_tokens, log_level=log_level)
                serve(opts)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
