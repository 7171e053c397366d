"""Domain question sets for routed experts: medical (MedQA), science (MMLU science + ARC), logic (PrOntoQA).

Each domain has a fixed train / held-out split (a seeded shuffle of stable record ids), so the
experts are trained on one part and every reported number comes from the other. Questions are
reduced to two options (the gold one and a seeded distractor, in seeded order): that is the
form every protocol here can run (two debaters need two sides) and the form experts are trained
on. ``source["domain"]`` carries the domain, which the oracle router and routing accuracy use.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from debate.core.question import Question
from debate.datasets.errors import DatasetError

Split = Literal["train", "heldout", "all"]
DOMAINS = ("medical", "science", "logic")

SCIENCE_SUBJECTS = (
    "astronomy", "college_biology", "college_chemistry", "college_physics", "conceptual_physics",
    "high_school_biology", "high_school_chemistry", "high_school_physics",
)
"""MMLU subjects that train the science expert (ARC-Challenge's held-out half evaluates it)."""

_TRAIN = {"medical": 1000, "logic": 1200, "arc": 150}
"""Records of each shuffled source that are trained on; the rest are held out."""

_LICENSES = {
    "medqa": "MIT (jind11/MedQA)",
    "mmlu": "MIT (hendrycks/test)",
    "arc": "CC-BY-SA 4.0 (AI2 ARC)",
    "prontoqa": "Apache-2.0 (asaparov/prontoqa)",
}


def load_domain(domain: str, root: str | Path, split: Split = "heldout", *, seed: int = 0) -> list[Question]:
    """The domain's questions under ``root`` (a folder laid out like ``shared/data``)."""
    root = Path(root).expanduser()
    if domain == "medical":
        records = list(_medqa(root / "medqa_usmle" / "test.jsonl"))
        return _two_option(_split(records, _TRAIN["medical"], split), "medical", seed)
    if domain == "logic":
        files = [root / "prontoqa_generated" / f"{h}hop_0shot_random.json" for h in (1, 3, 5)]
        records = [r for f in files for r in _prontoqa(f)]
        return _two_option(_split(records, _TRAIN["logic"], split), "logic", seed)
    if domain == "science":
        arc = _split(list(_arc(root / "arc_challenge" / "ARC-Challenge-Dev.jsonl")), _TRAIN["arc"], split)
        mmlu: list[Question] = []
        if split in ("train", "all"):
            mmlu = [q for s in SCIENCE_SUBJECTS for q in _mmlu(root / "mmlu" / "test" / f"{s}_test.csv", s)]
        return _two_option(mmlu + arc, "science", seed)
    raise DatasetError(domain, f"unknown domain; known: {', '.join(DOMAINS)}")


def load_domains(root: str | Path, split: Split = "heldout", *, per_domain: int | None = None, seed: int = 0) -> list[Question]:
    """Every domain's questions, interleaved (medical, science, logic, medical, …) so a limit keeps the mix."""
    sets = [load_domain(d, root, split, seed=seed)[:per_domain] for d in DOMAINS]
    out: list[Question] = []
    for i in range(max(len(s) for s in sets)):
        out.extend(s[i] for s in sets if i < len(s))
    return out


# ---- splitting and option reduction ------------------------------------------------------
def _split(records: list[Question], n_train: int, split: Split) -> list[Question]:
    order = sorted(records, key=lambda q: hashlib.sha256(f"split:{q.id}".encode()).hexdigest())
    if split == "all":
        return order
    return order[:n_train] if split == "train" else order[n_train:]


def _two_option(questions: list[Question], domain: str, seed: int) -> list[Question]:
    out = []
    for q in questions:
        rng = random.Random(f"{seed}:{q.id}")
        if len(q.options) > 2:
            wrong = rng.choice([i for i in range(len(q.options)) if i != q.gold_index])
            pair = [q.gold_index, wrong]
        else:
            pair = list(range(len(q.options)))
        rng.shuffle(pair)
        out.append(q.model_copy(update={
            "options": tuple(q.options[i] for i in pair),
            "gold_index": pair.index(q.gold_index),
            "source": {**q.source, "domain": domain, "n_options_original": len(q.options)},
        }))
    return out


# ---- readers -----------------------------------------------------------------------------
def _source(dataset: str, path: Path, line: int) -> dict:
    return {"dataset": dataset, "file": path.name, "line": line, "license": _LICENSES[dataset]}


def _lines(path: Path) -> Iterator[tuple[int, dict]]:
    if not path.is_file():
        raise DatasetError(path, "no such file (domain data; pass the folder that holds the datasets)")
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(path, f"invalid JSON ({exc.msg})", line=n) from None


def _medqa(path: Path) -> Iterator[Question]:
    import re

    for n, rec in _lines(path):
        opts = [re.sub(r"^[A-E]\.\s*", "", o).strip().rstrip('"').strip() for o in re.split(r"\n(?=[A-E]\. )", rec["options"].strip())]
        if len(opts) != 5:
            raise DatasetError(path, f"expected 5 options, found {len(opts)}", line=n, field="options")
        yield Question(id=f"medqa-{n}", question=rec["question"].strip(), options=tuple(opts),
                       gold_index="ABCDE".index(rec["answer"].strip()[0]), source=_source("medqa", path, n))


def _arc(path: Path) -> Iterator[Question]:
    for n, rec in _lines(path):
        choices = rec["question"]["choices"]
        labels = [c["label"] for c in choices]
        if rec["answerKey"] not in labels:
            raise DatasetError(path, f"answerKey {rec['answerKey']!r} is not a choice label", line=n, field="answerKey")
        yield Question(id=f"arc-{rec['id']}", question=rec["question"]["stem"].strip(),
                       options=tuple(c["text"] for c in choices), gold_index=labels.index(rec["answerKey"]),
                       source=_source("arc", path, n))


def _mmlu(path: Path, subject: str) -> Iterator[Question]:
    if not path.is_file():
        raise DatasetError(path, "no such file (MMLU subject CSV)")
    with path.open(encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if len(row) != 6 or row[5] not in "ABCD":
                raise DatasetError(path, "expected 6 columns: question, A, B, C, D, answer letter", line=n)
            yield Question(id=f"mmlu-{subject}-{n}", question=row[0].strip(), options=tuple(row[1:5]),
                           gold_index="ABCD".index(row[5]), source={**_source("mmlu", path, n), "subject": subject})


def _prontoqa(path: Path) -> Iterator[Question]:
    if not path.is_file():
        raise DatasetError(path, "no such file (PrOntoQA generated set)")
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, rec in data.items():
        ex = rec["test_example"]
        # The facts are the hidden passage: the judge sees only the query (the asymmetric variant).
        yield Question(id=f"prontoqa-{path.stem}-{key}", question=ex["query"].strip(), options=("True", "False"),
                       gold_index=0 if ex["answer"] == "True" else 1, context=ex["question"].strip(),
                       source={**_source("prontoqa", path, 0), "record": key})
