"""Routers by name, so a protocol parameter (``router: centroid``) picks one."""

from __future__ import annotations

from typing import Any

from debate.experts.routing.base import Router
from debate.experts.routing.centroid import CentroidRouter
from debate.experts.routing.oracle import OracleRouter
from debate.experts.routing.random_router import RandomRouter

ROUTERS = ("centroid", "oracle", "random")


def make_router(name: str, **params: Any) -> Router:
    """``centroid`` takes ``embed`` and ``null_share``; ``oracle`` and ``random`` take
    ``null_share`` and ``seed``. A parameter the router does not take is an error."""
    classes: dict[str, Any] = {"centroid": CentroidRouter, "oracle": OracleRouter, "random": RandomRouter}
    if name not in classes:
        raise ValueError(f"unknown router {name!r}; known: {', '.join(ROUTERS)}")
    if name == "centroid" and params.get("embed") is None:
        raise ValueError("the centroid router needs 'embed' (the base model's pooled hidden states)")
    try:
        return classes[name](**params)
    except TypeError as exc:
        raise ValueError(f"router {name!r}: {exc}") from None
