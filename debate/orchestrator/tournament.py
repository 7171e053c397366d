"""Cross-play tournaments: every pair of debater configs debates every question.

A debater config is a named model (``models:`` in the config), so the same weights with a
different best-of-N are different debaters. Self-play pairs are included: judge accuracy on a
debater's self-play against its rating is the curve Khan et al. (2024) plot.
"""

from __future__ import annotations

import itertools

from debate.config import ConfigError, ProtocolSpec, RunConfig


def tournament_config(base: RunConfig, debaters: list[str], *, rounds: int = 2, simultaneous: bool = True) -> RunConfig:
    """``base`` with its protocols replaced by one debate per unordered pair of debaters."""
    if len(debaters) < 2:
        raise ConfigError("a tournament needs at least two debaters (--debater, repeatable)")
    if len(set(debaters)) != len(debaters):
        raise ConfigError(f"debaters are listed twice: {debaters}")
    protocols = [
        ProtocolSpec(name="debate", params={"rounds": rounds, "simultaneous": simultaneous},
                     roles={"debater_a": a, "debater_b": b})
        for a, b in itertools.combinations_with_replacement(debaters, 2)
    ]
    return base.model_copy(update={"protocols": protocols})
