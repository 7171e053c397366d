"""LoRA experts on the local engine: outputs equal PEFT's, mixed batches equal single runs, bad libraries refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from debate.experts.backend import GenerateRequest, ScoreRequest
from debate.experts.library.library import LibraryError, open_library
from debate.experts.local import LocalBackend
from debate.experts.local.engine import Engine, Row
from tests.experts.lora_fixtures import build_base, build_library, peft_reference

PROMPT = "The quick brown fox jumps over"
PREFIX = "Story:\nA passage that every turn shares, long enough to span the sliding window.\n\n"


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_library(tmp_path_factory.mktemp("lora"), ["alpha", "beta", "gamma"], seed=10)


@pytest.fixture(scope="module")
def engine(lib: tuple[Path, Path]) -> Engine:
    base, library = lib
    return Engine(base, device="cpu", dtype="float32", library=library)


def _greedy_reference(model, tok, text: str, n: int) -> str:
    ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids
    ids = torch.cat([torch.tensor([[tok.bos_token_id]]), ids], dim=1)
    out = model.generate(ids, max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def test_expert_generation_equals_peft_merged_model(lib: tuple[Path, Path], engine: Engine) -> None:
    base, library = lib
    ref = peft_reference(base, library / "beta")
    want = _greedy_reference(ref, engine.tokenizer, PREFIX + PROMPT, 12)
    got = engine.generate(PREFIX, [Row(PROMPT, 12, adapter="beta")])[0]
    assert got.text == want
    base_out = engine.generate(PREFIX, [Row(PROMPT, 12)])[0].text
    assert base_out != want  # the adapter really changes the model


def test_mixed_adapter_batch_equals_each_row_alone(engine: Engine) -> None:
    adapters = [None, "alpha", "beta", "gamma", "alpha", None]
    prompts = [PROMPT, PROMPT + " the", "Lazy", PROMPT, "dog", "x"]
    alone = [engine.generate(PREFIX, [Row(p, 10, adapter=a)])[0].text for p, a in zip(prompts, adapters)]
    together = engine.generate(PREFIX, [Row(p, 10, adapter=a) for p, a in zip(prompts, adapters)])
    assert [r.text for r in together] == alone
    assert [r.meta.get("adapter") for r in together] == adapters
    assert len({alone[1], alone[2], alone[3]} ) >= 2


def test_scores_follow_the_adapter_and_batch_mixed(lib: tuple[Path, Path], engine: Engine) -> None:
    base, library = lib
    ref = peft_reference(base, library / "gamma")
    ids = [engine.tokenizer.bos_token_id, *engine.tokenizer.encode(PREFIX + PROMPT, add_special_tokens=False)]
    with torch.no_grad():
        logp = torch.log_softmax(ref(torch.tensor([ids])).logits[0, -1].float(), -1)
    want = [float(logp[engine.tokenizer.encode(c, add_special_tokens=False)[0]]) for c in ("A", "B")]
    # One-token continuations (batched rows) and multi-token ones (" A" is two characters here).
    mixed = engine.score(PREFIX, [PROMPT, PROMPT, PROMPT], [["A", "B"], ["A", "B"], [" A"]], ["gamma", None, "gamma"])
    assert mixed[0][0] == pytest.approx(want, abs=1e-4)
    assert mixed[1][0] != pytest.approx(want, abs=1e-4)
    assert mixed[0].meta["adapter"] == "gamma" and "adapter" not in mixed[1].meta
    space = engine.tokenizer.encode(" ", add_special_tokens=False)[0]
    with torch.no_grad():
        nxt = torch.log_softmax(ref(torch.tensor([ids + [space]])).logits[0, -1].float(), -1)
    two = float(logp[space]) + float(nxt[engine.tokenizer.encode("A", add_special_tokens=False)[0]])
    assert mixed[2][0] == pytest.approx([two], abs=1e-4)


def test_prefix_kv_is_cached_per_adapter(engine: Engine) -> None:
    text = "Another passage for the cache test.\n\n"
    a = engine.prefix(text, "alpha")
    b = engine.prefix(text, "beta")
    assert a is engine.prefix(text, "alpha")
    assert not torch.equal(a.cache.layers[-1].keys, b.cache.layers[-1].keys)


def test_token_routing_differs_from_single_adapters_and_records_usage(engine: Engine) -> None:
    rows = [Row(PROMPT, 10, adapter=a) for a in ("@token", "alpha", "beta", "gamma")]
    out = engine.generate(PREFIX, rows)
    assert out[0].text not in {o.text for o in out[1:]}
    routing = out[0].meta["routing"]
    assert routing["mode"] == "token" and routing["k"] == 2
    picks = routing["picks"]
    # Each generated-or-prompt token picks k=2 experts in every adapted module.
    n_tokens = len(PROMPT) + out[0].completion_tokens - 1  # the last sampled token is never fed back
    assert sum(picks.values()) == 2 * routing["modules"] * n_tokens
    assert sum(routing["share"].values()) == pytest.approx(1.0, abs=1e-3)
    assert "routing" not in out[1].meta


async def test_backend_lists_experts_and_embeds(lib: tuple[Path, Path]) -> None:
    base, library = lib
    backend = LocalBackend(base, name="tiny", device="cpu", dtype="float32", library=library)
    assert backend.expert_names() == ["alpha", "beta", "gamma"]
    gen = await backend.generate(GenerateRequest(prompt=PROMPT, prefix=PREFIX, max_tokens=5, temperature=0, adapter="beta"))
    assert gen.meta["adapter"] == "beta"
    vecs = await backend.embed(["hello", "a longer text here"])
    assert len(vecs) == 2 and len(vecs[0]) == 32
    with pytest.raises(LibraryError, match="unknown expert 'delta'.*alpha, beta, gamma"):
        await backend.score(ScoreRequest(prompt="x", continuations=[" A"], adapter="delta"))


async def test_adapter_without_a_library_is_refused(lib: tuple[Path, Path]) -> None:
    base, _ = lib
    backend = LocalBackend(base, name="plain", device="cpu", dtype="float32")
    with pytest.raises(LibraryError, match="no expert library"):
        await backend.generate(GenerateRequest(prompt="x", adapter="alpha"))


def test_adapter_for_another_base_is_refused_before_anything_loads(lib: tuple[Path, Path], tmp_path: Path) -> None:
    base, library = lib
    other = build_base(tmp_path / "other", seed=1)
    with pytest.raises(LibraryError, match=r"alpha.*trained on base model sha256:.*nothing was loaded"):
        Engine(other, device="cpu", dtype="float32", library=library)
    # The same folder as a base still loads cleanly afterwards (nothing was half-attached).
    plain = Engine(other, device="cpu", dtype="float32")
    assert not any("MultiLora" in type(m).__name__ for m in plain.model.modules())


def test_missing_manifest_and_bad_manifest_name_the_file(lib: tuple[Path, Path], tmp_path: Path) -> None:
    _, library = lib
    broken = tmp_path / "lib"
    shutil.copytree(library, broken)
    (broken / "beta" / "manifest.json").unlink()
    with pytest.raises(LibraryError, match=r"beta: missing manifest.json"):
        open_library(broken)
    shutil.copytree(library / "beta", broken / "beta", dirs_exist_ok=True)
    data = json.loads((broken / "gamma" / "manifest.json").read_text())
    data["rank"] = 0
    (broken / "gamma" / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(LibraryError, match=r"gamma/manifest.json: field 'rank'"):
        open_library(broken)
    with pytest.raises(LibraryError, match="no such expert library"):
        open_library(tmp_path / "nowhere")
