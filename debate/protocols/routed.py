"""Routed experts: a router picks LoRA experts for the question, and the path depends on them.

- no real expert chosen (a null first choice): the judge answers alone, as in ``direct_blind``;
- one expert (k=1, or null slots left one): it answers directly, then consults for its answer;
- several (k>=2): each answers directly; if they agree the top expert consults for the shared
  answer, if not the top expert on each side debates for its own answer.

``policy`` gives the fixed-strategy baselines on the same router: ``always_consult`` (k=1, the
top expert consults) and ``always_debate`` (k=2: the top expert answers and defends its answer,
the second defends the other option), with no agreement check. The routing decision and the
path are stored as a ``routing`` turn the judge never sees; each expert turn names its adapter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from debate.core.question import Question
from debate.core.transcript import Kind, Role, Verdict
from debate.experts.routing import (
    NULL, RoutingDecision, check_k, make_router, question_domain, recorded_embed, require_experts,
)
from debate.protocols.consultancy import consult_rounds as consult_speeches
from debate.protocols.context import EpisodeContext
from debate.protocols.debate import debate_rounds as debate_speeches
from debate.protocols.params import Rounds
from debate.protocols.registry import protocol

Path = Literal["null", "consult", "agree_consult", "debate"]
PATHS: tuple[str, ...] = ("null", "consult", "agree_consult", "debate")
NullShare = Annotated[float, Field(ge=0.0, lt=1.0)]
K = Annotated[int, Field(ge=1)]


def check_routed(params: dict[str, Any], backends: dict[str, Any], questions: list[Question]) -> None:
    """Before anything runs: the expert model has a library, k fits it, the policy fits k, and
    for oracle routing every question has a domain some expert covers."""
    host, experts = require_experts(backends["expert"])
    if getattr(host, "adapter", None) is not None:
        raise ValueError(f"the routed protocol picks its experts itself; the expert model's default adapter "
                         f"{host.adapter!r} would be ignored: remove 'adapter' from that model")
    policy, k = params["policy"], params["k"]
    if policy == "always_consult" and k != 1:
        raise ValueError(f"policy 'always_consult' consults the router's top expert: k must be 1, got {k}")
    if policy == "always_debate" and k != 2:
        raise ValueError(f"policy 'always_debate' debates the router's top 2 experts: set k: 2 (got {k})")
    if policy != "routed" and params["null_share"]:
        raise ValueError(f"null_share is for policy 'routed'; policy {policy!r} always uses its experts")
    try:
        check_k(k, experts)
    except ValueError as exc:
        raise ValueError(f"k: {exc}") from None
    if params["router"] == "oracle":
        covered = {m.domain for m in experts}
        for q in questions:
            if question_domain(q) not in covered:
                raise ValueError(
                    f"router: oracle routing, but question {q.id!r} is in domain {question_domain(q)!r} and no expert is "
                    f"(experts' domains: {', '.join(sorted(covered))})"
                )


@protocol("routed", roles=("expert", "judge"), preflight=check_routed)
async def routed(
    ctx: EpisodeContext,
    router: Literal["centroid", "oracle", "random"] = "centroid",
    k: K = 1,
    null_share: NullShare = 0.0,
    policy: Literal["routed", "always_debate", "always_consult"] = "routed",
    consult_rounds: Rounds = 1,
    debate_rounds: Rounds = 2,
    router_seed: int = 0,
) -> Verdict:
    """A router picks experts; one consults, agreeing experts consult, disagreeing ones debate."""
    backend = ctx.experts[Role.EXPERT]
    host, experts = require_experts(backend)
    embed = recorded_embed(backend, host) if router == "centroid" else None
    chooser = make_router(router, null_share=null_share, **({"embed": embed} if embed else {"seed": router_seed}))
    decision = await chooser.route(ctx.question, experts, k)
    chosen = decision.experts
    # Debaters are the expert model with other adapters: the same backend in the debate seats.
    ctx.experts.setdefault(Role.DEBATER_A, backend)
    ctx.experts.setdefault(Role.DEBATER_B, backend)
    if not chosen:
        await _note(ctx, decision, "null")
        return await ctx.decide()
    if len(chosen) == 1 or policy == "always_consult":
        return await _consult(ctx, decision, chosen[0], "consult", consult_rounds)
    if policy == "always_debate":
        ctx.adapters.update({Role.DEBATER_A: chosen[0], Role.DEBATER_B: chosen[1]})
        await _note(ctx, decision, "debate")
        a = await ctx.answer(Role.DEBATER_A)
        return await _debate(ctx, a, ctx.distractor(a), debate_rounds)
    answers: dict[str, int] = {}
    for name in chosen:
        ctx.adapters[Role.EXPERT] = name
        answers[name] = await ctx.answer(Role.EXPERT)
    top_answer = answers[chosen[0]]
    rival = next((n for n in chosen if answers[n] != top_answer), None)
    if rival is None:
        return await _consult(ctx, decision, chosen[0], "agree_consult", consult_rounds, answers, answer=top_answer)
    ctx.adapters.update({Role.DEBATER_A: chosen[0], Role.DEBATER_B: rival})
    await _note(ctx, decision, "debate", answers)
    return await _debate(ctx, top_answer, answers[rival], debate_rounds)


async def _consult(
    ctx: EpisodeContext, decision: RoutingDecision, expert: str, path: Path, rounds: int,
    answers: dict[str, int] | None = None, answer: int | None = None,
) -> Verdict:
    """``expert`` consults for ``answer`` (its own direct answer when not given)."""
    ctx.adapters[Role.EXPERT] = expert
    await _note(ctx, decision, path, answers)
    if answer is None:
        answer = await ctx.answer(Role.EXPERT)
    await consult_speeches(ctx, answer, rounds, False)
    return await ctx.decide()


async def _debate(ctx: EpisodeContext, a_option: int, b_option: int, rounds: int) -> Verdict:
    await debate_speeches(ctx, a_option, b_option, rounds, True, False)
    return await ctx.decide()


async def _note(ctx: EpisodeContext, decision: RoutingDecision, path: Path, answers: dict[str, int] | None = None) -> None:
    """The routing turn: the whole decision, the path it led to and, for k >= 2, each expert's answer."""
    scores = ", ".join(f"{n} {s:.3f}" for n, s in sorted(decision.scores.items(), key=lambda kv: -kv[1]))
    text = f"{decision.router} router: {scores} → chosen {', '.join(decision.chosen)} → {path}"
    meta: dict[str, Any] = {"routing": decision.model_dump(mode="json"), "path": path}
    if answers is not None:
        meta["answers"] = answers
    await ctx.note(Role.ROUTER, Kind.ROUTING, text, meta)


__all__ = ["NULL", "PATHS", "check_routed", "routed"]
