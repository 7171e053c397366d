"""Protocols by name. A protocol is an async function ``(ctx, **params) -> Verdict``; the
decorator records its roles and the variants each question is run under (e.g. consultancy
on the correct and on the incorrect side)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, ValidationError, create_model

from debate.core.transcript import Verdict
from debate.protocols.context import EpisodeContext

ProtocolFn = Callable[..., Awaitable[Verdict]]
Preflight = Callable[[dict[str, Any], dict[str, Any], list[Any]], None]
"""``(params with defaults, role -> built backend, questions)``: checks that need the models or
the dataset, run before the database is touched; a ``ValueError`` stops the run."""


class UnknownProtocol(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ProtocolInfo:
    name: str
    fn: ProtocolFn
    roles: tuple[str, ...]
    variants: tuple[dict[str, Any], ...] = field(default=({},))
    description: str = ""
    preflight: Preflight | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        return {n: p.default for n, p in list(inspect.signature(self.fn).parameters.items())[1:]}

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validate ``params`` against the function's annotations (types and ``Field`` bounds)
        and return them coerced, minus any equal to the default. ``ValueError`` names the
        parameter; nothing runs with a value the protocol cannot use."""
        defaults = self.defaults
        varied = {k for v in self.variants for k in v}
        for key in params:
            if key not in defaults:
                raise ValueError(f"protocol {self.name!r} has no parameter {key!r}; it takes {list(defaults)}")
            if key in varied:
                raise ValueError(f"parameter {key!r} of {self.name!r} is set per variant by the protocol itself")
        hints = typing.get_type_hints(self.fn, include_extras=True)
        fields: dict[str, Any] = {k: (hints.get(k, Any), d) for k, d in defaults.items()}
        model = create_model(f"{self.name}_params", __config__=ConfigDict(extra="forbid", strict=False), **fields)
        try:
            checked = model.model_validate({**self.variants[0], **params})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ValueError(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
        return {k: getattr(checked, k) for k in params if getattr(checked, k) != defaults[k]}

    async def run(self, ctx: EpisodeContext, params: dict[str, Any]) -> Verdict:
        return await self.fn(ctx, **params)


_REGISTRY: dict[str, ProtocolInfo] = {}


def protocol(
    name: str, *, roles: tuple[str, ...], variants: tuple[dict[str, Any], ...] = ({},), preflight: Preflight | None = None
) -> Callable[[ProtocolFn], ProtocolFn]:
    """Register ``fn`` under ``name`` so configs and the CLI can run it like a built-in."""

    def register(fn: ProtocolFn) -> ProtocolFn:
        _REGISTRY[name] = ProtocolInfo(name, fn, roles, variants, (inspect.getdoc(fn) or "").split("\n")[0], preflight)
        return fn

    return register


def get_protocol(name: str) -> ProtocolInfo:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownProtocol(f"unknown protocol {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def protocols() -> dict[str, ProtocolInfo]:
    _load_builtins()
    return dict(_REGISTRY)


def _load_builtins() -> None:
    from debate.protocols import consultancy, debate, direct, open_protocols, routed  # noqa: F401
