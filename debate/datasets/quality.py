"""The QuALITY two-option pool, joined with its stories.

The pool (``quality_2opt_pool.jsonl``) holds the questions; the passages live in a second file
(``derived_stories.jsonl``, field ``text_approx``) joined on ``article_id``. Both derive from
the NYU debate releases (Parrish et al. 2022; Michael et al. 2023) of QuALITY (Pang et al.
2022), all CC-BY 4.0, so every question carries that licence in its ``source``.

Known quirks of the data, and what we do about them:

* Options carry trailing whitespace or newlines in 323 records: stripped (by ``Question``).
* 84 records contain U+FFFD in the question or an option (upstream encoding damage): kept as is.
* Stories are detokenised approximations of the QuALITY text, not byte-identical originals.
* Debate-only records list options as ``[correct, incorrect]``, so their ``gold_index`` is
  always 0. We keep the file's option order anyway: our protocols run every question in both
  option orders, which removes any position bias that order could cause.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from debate.core.question import Question
from debate.datasets.errors import DatasetError, from_validation
from debate.datasets.jsonl import check_limit, optional_str, read_records, require_gold_index, require_options, require_str

LICENSE = "CC-BY-4.0"


class _Story:
    __slots__ = ("text", "title")

    def __init__(self, text: str, title: str | None) -> None:
        self.text = text
        self.title = title


def load_quality(
    pool_path: str | Path,
    stories_path: str | Path | None,
    *,
    limit: int | None = None,
    require_story: bool = True,
    article_ids: Iterable[str] | None = None,
    seed: int | None = None,
) -> list[Question]:
    """Load the two-option QuALITY pool with each question's story as its hidden context.

    Order is the pool file's order (so runs are reproducible); ``seed`` shuffles that order
    with ``random.Random(seed)`` instead. Filters apply first (``require_story`` drops
    questions whose article has no story; ``article_ids`` keeps only those articles), then
    ``limit`` takes the first N. A story the pool says exists but the stories file lacks is an
    error when ``require_story``; without ``require_story`` such questions get an empty context.
    ``stories_path=None`` means "no stories" and needs ``require_story=False``.
    """
    check_limit(limit)
    pool_path = Path(pool_path)
    if stories_path is None and require_story:
        raise DatasetError(pool_path, "require_story=True needs a stories file")
    stories = _load_stories(Path(stories_path)) if stories_path is not None else {}
    wanted = _article_filter(article_ids)

    questions: list[Question] = []
    seen: dict[str, int] = {}
    articles_in_pool: set[str] = set()
    for line, record in read_records(pool_path):
        article_id = _article_id(record, where=pool_path, line=line)
        articles_in_pool.add(article_id)
        story = stories.get(article_id)
        if story is None and require_story:
            if record.get("story_text_available") is True:
                raise DatasetError(
                    pool_path, f"story for article '{article_id}' is missing from {stories_path}",
                    line=line, field="article_id",
                )
            continue
        if wanted is not None and article_id not in wanted:
            continue
        q = _to_question(record, article_id, story, where=pool_path, line=line)
        if q.id in seen:
            raise DatasetError(pool_path, f"duplicate id '{q.id}' (first on line {seen[q.id]})", line=line, field="id")
        seen[q.id] = line
        questions.append(q)

    if not articles_in_pool:
        raise DatasetError(pool_path, "file is empty")
    if wanted is not None and (unknown := sorted(wanted - articles_in_pool)):
        raise DatasetError(pool_path, f"no questions for article_ids {unknown}", field="article_id")
    if seed is not None:
        random.Random(seed).shuffle(questions)
    return questions if limit is None else questions[:limit]


def _to_question(record: dict[str, Any], article_id: str, story: _Story | None, *, where: Path, line: int) -> Question:
    qid = require_str(record, "id", where=where, line=line)
    question = require_str(record, "question", where=where, line=line)
    options = require_options(record, where=where, line=line)
    gold = require_gold_index(record, len(options), where=where, line=line)
    pool_title = optional_str(record, "title", where=where, line=line)
    source = {"dataset": "quality_2opt_pool", "article_id": article_id, "file": str(where), "line": line, "license": LICENSE}
    try:
        return Question(
            id=qid, question=question, options=tuple(options), gold_index=gold,
            context=story.text if story else "",
            title=(story.title if story and story.title else pool_title),
            source=source,
        )
    except ValidationError as exc:
        raise from_validation(where, line, exc) from exc


def _load_stories(path: Path) -> dict[str, _Story]:
    """``article_id`` → story; a duplicated article id is an error (which text would be right?)."""
    stories: dict[str, _Story] = {}
    first: dict[str, int] = {}
    for line, record in read_records(path):
        article_id = _article_id(record, where=path, line=line)
        if article_id in first:
            raise DatasetError(
                path, f"duplicate article_id '{article_id}' (first on line {first[article_id]})",
                line=line, field="article_id",
            )
        text = require_str(record, "text_approx", where=path, line=line)
        if not text.strip():
            raise DatasetError(path, "field 'text_approx' is empty", line=line, field="text_approx")
        first[article_id] = line
        stories[article_id] = _Story(text, optional_str(record, "title", where=path, line=line))
    if not first:
        raise DatasetError(path, "file is empty")
    return stories


def _article_id(record: dict[str, Any], *, where: Path, line: int) -> str:
    """QuALITY article ids are digit strings; accept a bare number too, since it means the same."""
    value = record.get("article_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return require_str(record, "article_id", where=where, line=line)


def _article_filter(article_ids: Iterable[str] | None) -> set[str] | None:
    if article_ids is None:
        return None
    if isinstance(article_ids, str):  # a lone id, not an iterable of one-character ids
        return {article_ids}
    return {str(a) for a in article_ids}
