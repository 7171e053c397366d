"""Import the NYU human/AI debate and consultancy transcripts (Michael et al. 2023, *Debate Helps
Supervise Unreliable Experts*) into a debate database.

The release (``quality_nyu_debates``: ``debates/<room>.json`` plus ``debates-metadata.jsonl``) holds
631 "rooms", one debate or consultancy each on a two-option QuALITY question. ``import_nyu`` turns
every room into one episode, in two runs:

* ``run_name`` (default ``nyu-debates``): every imported room (by default the 561 ``Complete``
  ones; ``only_complete=False`` adds the 41 ``InProgress`` and 29 ``WaitingToBegin`` ones).
* ``run_name + "-paper"``: the 413 rooms with ``includedInPaper`` (all ``Complete``), the
  sample the paper's results are computed on. Same questions, its own episodes (the run id is
  part of an episode's id). ``debate report DB --run nyu-debates-paper`` then gives the paper's
  numbers: human debate 130/154 = 84.4 %, human consultancy 71/96 = 74.0 % (the
  ``human_consultancy (all)`` row), AI debate 68/87, AI consultancy 61/76.

Mapping (what a reader of the database needs to know):

* **Protocol** from the metadata's ``setting``: ``human_debate``, ``human_consultancy``,
  ``ai_debate``, ``ai_consultancy``. Episode ``params``: ``room`` (the file's name),
  ``included_in_paper``, and for consultancy ``side`` = ``correct`` | ``incorrect`` (whether
  the consultant argued the gold answer), so consultancy splits into report rows like our own
  ``consultancy[correct]``/``[incorrect]``, with the CLI's pooled ``(all)`` row beside them.
* **Roles**: ``debater_a``/``debater_b`` (debates) or ``expert`` (consultancy) map to
  ``human`` or ``gpt-4`` (the release names the AI debater ``GPT-4``); ``judge`` is ``human``
  when the room had a live judge. Upstream, ``Debater A``/``Debater B`` *are* answer indices 0
  and 1 (``Debater(answerIndex)``), and speeches are keyed by that index, so a speech's
  ``argues_for`` is its key. A consultancy room has a single debater, ``Debater A`` or
  ``Debater B``, who argues ``answers[0]`` or ``answers[1]`` accordingly.
* **Question**: ``id`` = ``nyu-<articleId>-<hash of the question text>`` (stable; rooms asking
  the same question share it), options = ``setup.answers`` in the room's order (episode
  ``order`` is the identity, so letter A is always ``answers[0]``), gold =
  ``setup.correctAnswerIndex``, context = the room's own story, detokenised (see ``nyu_text``). The
  source names the room, so every room has its own question row (uid); ids group them.
* **Turns**, in the room's order: each speech (``SimultaneousSpeeches`` in answer order,
  ``SequentialSpeeches`` in timestamp order) is a ``speech`` turn with quotes rendered as
  ``<quote>…</quote>`` from their token spans and checked ``verified=True`` (they are spans of
  the story by construction; each quote text is an exact substring of the stored context). A
  literal ``<quote>``/``</quote>`` typed into text (four judge messages do) becomes ``‹quote›``,
  so every tag pair in a turn is one of its quotes.
  Each ``JudgeFeedback`` is a judge turn, kind ``judge_question`` (the final one, with
  ``endDebate``, kind ``verdict``) with the judge's distribution in ``meta``. ``round`` counts
  speech rounds from 1; a judge turn carries the number of speech rounds before it (0 for the
  judge's prior before any speech). ``NegotiateEnd`` votes and scratchpads are not imported.
* **Verdicts**: every live ``JudgeFeedback`` distribution is a verdict (``judge_model`` and
  ``judge_kind`` ``human``), in transcript order, so belief over turns can be plotted; the
  ``endDebate`` one is final and the live judge's last (it equals the metadata's
  ``finalJudgement``; both are checked). Offline judges' judgments (judges who read the finished
  transcript later) are non-final verdicts of another judge model, ``human-offline``
  (``judge_kind="human_offline"``), with a JSON ``raw`` naming the judge, mode and step: the
  report lists them under "Also judged by", and ``--judge human-offline`` scores each episode's
  latest one (with two offline judges on a room, the one whose name sorts last).
* **Decision rule** (reproduces the paper exactly): the judge chose option *i* iff its
  probability is **> 0.5**. When no option exceeds 0.5 (the exact 0.5/0.5 tie; one final
  verdict, a human consultancy in the paper set) the verdict has ``chosen=None`` and status
  ``ambiguous``, which the report counts as wrong, as the paper does. Argmax would differ only on
  one intermediate distribution, ``[0.49999999999999994, 0.5]``, which this rule calls a tie.
* **Status**: a room with a final verdict is ``complete``. 44 ``Complete`` human-debate rooms
  (ended by mutual agreement or time-up) never had a live judge, only offline judges: their
  transcript is imported but the episode is ``error`` with that reason, so reports list them as
  errors, outside ``n``. Unfinished rooms (``only_complete=False``) stay ``running``.

**Detokeniser.** Contexts are rebuilt from each room's own token list (not from
``derived_stories.jsonl``), so that quotes are exact substrings of the context; the rules and the
reasons are in ``debate.importers.nyu_text``.

Re-importing is idempotent: runs are resumed (a different metadata file or option under the
same name is refused with ``ConfigMismatchError``), questions and episodes are not duplicated,
finished episodes are skipped and unfinished ones are rewritten. Every problem with the input is
found before the database is touched and raised as a one-line ``DatasetError`` naming the file.
Rows are written through ``debate.storage.ops`` in transactions of 100 rooms, each episode's
turns and verdicts flushed together, rather than through ``DatabaseWriter``, which commits every
turn on its own (minutes for an import, against about 15 s).

Layout: ``nyu_text`` (detokeniser, quote rendering), ``nyu_fields`` (checked JSON field access),
``nyu_rooms`` (metadata and room parsing into ``_Meta``/``_Room``, ``load_rooms``), and this
module (the runs' configs, writing, ``import_nyu`` and its ``ImportSummary``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debate.importers.nyu_rooms import DATASET, _Room, load_rooms, parse_rooms, question_id, read_release
from debate.importers.nyu_text import Story, detokenise, render_content
from debate.storage import ConfigMismatchError, open_database
from debate.storage.finished import FinishedEpisode, FinishedRun, write_finished_runs

FORMAT_VERSION = 1
PAPER_SUFFIX = "-paper"


@dataclass(frozen=True)
class ImportSummary:
    """What ``import_nyu`` found and wrote."""

    db_path: str
    run_id: str
    paper_run_id: str
    rooms_listed: int
    """Rooms in the metadata (631 in the release)."""
    rooms_imported: int
    """Rooms imported into ``run_id`` (561: the Complete ones, by default)."""
    left_out: dict[str, int]
    """Rooms not imported, by status (``InProgress``, ``WaitingToBegin``)."""
    by_protocol: dict[str, int]
    """Imported rooms per protocol."""
    paper_by_protocol: dict[str, int]
    """Rooms included in the paper (imported into ``paper_run_id``) per protocol."""
    no_live_judge: int
    """Complete rooms without a live judge, stored as ``error`` episodes."""
    unfinished: int
    """Rooms still in progress, stored as ``running`` episodes (``only_complete=False`` only)."""
    questions: int
    """Distinct questions (article, question text) among the imported rooms."""
    written: int
    """Episodes written by this call, both runs together."""
    skipped: int
    """Episodes already finished in the database, left as they were."""

    @property
    def included_in_paper(self) -> int:
        return sum(self.paper_by_protocol.values())

    def lines(self) -> list[str]:
        def counts(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

        left = f"; left out {counts(self.left_out)}" if self.left_out else ""
        return [
            f"{self.rooms_imported} of {self.rooms_listed} rooms imported into run {self.run_id!r}{left}",
            f"  by protocol: {counts(self.by_protocol)}; {self.questions} distinct questions",
            f"{self.included_in_paper} rooms included in the paper, also in run {self.paper_run_id!r}: "
            f"{counts(self.paper_by_protocol)}",
            f"{self.no_live_judge} rooms without a live judge (stored as errors); {self.unfinished} unfinished",
            f"{self.written} episodes written, {self.skipped} already in {self.db_path} (skipped)",
        ]


def _run_config(root: Path, subset: str, only_complete: bool | None, metadata_sha: str) -> tuple[str, str]:
    """The run's config JSON and hash. The folder is recorded but not hashed: moving the data
    doesn't stop a re-import from resuming; a changed metadata file does."""
    config: dict[str, Any] = {
        "importer": "nyu", "format_version": FORMAT_VERSION, "dataset": DATASET, "subset": subset,
        "metadata_sha256": metadata_sha,
    }
    if only_complete is not None:
        config["only_complete"] = only_complete
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return json.dumps({**config, "root": str(root)}, sort_keys=True), digest


