"""MoE routing traces and expert ablations on tiny randomly initialised Mixtral, Qwen2-MoE, OLMoE.

Every count the engine records is compared with counts computed here from the model's own router
logits (``output_router_logits=True`` on one plain, un-cached, one-row forward over the same
tokens; top-k of their softmax), so a slip in the batch attribution (pads in the middle, rows
leaving the batch), the prefix cache or the phases shows up as a different integer. Ablations are
checked where the block uses them: the indices and weights its experts receive.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from tests.tiny_gemma import save_char_tokenizer  # noqa: E402
from debate.config import ConfigError, ModelSpec, ProtocolSpec, RunConfig, load_config  # noqa: E402
from debate.core.question import Question  # noqa: E402
from debate.experts.backend import GenerateRequest, ScoreRequest  # noqa: E402
from debate.experts.local.backend import LocalBackend  # noqa: E402
from debate.experts.local.engine import Engine, Row  # noqa: E402
from debate.experts.local.moe import MoeOptionError, reroute  # noqa: E402
from debate.orchestrator import run_experiment  # noqa: E402
from debate.protocols.prompts import STOPS  # noqa: E402

ARCHS = ["mixtral", "qwen2_moe", "olmoe"]
PREFIX = "Passage: the quick brown fox jumps over the dog.\n"  # 49 chars: 4 prefill chunks of 16
SUFFIXES = ["Q: ", "Question: why?\nA:", "A much longer question, with words: hmm?\nAnswer:"]
MAX_TOKENS = 6
MAXES = [6, 2, 4]  # rows leave the batch at different steps


def _build(path: Path, arch: str) -> None:
    from transformers import (
        Gemma3ForCausalLM, Gemma3TextConfig, MixtralConfig, MixtralForCausalLM, OlmoeConfig, OlmoeForCausalLM,
        Qwen2MoeConfig, Qwen2MoeForCausalLM,
    )

    common = dict(
        vocab_size=save_char_tokenizer(path), hidden_size=32, num_attention_heads=2, num_key_value_heads=1,
        max_position_embeddings=512, pad_token_id=0, bos_token_id=1, eos_token_id=2, initializer_range=0.1,
    )
    if arch == "mixtral":
        model = MixtralForCausalLM(MixtralConfig(**common, intermediate_size=32, num_hidden_layers=2, num_local_experts=4, num_experts_per_tok=2))
    elif arch == "qwen2_moe":  # layer 1 stays dense: MoE layers are 0 and 2; weights not renormalised
        model = Qwen2MoeForCausalLM(Qwen2MoeConfig(
            **common, intermediate_size=32, moe_intermediate_size=16, shared_expert_intermediate_size=16,
            num_hidden_layers=3, num_experts=4, num_experts_per_tok=2, mlp_only_layers=[1], norm_topk_prob=False,
        ))
    elif arch == "olmoe":
        model = OlmoeForCausalLM(OlmoeConfig(**common, intermediate_size=16, num_hidden_layers=2, num_experts=8, num_experts_per_tok=2, norm_topk_prob=True))
    else:  # dense
        model = Gemma3ForCausalLM(Gemma3TextConfig(**common, intermediate_size=32, num_hidden_layers=1, head_dim=16))
    torch.manual_seed(0)
    model.save_pretrained(path)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for arch in [*ARCHS, "dense"]:
        out[arch] = tmp_path_factory.mktemp(f"tiny-{arch}")
        _build(out[arch], arch)
    return out


@pytest.fixture(scope="module")
def engines(dirs: dict[str, Path]) -> dict[str, Engine]:
    out = {}
    for arch in ARCHS:
        out[arch] = Engine(dirs[arch], device="cpu", dtype="float32")
        out[arch].prefill_chunk = 16  # the passage's routing is counted over several prefill chunks
    return out


# ---- references: plain transformers, one row, no cache ------------------------------------------


@torch.inference_mode()
def _greedy(engine: Engine, ids: list[int], max_tokens: int) -> tuple[list[int], bool]:
    """Greedy tokens by full forwards; and whether EOS ended it (else the last token is never run)."""
    out: list[int] = []
    for _ in range(max_tokens):
        tok = int(torch.argmax(engine.model(torch.tensor([ids + out])).logits[0, -1]))
        if tok in engine.eos_ids:
            return out, True
        out.append(tok)
    return out, False


@torch.inference_mode()
def _router_counts(engine: Engine, ids: list[int], spans: dict[str, list[range]]) -> dict[str, list[list[int]]]:
    """Per phase, per MoE layer, per expert: how often the top-k of the model's own router logits
    over ``ids`` picked the expert, counting the positions in the phase's ranges."""
    logits = engine.model(torch.tensor([ids]), output_router_logits=True).router_logits
    shape = engine.moe.shape
    assert shape is not None and len(logits) == len(shape.layers)
    chosen = [torch.topk(torch.softmax(l.float(), dim=-1), shape.top_k, dim=-1).indices for l in logits]
    return {
        phase: [[sum(int((c[list(r)] == e).sum()) for r in ranges) for e in range(shape.experts)] for c in chosen]
        for phase, ranges in spans.items()
    }


