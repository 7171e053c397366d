"""Cross-play tournaments: every pair of debater configs debates every question.

A debater config is a named model (``models:`` in the config), so the same weights with a
different best-of-N are different debaters. Self-play pairs are included: judge accuracy on a
debater's self-play against its rating is the curve Khan et al. (2024) plot.
"""

from __future__ import annotations

import itertools

from debate.config import ConfigError, ProtocolSpec, RunConfig


def tournament_config(base: RunConfig, debaters: list[str], *, rounds: int = 2, simultaneous: bool = True) -> RunConfig:
    """``base`` with its protocols replaced by a debate per ordered pair of debaters plus self-play."""
    if len(debaters) < 2:
        raise ConfigError("a tournament needs at least two debaters (--debater, repeatable)")
    if len(set(debaters)) != len(debaters):
        raise ConfigError(f"debaters are listed twice: {debaters}")
    # Every ordered pair: each debater sits in each seat against each other one, so a judge that
    # favours a seat (or the first option shown) cannot decide the ratings.
    pairs = [(a, a) for a in debaters] + [(a, b) for a, b in itertools.permutations(debaters, 2)]
    protocols = [
        ProtocolSpec(name="debate", params={"rounds": rounds, "simultaneous": simultaneous},
                     roles={"debater_a": a, "debater_b": b}, label=f"debate[{a} vs {b}]")
        for a, b in pairs
    ]
    return base.model_copy(update={"protocols": protocols})
