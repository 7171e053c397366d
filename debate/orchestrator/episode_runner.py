"""Runs one episode: wires its models to the recorder, runs the protocol, stores the outcome."""

from __future__ import annotations

import traceback
from collections.abc import Callable

from debate.core.episode import EpisodeSpec, EpisodeStatus
from debate.core.question import Question
from debate.core.transcript import Role, Turn, Verdict
from debate.core.usage import CallRecord
from debate.experts.backend import Backend
from debate.experts.recording import RecordingBackend
from debate.orchestrator.models import make_judge
from debate.protocols.context import EpisodeContext, SpeechSettings
from debate.protocols.registry import get_protocol
from debate.storage import DatabaseWriter

_ROLE = {"expert": Role.EXPERT, "debater_a": Role.DEBATER_A, "debater_b": Role.DEBATER_B}


async def run_episode(
    spec: EpisodeSpec,
    question: Question,
    backends: dict[str, Backend],
    writer: DatabaseWriter,
    *,
    judge_kind: str,
    settings: SpeechSettings,
    on_tokens: Callable[[int], None] | None = None,
    best_of: dict[str, int] | None = None,
) -> EpisodeStatus:
    """``best_of`` maps model names to their best-of-N setting (default 1)."""
    """Returns the final status; a failing episode is stored as ``error`` and does not raise."""
    ep = spec.id
    await writer.start_episode(ep)

    async def on_call(call: CallRecord) -> None:
        await writer.add_call(spec.run_id, ep, call)
        if on_tokens is not None:
            on_tokens(call.usage.total)

    async def on_turn(turn: Turn) -> None:
        await writer.add_turn(spec.run_id, ep, turn)

    async def on_verdict(verdict: Verdict, final: bool) -> None:
        await writer.add_verdict(ep, verdict, question.gold_index, final)

    info = get_protocol(spec.protocol)
    experts = {
        _ROLE[r]: RecordingBackend(backends[spec.roles.model_for(r)], r, on_call) for r in info.roles if r != "judge"
    }
    judge_model = spec.roles.models.get("judge")
    judge_backend = RecordingBackend(backends[judge_model], "judge", on_call) if judge_model else None
    ctx = EpisodeContext(
        question=question,
        order=spec.order,
        experts=experts,
        judge=make_judge(judge_kind, judge_backend) if judge_backend else _NoJudge(),
        # Each episode samples from its own stream; the run seed still changes them all.
        settings=SpeechSettings(
            settings.max_tokens, settings.temperature, spec.sampling_seed,
            best_of={_ROLE[r]: (best_of or {}).get(spec.roles.model_for(r), 1) for r in info.roles if r != "judge"},
        ),
        on_turn=on_turn,
        on_verdict=on_verdict,
    )
    try:
        verdict = await info.run(ctx, spec.params)
    except Exception as exc:  # noqa: BLE001 - an episode's failure is data, the run goes on
        kind = getattr(exc, "kind", None)  # e.g. context_exceeded: a named failure, not a crash
        detail = f"{kind}: {exc}" if isinstance(kind, str) else "".join(traceback.format_exception_only(type(exc), exc)).strip()
        await writer.finish_episode(ep, EpisodeStatus.ERROR, error=detail + "\n" + traceback.format_exc(limit=8))
        return EpisodeStatus.ERROR
    await writer.finish_episode(ep, EpisodeStatus.COMPLETE, verdict=verdict, gold_index=question.gold_index)
    return EpisodeStatus.COMPLETE


class _NoJudge:
    """Protocols without a judge role (the oracle baseline) must not call one."""

    name = "none"
    kind = "none"

    async def judge(self, view, transcript):  # type: ignore[no-untyped-def]
        raise RuntimeError("this protocol has no judge role")

    async def ask(self, view, transcript):  # type: ignore[no-untyped-def]
        raise RuntimeError("this protocol has no judge role")
