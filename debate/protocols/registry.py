"""Protocols by name. A protocol is an async function ``(ctx, **params) -> Verdict``; the
decorator records its roles and the variants each question is run under (e.g. consultancy
on the correct and on the incorrect side)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from debate.core.transcript import Verdict
from debate.protocols.context import EpisodeContext

ProtocolFn = Callable[..., Awaitable[Verdict]]


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

    def check_params(self, params: dict[str, Any]) -> None:
        """Raise ``TypeError`` naming the bad parameter before anything runs."""
        sig = inspect.signature(self.fn)
        allowed = [p for p in list(sig.parameters)[1:]]
        for key in params:
            if key not in allowed:
                raise TypeError(f"protocol {self.name!r} has no parameter {key!r}; it takes {allowed}")
        sig.bind(None, **{**self.variants[0], **params})

    async def run(self, ctx: EpisodeContext, params: dict[str, Any]) -> Verdict:
        return await self.fn(ctx, **params)


_REGISTRY: dict[str, ProtocolInfo] = {}


def protocol(
    name: str, *, roles: tuple[str, ...], variants: tuple[dict[str, Any], ...] = ({},)
) -> Callable[[ProtocolFn], ProtocolFn]:
    """Register ``fn`` under ``name`` so configs and the CLI can run it like a built-in."""

    def register(fn: ProtocolFn) -> ProtocolFn:
        _REGISTRY[name] = ProtocolInfo(name, fn, roles, variants, (inspect.getdoc(fn) or "").split("\n")[0])
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
    from debate.protocols import consultancy, debate, direct, open_protocols  # noqa: F401
