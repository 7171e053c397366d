"""One string names a dataset, so the CLI and config files need no loader-specific options.

Specs:

* ``sample`` — the QuALITY sample shipped with the package;
* ``quality:<pool.jsonl>[:<stories.jsonl>]`` — the two-option QuALITY pool; stories default to
  ``../quality_nyu_debates/derived_stories.jsonl`` next to the pool's folder;
* ``domains:<root>[:<domain>,…][@train|heldout|all]`` — the routed-expert domain sets
  (medical, science, logic; ``debate.datasets.domains``) under ``root`` (a folder laid out like
  ``shared/data``), interleaved by domain; default every domain, held-out split;
* ``domains-sample`` — 8 held-out questions per domain, shipped with the package;
* ``<path>.jsonl`` — any file in the generic multiple-choice JSONL format.
"""

from __future__ import annotations

from pathlib import Path

from debate.core.question import Question
from debate.datasets.domains import DOMAINS, load_domain
from debate.datasets.domains_sample import load_domains_sample
from debate.datasets.errors import DatasetError
from debate.datasets.jsonl import load_jsonl
from debate.datasets.quality import load_quality
from debate.datasets.sample import load_sample

DEFAULT_STORIES = Path("..") / "quality_nyu_debates" / "derived_stories.jsonl"
SPEC_HELP = (
    "expected 'sample', 'quality:<pool.jsonl>[:<stories.jsonl>]', 'domains:<root>[:<domain>,...][@train|heldout|all]', "
    "'domains-sample' or a path to a .jsonl file"
)
SPLITS = ("train", "heldout", "all")


def load_dataset(spec: str, *, limit: int | None = None) -> list[Question]:
    """Load the dataset named by ``spec`` (see the module docstring)."""
    text = spec.strip()
    if text == "sample":
        return load_sample(limit=limit)
    if text == "domains-sample":
        return load_domains_sample(limit=limit)
    if text.startswith("domains:"):
        return _domains(spec, text.removeprefix("domains:"), limit)
    if text.startswith("quality:"):
        pool, stories = _quality_paths(spec, text.removeprefix("quality:"))
        return load_quality(pool, stories, limit=limit)
    if text.endswith(".jsonl"):
        return load_jsonl(Path(text).expanduser(), limit=limit)
    raise DatasetError(spec or "''", f"unknown dataset spec; {SPEC_HELP}")


def _domains(spec: str, rest: str, limit: int | None) -> list[Question]:
    """``<root>[:<domain>,…][@split]``, interleaved by domain so that ``limit`` keeps the mix."""
    split = "heldout"
    if "@" in rest:
        rest, _, split = rest.rpartition("@")
        if split not in SPLITS:
            raise DatasetError(spec, f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    root, _, names = rest.partition(":")
    if not root:
        raise DatasetError(spec, "bad domains spec; expected 'domains:<root>[:<domain>,...][@train|heldout|all]'")
    domains = [d.strip() for d in names.split(",")] if names else list(DOMAINS)
    for d in domains:
        if d not in DOMAINS:
            raise DatasetError(spec, f"unknown domain {d!r}; known: {', '.join(DOMAINS)}")
    if not Path(root).expanduser().is_dir():
        raise DatasetError(root, "no such folder (the data root named by the domains spec)")
    sets = [load_domain(d, root, split) for d in dict.fromkeys(domains)]  # type: ignore[arg-type]
    mixed = [s[i] for i in range(max(map(len, sets), default=0)) for s in sets if i < len(s)]
    return mixed if limit is None else mixed[:limit]


def _quality_paths(spec: str, rest: str) -> tuple[Path, Path]:
    parts = rest.split(":")
    if not parts[0] or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
        raise DatasetError(spec, "bad quality spec; expected 'quality:<pool.jsonl>[:<stories.jsonl>]'")
    pool = Path(parts[0]).expanduser()
    if not pool.is_file():
        raise DatasetError(pool, "no such file (the QuALITY pool named by the dataset spec)")
    stories = Path(parts[1]).expanduser() if len(parts) == 2 else pool.parent / DEFAULT_STORIES
    return pool, stories