def _generate_reference(engine: Engine, suffix: str, max_tokens: int = MAX_TOKENS) -> tuple[str, dict[str, list[list[int]]]]:
    p, s = engine.encode(PREFIX, bos=True), engine.encode(suffix, bos=False)
    gen, eos = _greedy(engine, p + s, max_tokens)
    fed = gen if eos else gen[:-1]
    spans = {"prefix": [range(len(p))], "prompt": [range(len(p), len(p) + len(s))],
             "generated": [range(len(p) + len(s), len(p) + len(s) + len(fed))]}
    return engine.tokenizer.decode(gen, skip_special_tokens=True), _router_counts(engine, p + s + fed, spans)


# ---- recording ----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_batched_generate_counts_equal_the_models_own_router_logits(engines: dict[str, Engine], arch: str) -> None:
    engine = engines[arch]
    got = engine.generate(PREFIX, [Row(s, m) for s, m in zip(SUFFIXES, MAXES)])
    shape = engine.moe.shape
    assert shape is not None
    for suffix, m, res in zip(SUFFIXES, MAXES, got):
        text, counts = _generate_reference(engine, suffix, m)
        trace = res.meta["moe"]
        assert res.text == text
        assert trace["counts"] == counts
        assert trace["layers"] == list(shape.layers) == ([0, 2] if arch == "qwen2_moe" else [0, 1])
        assert (trace["model_type"], trace["top_k"], trace["blocked"]) == (arch, 2, {})
        n_fed = res.completion_tokens - (res.finish_reason == "length")
        assert trace["tokens"] == {"prefix": len(PREFIX) + 1, "prompt": len(suffix), "generated": n_fed}
        for phase, n in trace["tokens"].items():  # every token picks top_k experts in every layer
            assert all(sum(layer) == 2 * n for layer in trace["counts"][phase])


@pytest.mark.parametrize("arch", ARCHS)
def test_each_rows_trace_in_a_batch_equals_its_trace_alone(engines: dict[str, Engine], arch: str) -> None:
    engine = engines[arch]
    engine.prefixes = type(engine.prefixes)(8)  # the batch computes the passage afresh; the lone rows reuse it
    batch = engine.generate(PREFIX, [Row(s, m, temperature=0.9, seed=k) for k, (s, m) in enumerate(zip(SUFFIXES, MAXES))])
    for k, (s, m) in enumerate(zip(SUFFIXES, MAXES)):
        alone = engine.generate(PREFIX, [Row(s, m, temperature=0.9, seed=k)])[0]
        assert alone == batch[k]
    assert len({json.dumps(r.meta["moe"]["counts"]["prompt"]) for r in batch}) == 3


@pytest.mark.parametrize("arch", ARCHS)
def test_score_counts_prompt_once_and_every_continuation(engines: dict[str, Engine], arch: str) -> None:
    engine = engines[arch]
    prompts, conts = ["Q: ", "Which one?"], [["a", "b"], [" A", " Bc"]]  # single-token, then multi-token
    got = engine.score(PREFIX, prompts, conts)
    p = engine.encode(PREFIX, bos=True)
    for prompt, cs, res in zip(prompts, conts, got):
        q = engine.encode(prompt, bos=False)
        want = _router_counts(engine, p + q, {"prefix": [range(len(p))], "prompt": [range(len(p), len(p) + len(q))]})
        want["continuation"] = [[0] * engine.moe.shape.experts for _ in engine.moe.shape.layers]  # type: ignore[union-attr]
        if any(len(engine.encode(c, bos=False)) > 1 for c in cs):  # then every continuation is run
            for c in cs:
                c_ids = engine.encode(c, bos=False)
                mine = _router_counts(engine, p + q + c_ids, {"c": [range(len(p) + len(q), len(p) + len(q) + len(c_ids))]})["c"]
                want["continuation"] = [[a + b for a, b in zip(x, y)] for x, y in zip(want["continuation"], mine)]
        assert res.meta["moe"]["counts"] == want
        assert res.meta["moe"]["tokens"]["continuation"] == (0 if prompt == "Q: " else 5)
        logprobs, n_prompt = res  # still the (logprobs, prompt tokens) pair it always was
        assert n_prompt == len(p) + len(q) and len(logprobs) == 2


