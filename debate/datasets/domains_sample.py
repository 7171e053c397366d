"""The small mixed-domain sample shipped inside the package (``--dataset domains-sample``).

24 held-out questions, 8 each of medical (MedQA), science (ARC) and logic (PrOntoQA), so that a
routed-expert run works on a fresh install; built by ``scripts/build_domain_sample.py``, licences
in ``data/ATTRIBUTION-domains.md``. ``source["domain"]`` is what oracle routing and routing
accuracy read; ``source["origin"]`` names the dataset each question came from.
"""

from __future__ import annotations

from importlib.resources import as_file, files

from debate.core.question import Question
from debate.datasets.jsonl import load_jsonl

DOMAINS_SAMPLE_FILE = "domains_sample.jsonl"


def load_domains_sample(limit: int | None = None) -> list[Question]:
    """The shipped sample in file order (medical, science, logic, medical, …)."""
    resource = files("debate.datasets").joinpath("data", DOMAINS_SAMPLE_FILE)
    with as_file(resource) as path:
        questions = load_jsonl(path, limit=limit)
    # The bare file name, not the install path: the same question has the same stored identity everywhere.
    return [q.model_copy(update={"source": {**q.source, "dataset": "domains_sample", "file": DOMAINS_SAMPLE_FILE}})
            for q in questions]
