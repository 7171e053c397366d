"""Re-judging: new judges over stored transcripts, without regenerating a single expert turn.

The new verdicts are stored beside the original ones (``is_final`` stays with the original),
linked to the same episodes, so ``debate report --judge MODEL`` compares judges on identical
transcripts. Episodes this judge has already judged are skipped, so a rejudge resumes too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from debate.config import ConfigError, RunConfig
from debate.core.episode import EpisodeStatus
from debate.core.usage import CallRecord
from debate.experts.backend import Backend
from debate.experts.recording import RecordingBackend
from debate.orchestrator.models import build_backends, make_judge
from debate.storage import DatabaseWriter, open_database


def judge_label(judge: str, kind: str) -> str:
    """How re-judge verdicts are keyed: the model, plus the judging method unless it is log-prob."""
    return judge if kind == "logprob" else f"{judge} ({kind})"


@dataclass
class RejudgeResult:
    judged: int
    skipped: int
    errors: int


async def rejudge(
    db_path: str,
    run_id: str,
    judge: str,
    *,
    judge_kind: str = "logprob",
    max_in_flight: int = 32,
    backends: dict[str, Backend] | None = None,
    models: RunConfig | None = None,
) -> RejudgeResult:
    """Judge every complete, judged episode of ``run_id`` again with model ``judge``.

    ``models`` (a config) can define ``judge`` under ``models:``; ``backends`` supplies ready ones.
    """
    cfg = (models or RunConfig()).model_copy(update={"judge": judge, "expert": judge, "protocols": RunConfig().protocols})
    db = open_database(db_path)
    try:
        if db.run(run_id) is None:
            raise ConfigError(f"{db_path}: no run named {run_id!r}; runs: {[r.id for r in db.runs()]}")
        backend = build_backends(cfg, backends)[judge]
        episodes = [e for e in db.episodes(run_id, status=EpisodeStatus.COMPLETE) if "judge" in e.roles]
        label = judge_label(backend.name, judge_kind)
        done = {o.episode_id for o in db.outcomes(run_id, judged_by=label)}
        todo = [e for e in episodes if e.id not in done]
        sem = asyncio.Semaphore(max_in_flight)
        errors = 0
        async with DatabaseWriter(db) as writer:

            async def one(ep) -> None:  # type: ignore[no-untyped-def]
                nonlocal errors
                question = db.question(ep.question_uid)
                assert question is not None
                turns = [t.to_turn() for t in db.turns(ep.id) if t.visible_to_judge]

                async def on_call(call: CallRecord) -> None:
                    await writer.add_call(run_id, ep.id, call)

                j = make_judge(judge_kind, RecordingBackend(backend, "rejudge", on_call))
                async with sem:
                    try:
                        shown = await j.judge(question.judge_view(ep.order), turns)
                    except Exception:  # noqa: BLE001 - recorded by the call record; the rest go on
                        errors += 1
                        return
                verdict = shown.unshuffle(ep.order).model_copy(update={"judge_model": label})
                await writer.add_verdict(ep.id, verdict, question.gold_index, is_final=False)

            async with asyncio.TaskGroup() as tg:
                for ep in todo:
                    tg.create_task(one(ep))
    finally:
        db.close()
    return RejudgeResult(judged=len(todo) - errors, skipped=len(done & {e.id for e in episodes}), errors=errors)