def test_dense_model_records_nothing(dirs: dict[str, Path]) -> None:
    engine = Engine(dirs["dense"], device="cpu", dtype="float32")
    assert engine.moe.shape is None and engine.moe.routers == []
    assert engine.generate(PREFIX, [Row("Q: ", 2)])[0].meta == {}
    assert engine.score(PREFIX, ["Q: "], [["a", "b"]])[0].meta == {}
    with pytest.raises(MoeOptionError) as info:
        with engine.moe.ablate([0], None, model="tiny-dense"):
            pass
    assert str(info.value).startswith("moe_mask: model 'tiny-dense' is not a mixture-of-experts model")


# ---- ablations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_reroute_reproduces_each_router_exactly(engines: dict[str, Engine], arch: str, dtype: torch.dtype) -> None:
    """The hook's recomputation is the router's own formula: bit-identical on unmodified logits."""
    torch.manual_seed(1)
    for _, router in engines[arch].moe.routers:
        r = type(router)(engines[arch].model.config).to(dtype)
        r.load_state_dict(router.state_dict())
        h = torch.randn(7, r.hidden_dim, dtype=dtype)
        own = r(h)
        again = reroute(r, own[0])
        for a, b in zip(own, again):
            assert a.dtype == b.dtype and torch.equal(a, b)


