"""OpenAI-style error bodies, so OpenAI clients (and litellm's exception mapping) read them.

Every failure the server answers has the body ``{"error": {"message", "type", "param", "code"}}``
and the status OpenAI uses for it: 400 bad request, 401 bad API key, 404 unknown model or route,
500 a bug. litellm maps ``code: context_length_exceeded`` (and the "maximum context length"
wording) to ``ContextWindowExceededError``, which a run marks as a ``context_exceeded`` episode.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class APIError(Exception):
    """A request the server refuses, with the OpenAI error fields."""

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def model_not_found(model: str) -> APIError:
    return APIError(404, f"The model `{model}` does not exist; GET /v1/models lists the served models.",
                    param="model", code="model_not_found")


def context_exceeded(detail: str, param: str, window: int | None) -> APIError:
    # OpenAI's wording (litellm recognises it), then the engine's own numbers.
    limit = f"is {window} tokens" if window else "was exceeded"
    return APIError(400, f"This model's maximum context length {limit}: {detail}", param=param,
                    code="context_length_exceeded")


def unsupported(param: str, what: str) -> APIError:
    return APIError(400, f"'{param}': {what} is not supported by debate serve", param=param, code="unsupported_parameter")


def _validation_error(exc: RequestValidationError) -> APIError:
    errors = exc.errors()
    first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx") or {}
        return APIError(400, f"We could not parse the JSON body of your request ({ctx.get('error', first['msg'])}).",
                        code="invalid_json")
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    param = ".".join(loc) or None
    where = f"'{param}': " if param else ""
    return APIError(400, f"{where}{first['msg']}", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    """Every error, including FastAPI's own (bad JSON, 404 route, 405), answers in OpenAI's shape."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return APIError(exc.status_code, str(exc.detail), code=code).response()

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed: %s %s", request.method, request.url.path)
        return APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error").response()
