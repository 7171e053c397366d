"""One string names a dataset, so the CLI and config files need no loader-specific options.

Specs:

* ``sample`` — the QuALITY sample shipped with the package;
* ``quality:<pool.jsonl>[:<stories.jsonl>]`` — the two-option QuALITY pool; stories default to
  ``../quality_nyu_debates/derived_stories.jsonl`` next to the pool's folder;
* ``<path>.jsonl`` — any file in the generic multiple-choice JSONL format.
"""

from __future__ import annotations

from pathlib import Path

from debate.core.question import Question
from debate.datasets.errors import DatasetError
from debate.datasets.jsonl import load_jsonl
from debate.datasets.quality import load_quality
from debate.datasets.sample import load_sample

DEFAULT_STORIES = Path("..") / "quality_nyu_debates" / "derived_stories.jsonl"
SPEC_HELP = "expected 'sample', 'quality:<pool.jsonl>[:<stories.jsonl>]' or a path to a .jsonl file"


def load_dataset(spec: str, *, limit: int | None = None) -> list[Question]:
    """Load the dataset named by ``spec`` (see the module docstring)."""
    text = spec.strip()
    if text == "sample":
        return load_sample(limit=limit)
    if text.startswith("quality:"):
        pool, stories = _quality_paths(spec, text.removeprefix("quality:"))
        return load_quality(pool, stories, limit=limit)
    if text.endswith(".jsonl"):
        return load_jsonl(Path(text).expanduser(), limit=limit)
    raise DatasetError(spec or "''", f"unknown dataset spec; {SPEC_HELP}")


def _quality_paths(spec: str, rest: str) -> tuple[Path, Path]:
    parts = rest.split(":")
    if not parts[0] or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
        raise DatasetError(spec, "bad quality spec; expected 'quality:<pool.jsonl>[:<stories.jsonl>]'")
    pool = Path(parts[0]).expanduser()
    if not pool.is_file():
        raise DatasetError(pool, "no such file (the QuALITY pool named by the dataset spec)")
    stories = Path(parts[1]).expanduser() if len(parts) == 2 else pool.parent / DEFAULT_STORIES
    return pool, stories
