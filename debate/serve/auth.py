"""Optional API key: with one set, every ``/v1`` request needs ``Authorization: Bearer <key>``.

Checked in a middleware, before the body is read, so a caller without the key learns nothing
else (not even whether its JSON parses), as with OpenAI. ``/health`` stays open for probes.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from starlette.responses import Response

from debate.serve.errors import APIError


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def install_api_key(app: FastAPI, api_key: str | None) -> None:
    if not api_key:
        return
    expected = api_key.encode()

    @app.middleware("http")
    async def _require_key(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith("/v1"):
            token = bearer_token(request)
            if token is None:
                return APIError(401, "You didn't provide an API key (Authorization: Bearer <key>).",
                                code="invalid_api_key").response()
            if not hmac.compare_digest(token.encode(), expected):
                return APIError(401, "Incorrect API key provided.", code="invalid_api_key").response()
        return await call_next(request)
