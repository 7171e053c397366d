"""A scripted expert model with a fake LoRA-expert library: fixed manifests and embeddings."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from debate.experts.library.manifest import ExpertManifest, RouterStats, Training
from debate.experts.scripted import ScriptedBackend


def manifest(name: str, domain: str, centroid: Sequence[float], quantiles: Sequence[float] | None = None) -> ExpertManifest:
    return ExpertManifest(
        name=name, domain=domain, base_model="embedded", base_fingerprint="fake", rank=8, alpha=16.0,
        target_modules=["q_proj"],
        training=Training(datasets=[f"{domain}:fake"], split="fake", n_examples=1, data_sha256="0" * 64, seed=0,
                          command="fake"),
        router=RouterStats(centroid=list(centroid), self_similarity=list(quantiles or [])),
    )


def basis(i: int, n: int = 4) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(n)]


def with_cosines(cosines: Sequence[float], n: int = 4) -> list[float]:
    """A unit vector whose cosine with ``basis(i)`` is ``cosines[i]``; the rest of its length lies
    on the last axis, which no centroid uses."""
    rest = 1.0 - sum(c * c for c in cosines)
    assert rest >= -1e-12 and len(cosines) < n
    return [*cosines, *([0.0] * (n - 1 - len(cosines))), math.sqrt(max(0.0, rest))]


QUANTILES = [0.5 + 0.05 * i for i in range(11)]
"""Self-similarity quantiles 0.50, 0.55, …, 1.00: a uniform similarity on [0.5, 1]."""


def library(quantiles: Sequence[float] | None = QUANTILES) -> list[ExpertManifest]:
    return [manifest("medical", "medical", basis(0), quantiles), manifest("science", "science", basis(1), quantiles),
            manifest("logic", "logic", basis(2), quantiles)]


class FakeHost(ScriptedBackend):
    """A ``ScriptedBackend`` that also serves an expert library (``expert_manifests``, ``embed``)."""

    def __init__(self, manifests: list[ExpertManifest], embedding: Callable[[str], list[float]] | dict[str, list[float]],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.manifests = manifests
        self.embedding = embedding
        self.embedded: list[str] = []

    def expert_manifests(self) -> list[ExpertManifest]:
        return list(self.manifests)

    def expert_names(self) -> list[str]:
        return [m.name for m in self.manifests]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        look = self.embedding if callable(self.embedding) else self.embedding.__getitem__
        return [look(t) for t in texts]

    def count_tokens(self, text: str) -> int:
        return len(text.split())
