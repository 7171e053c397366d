"""Local models in-process through torch/transformers."""

from debate.experts.local.backend import LocalBackend
from debate.experts.local.engine import ContextExceeded

__all__ = ["ContextExceeded", "LocalBackend"]
