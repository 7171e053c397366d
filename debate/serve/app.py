"""The FastAPI application: OpenAI's ``/v1/models``, ``/v1/chat/completions`` and
``/v1/completions`` over a :class:`~debate.serve.service.Service`.

Handlers are ``async`` and only await the backend, so uvicorn's one event loop keeps accepting
requests while the model works, and concurrent requests meet in the backend's batcher.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from debate.serve.auth import install_api_key
from debate.serve.errors import install_error_handlers
from debate.serve.prompts import chat_prompt
from debate.serve.responses import chat_body, completion_body
from debate.serve.schemas import ChatCompletionRequest, CompletionRequest
from debate.serve.service import Service


def create_app(service: Service, *, api_key: str | None = None,
               on_startup: Callable[[], Awaitable[None]] | None = None) -> FastAPI:
    """``on_startup`` runs before the first request is accepted (the CLI loads the weights there,
    so a server that answers ``/v1/models`` is ready to generate)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        yield

    app = FastAPI(title="debate serve", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    install_api_key(app, api_key)
    catalog = service.catalog

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": catalog.ids(), "batching": getattr(service.backend, "batch_stats", None)}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return catalog.listing()

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str) -> dict[str, Any]:
        catalog.resolve(model_id)
        return next(m for m in catalog.listing()["data"] if m["id"] == model_id)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest) -> dict[str, Any]:
        target = service.resolve(body.model)
        sampling = body.sampling(service.default_max_tokens)
        answer = await service.answer(target, chat_prompt(body.messages), sampling, body.wanted_top_logprobs(),
                                      param="messages", hint=body.routing)
        return chat_body(body.model, answer)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest) -> dict[str, Any]:
        target = service.resolve(body.model)
        sampling, prompts = body.sampling(), body.prompts()
        answers = await service.answer_all(target, prompts, sampling, body.logprobs, body.routing)
        return completion_body(body.model, prompts, answers)

    return app
