"""Builds the served backend, its model ids and optional router, and runs uvicorn.

The weights load before uvicorn starts, so a server that answers is ready to generate, and a
model or library that cannot load ends the command with a one-line error. Binds to 127.0.0.1 unless told otherwise: an open port with a model behind it is a
free GPU for anyone who finds it, so exposing it (``--host 0.0.0.0``) should come with an API key.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debate.serve.app import create_app
from debate.serve.catalog import Catalog
from debate.serve.routed import RoutedModel, make_router
from debate.serve.service import Service


@dataclass
class ServeOptions:
    model: str = "embedded"
    """``embedded``, ``local:PATH`` or a PATH (an HF folder, a ``.gguf`` file, an MoE model)."""
    library: str | None = None
    """A LoRA-expert library folder, or ``shipped``; each expert is served as its own model id."""
    router: str | None = None
    """A router name (``debate.experts.routing``): serves ``model=routed``."""
    router_args: dict[str, Any] | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    served_model_name: str | None = None
    api_key: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    max_batch: int = 16
    default_max_tokens: int = 256
    log_level: str = "warning"


def model_path(model: str) -> str:
    return "embedded" if model in ("embedded", "local", "local:embedded") else model.removeprefix("local:")


def base_model_id(opts: ServeOptions) -> str:
    """The id clients name for the base model: ``--served-model-name``, else ``embedded`` or the
    model folder/file name without its extension."""
    if opts.served_model_name:
        return opts.served_model_name
    path = model_path(opts.model)
    return "embedded" if path == "embedded" else Path(path.rstrip("/")).stem


def build_backend(opts: ServeOptions) -> Any:
    from debate.experts.local import LocalBackend

    path = model_path(opts.model)
    if path != "embedded" and not Path(path).expanduser().exists():
        raise FileNotFoundError(f"model {opts.model!r}: {path!r} does not exist")
    return LocalBackend(path, name=base_model_id(opts), device=opts.device, dtype=opts.dtype, max_batch=opts.max_batch,
                        library=opts.library)


def build_service(opts: ServeOptions, backend: Any | None = None) -> Service:
    """The service for ``opts``; the library's manifests are read here, so a bad library or an
    unknown router fails at start, not on the first request."""
    backend = backend if backend is not None else build_backend(opts)
    manifests = backend.expert_manifests() if opts.library else []
    routed = None
    if opts.router:
        routed = RoutedModel(make_router(opts.router, backend, opts.router_args), manifests)
    catalog = Catalog(base_model_id(opts), [m.name for m in manifests], routed=routed is not None)
    return Service(backend, catalog, routed=routed, default_max_tokens=opts.default_max_tokens)


def check_bindable(host: str, port: int) -> None:
    """A port in use or a host that is not this machine's fails at once, in one line."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"--host {host!r}: {exc.strerror or exc}") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(addr)
        except OSError as exc:
            raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(opts: ServeOptions) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM end it cleanly, finishing requests in flight)."""
    import uvicorn

    check_bindable(opts.host, opts.port)  # before minutes of loading, not after
    service = build_service(opts)
    # Load before uvicorn starts: a bad model or library ends the command with its one-line
    # error, and the port opens only once the weights are in memory.
    _ = service.backend.engine

    async def ready() -> None:
        print(f"debate serve: http://{opts.host}:{opts.port}/v1 · models: {', '.join(service.catalog.ids())}"
              f"{' · API key required' if opts.api_key else ''}", file=sys.stderr, flush=True)

    app = create_app(service, api_key=opts.api_key, on_startup=ready)
    uvicorn.run(app, host=opts.host, port=opts.port, log_level=opts.log_level, access_log=False)
