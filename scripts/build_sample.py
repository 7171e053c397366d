"""Build the small QuALITY sample shipped inside the package (run once; output is committed).

A fresh machine has no ``../shared`` data, yet ``debate`` should run out of the box, so the
package carries 12 questions with their stories. The choice is mechanical and reproducible:
the 4 articles with the shortest stories (cheapest to put in an expert's prompt) that have at
least 3 usable questions, and the first 3 usable questions of each in pool order. "Usable"
means the story is present and neither question nor options contain U+FFFD (encoding damage).

Usage: python scripts/build_sample.py [--pool POOL] [--stories STORIES] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
DEFAULT_POOL = SHARED / "quality_2opt_pool" / "quality_2opt_pool.jsonl"
DEFAULT_STORIES = SHARED / "quality_nyu_debates" / "derived_stories.jsonl"
DEFAULT_OUT = REPO / "debate" / "datasets" / "data"

N_ARTICLES = 4
PER_ARTICLE = 3
LICENSE = "CC-BY-4.0"


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def usable(rec: dict, stories: dict) -> bool:
    texts = [rec["question"], *rec["options"]]
    return rec["article_id"] in stories and not any("\ufffd" in t for t in texts)


def choose(pool: list[dict], stories: dict) -> tuple[list[str], list[dict]]:
    """Return the chosen article ids (shortest story first) and their questions in pool order."""
    by_article: dict[str, list[dict]] = defaultdict(list)
    for rec in pool:
        if usable(rec, stories):
            by_article[rec["article_id"]].append(rec)
    eligible = [a for a, recs in by_article.items() if len(recs) >= PER_ARTICLE]
    eligible.sort(key=lambda a: (len(stories[a]["text_approx"]), a))
    articles = eligible[:N_ARTICLES]
    if len(articles) < N_ARTICLES:
        raise SystemExit(f"only {len(articles)} eligible articles")
    keep = {r["id"] for a in articles for r in by_article[a][:PER_ARTICLE]}
    return articles, [r for r in pool if r["id"] in keep]


def to_line(rec: dict, story: dict) -> str:
    out = {
        "id": rec["id"],
        "question": rec["question"].strip(),
        "options": [o.strip() for o in rec["options"]],
        "gold_index": rec["gold_index"],
        "context": story["text_approx"],
        "title": story["title"],
        "article_id": rec["article_id"],
        "license": LICENSE,
    }
    return json.dumps(out, ensure_ascii=False)


def attribution(articles: list[str], chosen: list[dict], stories: dict) -> str:
    rows = []
    for a in articles:
        ids = ", ".join(r["id"] for r in chosen if r["article_id"] == a)
        s = stories[a]
        rows.append(f"| {a} | {s['title']} | {len(s['text_approx']):,} | {ids} |")
    table = "\n".join(rows)
    return f"""# Attribution for `quality_sample.jsonl`

`quality_sample.jsonl` holds {len(chosen)} two-option reading-comprehension questions on {len(articles)} stories,
shipped so that `debate` runs on a machine without the full data. It is licensed **CC-BY 4.0**,
like every source it derives from.

## Sources
- **QuALITY** — Richard Yuanzhe Pang, Alicia Parrish, Nitish Joshi, Nikita Nangia, Jason Phang,
  Angelica Chen, Vishakh Padmakumar, Johnny Ma, Jana Thompson, He He, Samuel R. Bowman.
  *QuALITY: Question Answering with Long Input Texts, Yes!* NAACL 2022.
  https://github.com/nyu-mll/quality — CC-BY 4.0. The stories are public-domain Project
  Gutenberg texts or Slate articles, distributed by QuALITY under CC-BY 4.0.
- **Single-turn debate** — Alicia Parrish, Harsh Trivedi, Ethan Perez, Angelica Chen, Nikita
  Nangia, Jason Phang, Samuel R. Bowman. *Single-Turn Debate Does Not Help Humans Answer Hard
  Reading-Comprehension Questions.* ACL Workshop on Learning with Natural Language Supervision,
  2022. https://github.com/nyu-mll/single_turn_debate — CC-BY 4.0.
- **NYU debate** — Julian Michael, Salsabila Mahdi, David Rein, Jackson Petty, Julien Dirani,
  Vishakh Padmakumar, Samuel R. Bowman. *Debate Helps Supervise Unreliable Experts.*
  arXiv:2311.08702, 2023. https://github.com/julianmichael/debate (branch
  `2023-nyu-experiments`) — CC-BY 4.0.

The questions, the two options (the correct answer and one strong distractor, as selected by those
releases) and the gold labels come from the two NYU releases; the stories come from the NYU debate files,
which contain the full QuALITY texts.

## Which items
The {len(articles)} articles with the shortest stories that have at least {PER_ARTICLE} usable questions, and the
first {PER_ARTICLE} usable questions of each (usable: story available, no U+FFFD in question or options).

| QuALITY article_id | title | story chars | question ids (pool ids) |
|---|---|---|---|
{table}

## What was changed
- Stories are **detokenised approximations**: the NYU debate files store each story as a list of
  PTB-style tokens; they were rejoined with a simple detokeniser (brackets and quotes restored,
  spaces before punctuation removed). The text reads well but is not byte-identical to QuALITY.
- Leading and trailing whitespace was stripped from options (and questions).
- Two-option format: QuALITY's original questions have four options; the NYU releases keep the
  correct one and one distractor. Some questions come from both NYU releases; their option text
  is taken from the NYU debate files.
- Questions that appear only in the NYU debate release list the correct answer first
  (`gold_index` 0); the option order is otherwise as in the source.

Built by `scripts/build_sample.py` from `quality_2opt_pool.jsonl` and
`quality_nyu_debates/derived_stories.jsonl`.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=Path, default=DEFAULT_POOL)
    ap.add_argument("--stories", type=Path, default=DEFAULT_STORIES)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()

    pool = read_jsonl(args.pool)
    stories = {s["article_id"]: s for s in read_jsonl(args.stories)}
    articles, chosen = choose(pool, stories)

    args.out.mkdir(parents=True, exist_ok=True)
    lines = [to_line(r, stories[r["article_id"]]) for r in chosen]
    (args.out / "quality_sample.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "ATTRIBUTION.md").write_text(attribution(articles, chosen, stories), encoding="utf-8")
    for a in articles:
        ids = [r["id"] for r in chosen if r["article_id"] == a]
        print(a, stories[a]["title"], len(stories[a]["text_approx"]), ids)


if __name__ == "__main__":
    main()
