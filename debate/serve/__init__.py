"""``debate serve``: the local backend (base model, its LoRA experts, a router) behind an
OpenAI-compatible HTTP API, so runs on other machines reach it through litellm."""

from debate.serve.app import create_app
from debate.serve.server import ServeOptions, build_service, serve

__all__ = ["ServeOptions", "build_service", "create_app", "serve"]
