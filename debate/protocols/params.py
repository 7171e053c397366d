"""Parameter types shared by protocols; their bounds are checked before a run starts."""

from typing import Annotated

from pydantic import Field

Rounds = Annotated[int, Field(ge=1, le=50)]
"""Rounds of speeches: at least one (zero would make a debate a blind judgement)."""
