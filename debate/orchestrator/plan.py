"""Expands a config into episodes: question x protocol x variant x option order."""

from __future__ import annotations

import itertools

from debate.config import ConfigError, RunConfig
from debate.core.episode import EpisodeSpec, RoleAssignment
from debate.core.question import Question
from debate.protocols.registry import UnknownProtocol, get_protocol


def check_protocols(config: RunConfig) -> None:
    """Fail before anything is written: unknown protocol, bad parameter, unknown role."""
    for i, p in enumerate(config.protocols):
        try:
            info = get_protocol(p.name)
            info.check_params(p.params)
        except UnknownProtocol as exc:
            raise ConfigError(f"protocols[{i}].name: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"protocols[{i}].params: {exc}") from None
        for role in p.roles:
            if role not in info.roles:
                raise ConfigError(f"protocols[{i}].roles: protocol {p.name!r} has no role {role!r}; roles: {list(info.roles)}")


def orders(n_options: int, both: bool) -> list[tuple[int, ...]]:
    """Identity order, plus the reversed one (for two options: both orders) when ``both``."""
    ident = tuple(range(n_options))
    return [ident, tuple(reversed(ident))] if both else [ident]


def plan_episodes(config: RunConfig, run_id: str, questions: list[Question]) -> list[EpisodeSpec]:
    """Episodes grouped by question, so episodes in flight together share a passage prefix."""
    specs: list[EpisodeSpec] = []
    for q in questions:
        for p, order in itertools.product(config.protocols, orders(len(q.options), config.both_orders)):
            info = get_protocol(p.name)
            models = {r: p.roles.get(r, config.judge if r == "judge" else config.expert) for r in info.roles}
            for variant in info.variants:
                specs.append(EpisodeSpec(
                    run_id=run_id, question_id=q.id, protocol=p.name, params={**p.params, **variant},
                    roles=RoleAssignment(models=models), seed=config.seed, order=order,
                ))
    return specs
