"""Question sources: files on disk and the sample shipped with the package, all as ``Question``s."""

from debate.datasets.errors import DatasetError
from debate.datasets.jsonl import load_jsonl
from debate.datasets.quality import load_quality
from debate.datasets.registry import load_dataset
from debate.datasets.sample import load_sample

__all__ = ["DatasetError", "load_dataset", "load_jsonl", "load_quality", "load_sample"]
