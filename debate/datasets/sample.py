"""The small QuALITY sample shipped inside the package.

A fresh install has no shared data folder, yet the default run should work, so the package
carries 12 CC-BY questions (4 short stories × 3 questions; see ``data/ATTRIBUTION.md``, built
by ``scripts/build_sample.py``). It is read through ``importlib.resources`` so that it works
from a wheel or a zip as well as from a checkout.
"""

from __future__ import annotations

from importlib.resources import as_file, files

from debate.core.question import Question
from debate.datasets.jsonl import load_jsonl

SAMPLE_FILE = "quality_sample.jsonl"


def load_sample(limit: int | None = None) -> list[Question]:
    """The shipped sample, in file order; ``source["dataset"]`` is ``"quality_sample"``."""
    resource = files("debate.datasets").joinpath("data", SAMPLE_FILE)
    with as_file(resource) as path:
        questions = load_jsonl(path, limit=limit)
    return [q.model_copy(update={"source": {**q.source, "dataset": "quality_sample"}}) for q in questions]