def _experts_inputs(engine: Engine) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list]:
    """Capture what every MoE block hands its experts: (top_k_index, top_k_weights) per call."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    handles = []
    for module in engine.model.modules():
        if hasattr(module, "gate") and hasattr(module, "experts"):
            handles.append(module.experts.register_forward_pre_hook(lambda m, args: seen.append((args[1].clone(), args[2].clone()))))
    return seen, handles


@pytest.mark.parametrize("arch", ARCHS)
def test_masked_expert_is_never_used_and_the_output_changes(engines: dict[str, Engine], arch: str) -> None:
    engine = engines[arch]
    shape = engine.moe.shape
    assert shape is not None
    ids = engine.encode(PREFIX + SUFFIXES[2], bos=True)
    with torch.inference_mode():
        plain = engine.model(torch.tensor([ids])).logits
    seen, handles = _experts_inputs(engine)
    try:
        with engine.moe.ablate([1], None), torch.inference_mode():
            out = engine.model(torch.tensor([ids]), output_router_logits=True)
    finally:
        for h in handles:
            h.remove()
    assert len(seen) == len(shape.layers) == len(out.router_logits)
    normalise = arch == "mixtral" or engine.model.config.norm_topk_prob
    for (index, weights), logits in zip(seen, out.router_logits):
        assert (index != 1).all()
        assert torch.isinf(logits[:, 1]).all() and torch.isfinite(logits[:, [0, 2]]).all()
        # The weights the experts got: softmax over the unmasked experts, renormalised where the router does.
        probs = torch.softmax(logits[:, [e for e in range(shape.experts) if e != 1]].float(), dim=-1)
        full = torch.zeros(logits.shape[0], shape.experts)
        full[:, [e for e in range(shape.experts) if e != 1]] = probs
        want = full.gather(1, index)
        want = want / want.sum(-1, keepdim=True) if normalise else want
        assert torch.allclose(weights.float(), want, atol=1e-6)
        assert torch.equal(index, torch.topk(full, shape.top_k, dim=-1).indices)
    assert not torch.allclose(out.logits, plain)
    with torch.inference_mode():  # outside the context nothing is masked any more
        assert torch.equal(engine.model(torch.tensor([ids])).logits, plain)


@pytest.mark.parametrize("arch", ARCHS)
def test_mask_and_force_in_recorded_counts(engines: dict[str, Engine], arch: str) -> None:
    engine = engines[arch]
    shape = engine.moe.shape
    assert shape is not None
    rows = [Row(s, MAX_TOKENS) for s in SUFFIXES]
    plain = engine.score(PREFIX, SUFFIXES, [["a", "b"]] * 3)
    with engine.moe.ablate([1], None):
        masked = engine.generate(PREFIX, rows)
        masked_scores = engine.score(PREFIX, SUFFIXES, [["a", "b"]] * 3)
        # The ablated passage is its own prefix-cache entry: its routing is the masked one too.
        ref = _router_counts(engine, engine.encode(PREFIX, bos=True), {"prefix": [range(len(PREFIX) + 1)]})
    for res in masked:
        trace = res.meta["moe"]
        assert trace["blocked"] == {str(layer): [1] for layer in shape.layers}
        assert trace["counts"]["prefix"] == ref["prefix"]
        for phase in ("prefix", "prompt", "generated"):
            assert all(layer[1] == 0 for layer in trace["counts"][phase])
    assert all(m[0] != p[0] for m, p in zip(masked_scores, plain))

    with engine.moe.ablate(None, [0, 2]):
        forced = engine.generate(PREFIX, rows)
    for res in forced:
        trace = res.meta["moe"]
        for phase, n in trace["tokens"].items():
            assert trace["counts"][phase] == [[n if e in (0, 2) else 0 for e in range(shape.experts)]] * len(shape.layers)

    first = shape.layers[0]
    with engine.moe.ablate({first: [1]}, {shape.layers[-1]: [0, 1, 3]}):
        mixed = engine.generate(PREFIX, rows[:1])[0].meta["moe"]
    last_blocked = [e for e in range(shape.experts) if e not in (0, 1, 3)]
    assert mixed["blocked"] == {str(first): [1], str(shape.layers[-1]): last_blocked}
    assert all(mixed["counts"][p][0][1] == 0 for p in mixed["counts"])
    assert all(mixed["counts"][p][-1][e] == 0 for p in mixed["counts"] for e in last_blocked)


async def test_ablation_never_leaks_to_another_backend_on_the_same_weights(dirs: dict[str, Path]) -> None:
    plain = LocalBackend(dirs["mixtral"], name="plain", device="cpu", dtype="float32")
    masked = LocalBackend(dirs["mixtral"], name="masked", device="cpu", dtype="float32", moe_mask=[1])
    assert plain.engine is masked.engine  # one copy of the weights
    reqs = [GenerateRequest(prefix=PREFIX, prompt=s, max_tokens=MAX_TOKENS) for s in SUFFIXES]
    gens = await asyncio.gather(*(b.generate(r) for r in reqs for b in (plain, masked)))
    scores = await asyncio.gather(*(b.score(ScoreRequest(prefix=PREFIX, prompt=s, continuations=["a", "b"])) for s in SUFFIXES for b in (plain, masked)))
    for k, s in enumerate(SUFFIXES):
        text, counts = _generate_reference(plain.engine, s)
        assert (gens[2 * k].text, gens[2 * k].meta["moe"]["counts"]) == (text, counts)
        assert gens[2 * k].meta["moe"]["blocked"] == {}
        assert scores[2 * k].meta["moe"]["counts"]["prefix"] == counts["prefix"]
        for m in (gens[2 * k + 1].meta["moe"], scores[2 * k + 1].meta["moe"]):
            assert m["blocked"] == {"0": [1], "1": [1]}
            assert all(layer[1] == 0 for phase in m["counts"].values() for layer in phase)


# ---- bad options --------------------------------------------------------------------------------


def test_bad_options_fail_naming_the_option(dirs: dict[str, Path]) -> None:
    def err(path: Path, **kw: object) -> str:
        with pytest.raises(MoeOptionError) as info:
            LocalBackend(path, device="cpu", **kw)  # type: ignore[arg-type]
        return str(info.value)

    assert err(dirs["mixtral"], moe_mask=[9]) == "moe_mask: expert 9 is out of range; the model has 4 experts per layer (0-3)"
    assert err(dirs["olmoe"], moe_force={0: [-1, 2]}) == "moe_force: expert -1 (layer 0) is out of range; the model has 8 experts per layer (0-7)"
    assert err(dirs["qwen2_moe"], moe_mask={1: [0]}) == "moe_mask: layer 1 is not an MoE layer of this model (MoE layers: 0, 2)"
    assert err(dirs["mixtral"], moe_mask=[0, 1, 2]) == (
        "moe_mask: layer 0 would leave 1 of 4 experts, fewer than the 2 each token uses (num_experts_per_tok)")
    assert err(dirs["mixtral"], moe_mask=[0], moe_force=[0, 1]) == (
        "moe_mask and moe_force: layer 0 would leave 1 of 4 experts, fewer than the 2 each token uses (num_experts_per_tok)")
    assert err(dirs["mixtral"], moe_force="0,1").startswith("moe_force: expected a list of expert indices")
    assert err(dirs["dense"], moe_mask=[0]) == (
        f"moe_mask: model {str(dirs['dense'])!r} is not a mixture-of-experts model (no num_local_experts/num_experts in its config)")
    with pytest.raises(ConfigError) as info:
        load_config(None, models={"m": {"backend": "litellm", "model": "openai/x", "moe_mask": [1]}})
    assert str(info.value) == "flags: field 'models.m.moe_mask': Value error, expert ablations need a local model (backend is 'litellm')"
    assert ModelSpec(moe_mask={"2": [1]}).moe_mask == {2: [1]}


def test_unset_options_leave_config_hash_and_cache_keys_unchanged() -> None:
    from debate.orchestrator.models import _cache_spec

    spec = ModelSpec(model="some/folder")
    assert "moe_mask" not in _cache_spec(spec) and "moe_force" not in _cache_spec(spec)
    assert _cache_spec(ModelSpec(model="some/folder", moe_mask=[1]))["moe_mask"] == [1]
    view = RunConfig(models={"m": spec}).results_view()["models"]["m"]
    assert "moe_mask" not in view and "moe_force" not in view
    assert RunConfig(models={"m": spec}).hash != RunConfig(models={"m": ModelSpec(model="some/folder", moe_force=[0, 1])}).hash


# ---- end to end: the trace is stored with its turn ------------------------------------------------


async def test_run_stores_each_turns_routing_in_the_database(dirs: dict[str, Path], tmp_path: Path) -> None:
    q = Question(id="q1", question="Who jumps?", options=("fox", "dog"), gold_index=0, context="The quick brown fox jumps over the dog.")
    spec = ModelSpec(model=str(dirs["olmoe"]), device="cpu", dtype="float32", moe_mask={0: [3]}, best_of=2)
    cfg = RunConfig(
        name="moe", db=str(tmp_path / "moe.sqlite"), expert="moe", judge="moe", models={"moe": spec}, both_orders=False,
        speech_tokens=5, protocols=[ProtocolSpec(name="consultancy", params={"rounds": 1}), ProtocolSpec(name="direct_oracle")],
    )
    result = await run_experiment(cfg, questions=[q])
    assert (result.total, result.completed) == (3, 3)

    con = sqlite3.connect(tmp_path / "moe.sqlite")
    turns = con.execute("select episode_id, kind, meta_json from turns order by episode_id, idx").fetchall()
    assert sorted(k for _, k, _ in turns) == ["answer", "speech", "speech"]
    again = LocalBackend(dirs["olmoe"], device="cpu", dtype="float32", moe_mask={0: [3]})
    for episode, kind, meta_json in turns:
        meta = json.loads(meta_json)
        moe = meta["moe"]
        assert moe["blocked"] == {"0": [3]} and moe["layers"] == [0, 1] and moe["experts"] == 8
        assert all(moe["counts"][phase][0][3] == 0 for phase in moe["counts"])
        calls = con.execute("select prompt, params_json from model_calls where episode_id=? and role != 'judge'", (episode,)).fetchall()
        if kind == "speech":
            # Best-of-2: both drafts' routing is kept, and the turn's own is the chosen draft's.
            assert len(calls) == 2 and meta["best_of"] == 2
            assert meta["candidates"][meta["chosen"]]["moe"] == moe
            again_traces = []
            for prompt, params_json in calls:
                params = json.loads(params_json)
                n = params["prefix_chars"]
                assert moe["tokens"]["prefix"] == n + 1 and moe["tokens"]["prompt"] == len(prompt) - n
                # The same request again gives the same routing as the one stored with its draft.
                gen = await again.generate(GenerateRequest(
                    prefix=prompt[:n], prompt=prompt[n:], max_tokens=params["max_tokens"], temperature=params["temperature"],
                    stop=STOPS, seed=params["seed"]))
                again_traces.append(json.dumps(gen.meta["moe"], sort_keys=True))
            assert sorted(again_traces) == sorted(json.dumps(c["moe"], sort_keys=True) for c in meta["candidates"])
        else:
            (prompt, _), = calls
            assert set(moe["counts"]) == {"prefix", "prompt", "continuation"}
            assert moe["tokens"]["continuation"] == 4  # " A" and " B": two characters each
            assert moe["tokens"]["prefix"] + moe["tokens"]["prompt"] == len(prompt) + 1
