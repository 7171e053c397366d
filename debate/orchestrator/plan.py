"""Expands a config into episodes: question x protocol x variant x option order."""

from __future__ import annotations

import itertools
from typing import Any

from debate.config import ConfigError, ProtocolSpec, RunConfig
from debate.core.episode import EpisodeSpec, RoleAssignment
from debate.core.question import Question
from debate.protocols.registry import UnknownProtocol, get_protocol


def check_protocols(config: RunConfig) -> list[ProtocolSpec]:
    """Fail before anything is written: unknown protocol, bad parameter, unknown role.
    Returns the protocols with their parameters validated and defaults dropped."""
    checked = []
    for i, p in enumerate(config.protocols):
        try:
            info = get_protocol(p.name)
            params = info.check_params(p.params)
        except UnknownProtocol as exc:
            raise ConfigError(f"protocols[{i}].name: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"protocols[{i}].params: {exc}") from None
        checked.append(p.model_copy(update={"params": params}))
        for role in p.roles:
            if role not in info.roles:
                raise ConfigError(f"protocols[{i}].roles: protocol {p.name!r} has no role {role!r}; roles: {list(info.roles)}")
    return checked


def check_backends(config: RunConfig, models: dict[str, Any], questions: list[Question]) -> None:
    """Protocol checks that need the built models or the questions (a routed protocol's k against
    the experts in the library), run before the database is touched."""
    for name, backend in models.items():
        for what in ("check_device", "check_library"):  # local models: device and dtype, expert library
            check = getattr(_innermost(backend), what, None)
            if check is not None:
                try:
                    check()
                except ValueError as exc:
                    raise ConfigError(f"models.{name}: {exc}") from None
    for i, p in enumerate(check_protocols(config)):
        info = get_protocol(p.name)
        if info.preflight is None:
            continue
        roles = {r: models[p.roles.get(r, config.judge if r == "judge" else config.expert)] for r in info.roles}
        try:
            info.preflight({**info.defaults, **p.params}, roles, questions)
        except ValueError as exc:
            raise ConfigError(f"protocols[{i}] ({p.name}): {exc}") from None


def _innermost(backend: Any) -> Any:
    """Through the limiting / caching / recording wrappers to the backend that does the work."""
    seen = 0
    while hasattr(backend, "inner") and seen < 8:
        backend, seen = backend.inner, seen + 1
    return backend


def orders(n_options: int, both: bool) -> list[tuple[int, ...]]:
    """Identity order, plus the reversed one (for two options: both orders) when ``both``."""
    ident = tuple(range(n_options))
    return [ident, tuple(reversed(ident))] if both else [ident]


def plan_episodes(config: RunConfig, run_id: str, questions: list[Question]) -> list[EpisodeSpec]:
    """Episodes grouped by question, so episodes in flight together share a passage prefix."""
    specs: dict[str, EpisodeSpec] = {}
    protocols = check_protocols(config)
    for q in questions:
        for p, order in itertools.product(protocols, orders(len(q.options), config.both_orders)):
            info = get_protocol(p.name)
            if "debater_b" in info.roles and len(q.options) != 2:
                raise ConfigError(
                    f"question {q.id!r} ({q.source.get('file', 'dataset')}:{q.source.get('line', '?')}) has "
                    f"{len(q.options)} options; {p.name!r} argues exactly two (reduce it to the gold and one distractor)"
                )
            models = {r: p.roles.get(r, config.judge if r == "judge" else config.expert) for r in info.roles}
            label = p.label or (p.name + "(" + ",".join(f"{k}={v}" for k, v in sorted(p.params.items())) + ")" if p.params else None)
            for variant in info.variants:
                spec = EpisodeSpec(
                    run_id=run_id, question_id=q.id, protocol=p.name, params={**p.params, **variant},
                    roles=RoleAssignment(models=models), seed=config.seed, order=order, label=label,
                )
                specs.setdefault(spec.id, spec)  # the same setting listed twice runs once
    return list(specs.values())
