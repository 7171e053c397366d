"""debate: scalable-oversight experiments in one engine.

Strong experts argue (debate), one expert argues an assigned side (consultancy), or experts
answer alone; a weaker judge who never sees the hidden passage decides. Every turn, model call
and verdict lands in SQLite.
"""

from debate.config import ConfigError, ModelSpec, ProtocolSpec, RunConfig, load_config
from debate.core import EpisodeSpec, JudgeView, Question, Role, Turn, Verdict
from debate.experts.backend import Backend, GenerateRequest, Generation, ScoreRequest, Scores
from debate.orchestrator import RunResult, run, run_experiment
from debate.protocols import EpisodeContext, get_protocol, protocol, protocols

__all__ = [
    "Backend",
    "ConfigError",
    "EpisodeContext",
    "EpisodeSpec",
    "GenerateRequest",
    "Generation",
    "JudgeView",
    "ModelSpec",
    "ProtocolSpec",
    "Question",
    "Role",
    "RunConfig",
    "RunResult",
    "ScoreRequest",
    "Scores",
    "Turn",
    "Verdict",
    "get_protocol",
    "load_config",
    "protocol",
    "protocols",
    "run",
    "run_experiment",
]
