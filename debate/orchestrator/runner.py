"""Runs an experiment: validate everything, store the plan, run episodes concurrently, resume.

Everything that can be wrong with the input (config, protocols, models, dataset) is checked
before the database is touched, so a bad run leaves nothing half-written. Episodes already
complete in the database are skipped, so re-running the same command finishes a killed run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from debate.config import RunConfig
from debate.core.episode import EpisodeSpec, EpisodeStatus
from debate.core.question import Question
from debate.datasets import load_dataset
from debate.experts.backend import Backend
from debate.orchestrator.episode_runner import run_episode
from debate.orchestrator.models import build_backends, model_names
from debate.orchestrator.plan import check_backends, check_protocols, plan_episodes
from debate.orchestrator.plugins import load_plugins
from debate.protocols.context import SpeechSettings
from debate.orchestrator.resume import check_resumable, run_fingerprint
from debate.storage import Database, DatabaseWriter, open_database
from debate.storage.lease import run_lease


class RunAborted(RuntimeError):
    """The run stopped itself because too many episodes failed (``max_error_rate``); what it
    finished is stored, the rest is left to resume by re-running the same command."""


@dataclass
class Progress:
    total: int
    skipped: int = 0
    done: int = 0
    errors: int = 0
    tokens: int = 0


@dataclass
class RunResult:
    run_id: str
    db_path: str
    total: int
    skipped: int
    completed: int
    errors: int
    statuses: dict[str, EpisodeStatus] = field(default_factory=dict)


ProgressFn = Callable[[Progress], None]


def prepare(
    config: RunConfig, questions: list[Question] | None = None, backends: dict[str, Backend] | None = None
) -> list[Question]:
    """All checks that need no database: plugins, protocols, model specs, dataset."""
    load_plugins(config.plugins)
    check_protocols(config)
    for name in model_names(config) - set(backends or {}):
        config.model_spec(name)  # raises ConfigError for an unknown model
    return questions if questions is not None else load_dataset(config.dataset, limit=config.limit)


async def run_experiment(
    config: RunConfig,
    *,
    questions: list[Question] | None = None,
    backends: dict[str, Backend] | None = None,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Run (or resume) ``config``. ``questions`` and ``backends`` replace the configured
    dataset and models, for scripting and tests."""
    qs = prepare(config, questions, backends)
    models = build_backends(config, backends)
    run_id = config.name
    specs = plan_episodes(config, run_id, qs)
    check_backends(config, models, qs)
    check_resumable(config, qs)
    db = open_database(config.db)
    try:
        with run_lease(config.db, run_id):
            results, prog = await _run_plan(db, config, qs, specs, models, progress)
    finally:
        db.close()
    return RunResult(
        run_id=run_id, db_path=str(config.db), total=len(specs), skipped=prog.skipped,
        completed=sum(r is EpisodeStatus.COMPLETE for r in results.values()),
        errors=sum(r is EpisodeStatus.ERROR for r in results.values()), statuses=results,
    )


async def _run_plan(
    db: Database, config: RunConfig, qs: list[Question], specs: list[EpisodeSpec], models: dict[str, Backend],
    progress: ProgressFn | None,
) -> tuple[dict[str, EpisodeStatus], Progress]:
    run_id = config.name
    by_id = {q.id: q for q in qs}
    async with DatabaseWriter(db) as writer:
        await writer.put_run(run_id, config.name, config.model_dump_json(), run_fingerprint(config, qs))
        await writer.set_run_status(run_id, "running")
        uids = await writer.put_questions(qs)
        await writer.put_episodes(specs, uids)
        status = db.episode_status(run_id)
        todo = [s for s in specs if status.get(s.id) is not EpisodeStatus.COMPLETE]
        prog = Progress(total=len(specs), skipped=len(specs) - len(todo))
        if progress:
            progress(prog)
        settings = SpeechSettings(config.speech_tokens, config.temperature, config.seed)
        results, aborted = await _run_all(todo, by_id, models, writer, config, settings, prog, progress)
        if aborted:
            await writer.set_run_status(run_id, "stopped")
        else:
            final = "complete" if all(r is EpisodeStatus.COMPLETE for r in results.values()) else "incomplete"
            await writer.set_run_status(run_id, final)
    if aborted:
        raise RunAborted(
            f"run {run_id!r} stopped: {prog.errors} of {prog.done} finished episodes failed "
            f"(max_error_rate {config.max_error_rate:g}); fix the cause and re-run the same command to resume"
        )
    return results, prog


async def _run_all(
    todo: list[EpisodeSpec],
    questions: dict[str, Question],
    models: dict[str, Backend],
    writer: DatabaseWriter,
    config: RunConfig,
    settings: SpeechSettings,
    prog: Progress,
    progress: ProgressFn | None,
) -> tuple[dict[str, EpisodeStatus], bool]:
    """Returns the finished episodes' statuses and whether the error-rate guard stopped the run
    (then the unfinished episodes were cancelled and stay running/pending, to resume)."""
    sem = asyncio.Semaphore(config.max_in_flight)
    results: dict[str, EpisodeStatus] = {}
    best_of = {name: spec.best_of for name, spec in config.models.items()}

    def count(n: int) -> None:
        prog.tokens += n
        if progress:
            progress(prog)

    async def one(spec: EpisodeSpec) -> None:
        async with sem:
            st = await run_episode(spec, questions[spec.question_id], models, writer,
                                   judge_kind=config.judge_kind, settings=settings, on_tokens=count, best_of=best_of)
        results[spec.id] = st
        prog.done += 1
        prog.errors += st is EpisodeStatus.ERROR
        if progress:
            progress(prog)
        if not aborted and _too_many_errors(config, prog):
            aborted.append(True)
            me = asyncio.current_task()
            for t in tasks:
                if t is not me:
                    t.cancel()

    aborted: list[bool] = []
    tasks: list[asyncio.Task[None]] = []
    # TaskGroup cancels the siblings if one raises (only storage failures do); a task cancelled
    # by the error-rate guard ends quietly, leaving its episode running/pending in the database.
    async with asyncio.TaskGroup() as tg:
        for spec in todo:
            tasks.append(tg.create_task(one(spec)))
    return results, bool(aborted)


def _too_many_errors(config: RunConfig, prog: Progress) -> bool:
    if config.max_error_rate is None or prog.done < config.min_episodes_for_error_rate:
        return False
    return prog.errors / prog.done > config.max_error_rate


def run(config: RunConfig, **kwargs: object) -> RunResult:
    """Synchronous wrapper for scripts: ``debate.run(RunConfig(...))``."""
    return asyncio.run(run_experiment(config, **kwargs))  # type: ignore[arg-type]
