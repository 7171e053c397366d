"""What a protocol works with: the episode's question, models and recorder, as a few verbs.

A protocol reads as its turn schedule: ``speak``, ``answer``, ``ask``, ``decide``. The context
keeps the passage on the expert side: experts' prompts are built here from the full
``Question``; the judge only ever receives ``self.view`` and the turns.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from debate.core.question import LETTERS, JudgeView, Question
from debate.core.transcript import Kind, Role, Turn, Verdict
from debate.experts.backend import Backend, GenerateRequest, ScoreRequest
from debate.judges.base import Judge
from debate.judges.logprob import softmax
from debate.judges.transcript_view import SPEAKER
from debate.protocols.best_of import best_of
from debate.protocols.prompts import STOPS, answer_prompt, passage_prefix, speech_opening, speech_prompt
from debate.protocols.quotes import close_quotes, verify_quotes


T = TypeVar("T")

CONTEXT_EXCEEDED = "context_exceeded"


class ContextExceededError(ValueError):
    """A prompt did not fit the model's context window; found before the model ran, never retried.

    The episode runner stores it as ``context_exceeded: <backend's message>``, so
    ``error like 'context_exceeded:%'`` finds these episodes.
    """

    kind = CONTEXT_EXCEEDED


def _context_exceeded_types() -> tuple[type[BaseException], ...]:
    """The backends' "prompt too long" errors, from modules already imported (none imports torch
    or litellm here: if their module is not loaded, nothing can have raised them)."""
    found: list[type[BaseException]] = []
    engine = sys.modules.get("debate.experts.local.engine")
    if engine is not None:
        found.append(engine.ContextExceeded)
    litellm = sys.modules.get("litellm")
    cls = getattr(litellm, "ContextWindowExceededError", None) if litellm is not None else None
    if isinstance(cls, type) and issubclass(cls, BaseException):
        found.append(cls)
    return tuple(found)


async def guard_context(call: Awaitable[T]) -> T:
    """Await a model call; a context-window overflow becomes a :class:`ContextExceededError`."""
    try:
        return await call
    except ContextExceededError:
        raise
    except Exception as exc:
        kinds = _context_exceeded_types()
        if kinds and isinstance(exc, kinds):
            raise ContextExceededError(f"{type(exc).__name__}: {exc}") from exc
        raise


@dataclass
class SpeechSettings:
    max_tokens: int = 96
    temperature: float = 0.7
    seed: int = 0
    best_of: dict[Role, int] = field(default_factory=dict)
    """Speeches drafted per turn, by role; the judge's preferred draft is kept (1: no search)."""