def _write(db_path: Path, runs: list[tuple[str, str, str, list[_Room]]]) -> tuple[int, int]:
    """Write the runs through storage's bulk writer. Returns (written, skipped as finished)."""
    return write_finished_runs(db_path, [
        FinishedRun(run_id, config_json, config_hash,
                    [FinishedEpisode(room.spec(run_id), room.question, room.events, room.final, room.error) for room in rooms])
        for run_id, config_json, config_hash, rooms in runs
    ])


def _check_runs(db_path: Path, configs: dict[str, tuple[str, str]]) -> None:
    """Refuse a run name already used with another config before the slow part, not after it."""
    if not db_path.is_file():
        return
    db = open_database(db_path)
    try:
        for run_id, (_, config_hash) in configs.items():
            row = db.run(run_id)
            if row is not None and row.config_hash != config_hash:
                raise ConfigMismatchError(run_id, row.config_hash, config_hash)
    finally:
        db.close()


def import_nyu(
    root: str | Path, db_path: str | Path, *, run_name: str = "nyu-debates", only_complete: bool = True
) -> ImportSummary:
    """Import the NYU debate release at ``root`` into the database at ``db_path``: every
    (by default every ``Complete``) room into run ``run_name``, the rooms included in the paper
    also into run ``run_name + "-paper"``. Safe to repeat. See the module docstring for the
    mapping. Synchronous (no event loop); from async code use ``asyncio.to_thread``.

    Raises ``DatasetError`` (one line, naming the file) for anything wrong with the release,
    before the database is touched, and ``ConfigMismatchError`` when ``run_name`` already holds
    an import of another metadata file or with another ``only_complete``."""
    if not run_name or not run_name.strip():
        raise ValueError("run_name must not be empty")
    root, db_path = Path(root).expanduser(), Path(db_path).expanduser()
    rooms_dir, metas, sha = read_release(root)
    paper_run = f"{run_name}{PAPER_SUFFIX}"
    configs = {
        run_name: _run_config(root, "all", only_complete, sha),
        paper_run: _run_config(root, "included_in_paper", None, sha),
    }
    _check_runs(db_path, configs)
    rooms = parse_rooms(rooms_dir, metas, only_complete)
    paper_rooms = [r for r in rooms if r.meta.included]
    written, skipped = _write(db_path, [(run_name, *configs[run_name], rooms), (paper_run, *configs[paper_run], paper_rooms)])
    imported = {r.meta.name for r in rooms}
    return ImportSummary(
        db_path=str(db_path), run_id=run_name, paper_run_id=paper_run, rooms_listed=len(metas),
        rooms_imported=len(rooms),
        left_out=dict(Counter(m.status for m in metas if m.name not in imported)),
        by_protocol=dict(Counter(r.protocol for r in rooms)),
        paper_by_protocol=dict(Counter(r.protocol for r in paper_rooms)),
        no_live_judge=sum(r.error is not None for r in rooms),
        unfinished=sum(r.final is None and r.error is None for r in rooms),
        questions=len({r.question.id for r in rooms}), written=written, skipped=skipped,
    )


__all__ = [
    "ImportSummary", "Story", "detokenise", "import_nyu", "load_rooms", "question_id", "render_content",
]
