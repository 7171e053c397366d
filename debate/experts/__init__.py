"""Model backends: hosted (litellm), local (torch/transformers), scripted (tests).

The local and litellm backends import heavy libraries, so they are imported from their own
modules (``debate.experts.local``, ``debate.experts.litellm_backend``) only when used.
"""

from debate.experts.backend import Backend, GenerateRequest, Generation, ScoreRequest, Scores
from debate.experts.scripted import ScriptedBackend

__all__ = ["Backend", "GenerateRequest", "Generation", "ScoreRequest", "Scores", "ScriptedBackend"]