@dataclass
class EpisodeContext:
    question: Question
    order: tuple[int, ...]
    experts: dict[Role, Backend]
    judge: Judge
    settings: SpeechSettings = field(default_factory=SpeechSettings)
    on_turn: Callable[[Turn], Awaitable[None]] | None = None
    on_verdict: Callable[[Verdict, bool], Awaitable[None]] | None = None
    turns: list[Turn] = field(default_factory=list)
    adapters: dict[Role, str | None] = field(default_factory=dict)
    """Which LoRA expert speaks and answers for each role (routed protocols); missing or None: the base model."""

    # ---- options and letters ----------------------------------------------------------
    @property
    def view(self) -> JudgeView:
        return self.question.judge_view(self.order)

    @property
    def gold(self) -> int:
        return self.question.gold_index

    def letter(self, option: int) -> str:
        """The letter the judge sees for underlying option ``option``."""
        return LETTERS[self.order.index(option)]

    def shown(self, k: int) -> int:
        """The underlying option shown as the k-th letter."""
        return self.order[k]

    @property
    def has_passage(self) -> bool:
        """Whether experts have a passage to read and quote (closed questions such as MedQA have none)."""
        return bool(self.question.context.strip())

    def distractor(self, option: int) -> int:
        """An option other than ``option`` (seeded when there are several)."""
        others = [i for i in range(len(self.question.options)) if i != option]
        return others[0] if len(others) == 1 else random.Random(self.settings.seed).choice(others)

    # ---- turns ------------------------------------------------------------------------
    async def _record(self, turn: Turn) -> Turn:
        turn = turn.model_copy(update={"index": len(self.turns)})
        self.turns.append(turn)
        if self.on_turn is not None:
            await self.on_turn(turn)
        return turn

    async def speak_together(self, speeches: list[tuple[Role, int]], round: int, framing: str) -> list[Turn]:
        """Simultaneous speeches: each speaker sees only the turns before this round, and the
        speeches are recorded in the order given (not in the order they finish), so a rerun
        gives the judge the same transcript."""
        before = list(self.turns)
        drafts = await asyncio.gather(*(self.speak(role, option, round, framing, before, record=False) for role, option in speeches))
        return [await self._record(t) for t in drafts]

    async def speak(
        self, role: Role, argues_for: int, round: int, framing: str, transcript: list[Turn] | None = None, *, record: bool = True
    ) -> Turn:
        """An expert speech for ``argues_for``, seeing ``transcript`` (default: every turn so far).

        With best-of-N for this role, N drafts are written and the one the judge most prefers
        (its probability for the speaker's side) is kept; every draft is stored in the turn's meta.
        """
        seen = list(self.turns if transcript is None else transcript)
        n = max(1, self.settings.best_of.get(role, 1))
        base = self.settings.seed + 7919 * len(self.turns) + 104729 * list(Role).index(role)
        drafts = await asyncio.gather(*(self._draft(role, argues_for, round, framing, seen, base + 15485863 * k) for k in range(n)))
        turn = drafts[0] if n == 1 else _candidates_routing(await guard_context(best_of(self.judge, self.view, self._judge_turns(), drafts)), drafts)
        return await self._record(turn) if record else turn

    async def _draft(self, role: Role, argues_for: int, round: int, framing: str, seen: list[Turn], seed: int) -> Turn:
        letter = self.letter(argues_for)
        cue = f"{SPEAKER[role]} (defending {letter})"
        opening = speech_opening(letter, self.question.options[argues_for], passage=self.has_passage)
        prompt = speech_prompt(self.view, framing, seen, cue) + " " + opening
        gen = await guard_context(self.experts[role].generate(
            GenerateRequest(
                prefix=passage_prefix(self.question), prompt=prompt, max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature, stop=STOPS, seed=seed, role=role.value,
                adapter=self.adapters.get(role),
            )
        ))
        text = close_quotes((opening + gen.text).strip())
        return Turn(
            index=len(self.turns), round=round, role=role, kind=Kind.SPEECH, text=text, argues_for=argues_for,
            argues_for_letter=letter, quotes=verify_quotes(text, self.question.context),
            meta={"finish_reason": gen.finish_reason, **self._adapter_meta(role), **_routing_meta(gen.meta)},
        )

    async def answer(self, role: Role, round: int = 0) -> int:
        """The expert answers directly, with the passage, by letter log-probability."""
        view = self.view
        scores = await guard_context(self.experts[role].score(
            ScoreRequest(prefix=passage_prefix(self.question), prompt=answer_prompt(view),
                         continuations=[f" {x}" for x in view.letters], role=role.value, adapter=self.adapters.get(role))
        ))
        probs = softmax(scores.logprobs) or [1.0 / len(view.options)] * len(view.options)
        k = max(range(len(probs)), key=probs.__getitem__)
        choice = self.shown(k)
        await self._record(Turn(
            index=len(self.turns), round=round, role=role, kind=Kind.ANSWER, text=f"{LETTERS[k]}",
            argues_for=choice, argues_for_letter=LETTERS[k], visible_to_judge=False,
            meta={"probabilities_shown": probs, **self._adapter_meta(role), **_routing_meta(getattr(scores, "meta", None))},
        ))
        return choice

    async def note(self, role: Role, kind: Kind, text: str, meta: dict[str, Any]) -> Turn:
        """A turn the judge never sees (e.g. a routing decision), stored with the transcript."""
        return await self._record(Turn(index=len(self.turns), round=0, role=role, kind=kind, text=text,
                                       visible_to_judge=False, meta=meta))

    def _adapter_meta(self, role: Role) -> dict[str, str]:
        """``{"adapter": name}`` for a turn spoken by a LoRA expert; nothing for the base model."""
        adapter = self.adapters.get(role)
        return {"adapter": adapter} if adapter else {}

    async def ask(self, round: int) -> Turn:
        """The judge asks the experts one question (interactive protocols)."""
        text = await guard_context(self.judge.ask(self.view, self._judge_turns()))
        return await self._record(Turn(index=len(self.turns), round=round, role=Role.JUDGE, kind=Kind.JUDGE_QUESTION, text=text))

    def _judge_turns(self) -> list[Turn]:
        return [t for t in self.turns if t.visible_to_judge]

    # ---- verdicts ---------------------------------------------------------------------
    async def decide(self, final: bool = True) -> Verdict:
        """The judge's verdict on the transcript so far, mapped back to underlying options."""
        shown = await guard_context(self.judge.judge(self.view, self._judge_turns()))
        return await self._finish(self.unshuffle(shown), final)

    async def expert_decides(self, role: Role) -> Verdict:
        """The oracle baseline: the expert's own direct answer is the verdict."""
        choice = await self.answer(role)
        probs_shown = self.turns[-1].meta["probabilities_shown"]
        probs = [0.0] * len(self.order)
        for k, p in enumerate(probs_shown):
            probs[self.order[k]] = p
        verdict = Verdict(chosen=choice, probabilities=probs, raw=self.turns[-1].text,
                          judge_model=self.experts[role].name, judge_kind="expert")
        return await self._finish(verdict, True)

    def unshuffle(self, shown: Verdict) -> Verdict:
        return shown.unshuffle(self.order)

    async def _finish(self, verdict: Verdict, final: bool) -> Verdict:
        if self.on_verdict is not None:
            await self.on_verdict(verdict, final)
        return verdict


ROUTING_META = ("moe", "routing")
"""Backend meta kept with the turn it produced: ``moe`` (experts each MoE layer chose, local
backend) and ``routing`` (per-token expert routing)."""


def _routing_meta(meta: object) -> dict[str, Any]:
    return {k: meta[k] for k in ROUTING_META if k in meta} if isinstance(meta, dict) else {}


def _candidates_routing(turn: Turn, drafts: list[Turn]) -> Turn:
    """Best-of-N: each candidate in ``meta["candidates"]`` keeps its own draft's routing record."""
    cands = turn.meta.get("candidates")
    if not isinstance(cands, list) or len(cands) != len(drafts) or not any(_routing_meta(d.meta) for d in drafts):
        return turn
    merged = [{**c, **_routing_meta(d.meta)} for c, d in zip(cands, drafts)]
    return turn.model_copy(update={"meta": {**turn.meta, "candidates": merged}})
