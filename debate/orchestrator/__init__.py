"""The orchestrator: turns a config into episodes and runs them."""

from debate.orchestrator.runner import Progress, RunResult, run, run_experiment

__all__ = ["Progress", "RunResult", "run", "run_experiment"]
