"""What one LoRA expert is: the manifest stored beside its adapter weights.

A manifest names the base model the adapter was trained on (by content fingerprint, so an adapter
for another base is refused before anything loads), the data it saw (by hash, so a number can be
traced to its training set), and the statistics a router needs (its training-data centroid).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MANIFEST = "manifest.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
GATES = "gates.safetensors"


class Training(BaseModel):
    model_config = ConfigDict(extra="forbid")

    datasets: list[str]
    """Dataset specs the examples came from (``medqa:…``, ``arc:…``)."""
    split: str
    """Which records were trained on, e.g. ``records 0-899 of test.jsonl (seeded shuffle, seed 0)``."""
    n_examples: int
    data_sha256: str
    """Hash of the exact training examples, in order."""
    seed: int
    command: str
    """The ``debate experts train …`` command that reproduces this adapter."""
    steps: int = 0
    epochs: float = 0.0
    learning_rate: float = 0.0
    batch_size: int = 0
    seconds: float = 0.0
    final_loss: float | None = None


class RouterStats(BaseModel):
    """What per-question routers know about the expert, from its training questions."""

    model_config = ConfigDict(extra="forbid")

    centroid: list[float]
    """Mean of the base model's pooled hidden states over the training questions."""
    layer: int = -1
    """Which hidden layer was pooled (-1: the last)."""
    pooling: str = "mean"
    self_similarity: list[float] = Field(default_factory=list)
    """Quantiles (0, .1, …, 1) of training questions' cosine similarity to this centroid; a
    null-expert threshold is read off these."""


class ExpertManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    domain: str
    description: str = ""
    base_model: str
    """What the base model was (``embedded`` = Gemma 3 270M GGUF shipped with the package)."""
    base_fingerprint: str
    rank: int = Field(ge=1)
    alpha: float
    target_modules: list[str]
    training: Training
    router: RouterStats | None = None
    gates: str | None = None
    """File with the per-module PHATGOOSE gate vectors (token routing), if trained."""
    evaluation: dict[str, Any] = Field(default_factory=dict)
    """Held-out option-letter accuracy, e.g. ``{"medical": {"n": 200, "base": 0.21, "expert": 0.24}}``."""
