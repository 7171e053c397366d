"""Core data types shared by every layer."""

from debate.core.episode import EpisodeSpec, EpisodeStatus, RoleAssignment
from debate.core.question import LETTERS, JudgeView, Question
from debate.core.transcript import Kind, ParseStatus, QuoteCheck, Role, Turn, Verdict
from debate.core.usage import CallRecord, Usage

__all__ = [
    "LETTERS",
    "CallRecord",
    "EpisodeSpec",
    "EpisodeStatus",
    "JudgeView",
    "Kind",
    "ParseStatus",
    "Question",
    "QuoteCheck",
    "Role",
    "RoleAssignment",
    "Turn",
    "Usage",
    "Verdict",
]
