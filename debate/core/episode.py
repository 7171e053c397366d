"""Episodes: one question run under one protocol configuration, role map, seed and option order."""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EpisodeStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"


class RoleAssignment(BaseModel):
    """Which model plays which role: role name -> model name (as configured in the run)."""

    model_config = ConfigDict(frozen=True)

    models: dict[str, str]

    def model_for(self, role: str) -> str:
        try:
            return self.models[role]
        except KeyError:
            raise KeyError(f"no model assigned to role {role!r}; roles given: {sorted(self.models)}") from None


class EpisodeSpec(BaseModel):
    """Everything that makes an episode what it is; its id is a hash of these fields, so re-running
    the same run finds the same episodes and skips the complete ones."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    question_id: str
    protocol: str
    params: dict[str, Any] = Field(default_factory=dict)
    roles: RoleAssignment
    seed: int = 0
    order: tuple[int, ...]
    """Display order: ``order[k]`` is the underlying option shown as letter k."""
    label: str | None = None
    """How reports name this protocol setting (e.g. ``debate(rounds=3)``); None: the protocol name."""

    @property
    def id(self) -> str:
        data = self.model_dump(mode="json", exclude={"label"} if self.label is None else None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]

    @property
    def sampling_seed(self) -> int:
        """The episode's own random stream: fixed by what the episode is, not by which run (or
        database) it is in, so the same episode samples the same speeches everywhere (and a
        model-call cache can replay it)."""
        data = self.model_dump(mode="json", exclude={"run_id", "label"})
        return int(hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8], 16)

    @property
    def variant(self) -> str:
        """The report row: the setting's label plus the params that split it (consultancy side)."""
        side = self.params.get("side")
        base = self.label or self.protocol
        return f"{base}[{side}]" if side else base
