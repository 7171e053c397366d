"""Engine and LocalBackend on a tiny randomly initialised Gemma 3 (no downloads).

The engine keeps the passage's KV state and batches rows as ``[prefix][pad…][suffix][generated…]``.
Everything here compares it with plain, un-cached, one-sequence-at-a-time transformers calls on
the same weights, so any slip in the cache reuse, the padding in the middle, the position ids or
the sliding-window layers shows up as a different token or log-probability.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch

from debate.experts.backend import GenerateRequest, ScoreRequest
from debate.experts.local.backend import LocalBackend
from debate.experts.local.engine import ContextExceeded, Engine, Row
from tests.tiny_gemma import build_tiny_gemma3

WINDOW = 8
CONTEXT = 256

# 40 characters = 40 tokens with the character-level tokenizer below: longer than the window.
PREFIX = "Passage: the quick brown fox jumps over.\n"
# Different lengths, so rows get different amounts of padding between prefix and suffix.
SUFFIXES = ["Q: ", "Question: why?\nA:", "A much longer question, with words: hmm?\nAnswer:"]


def _build(path: Path, layer_types: list[str]) -> None:
    build_tiny_gemma3(path, layer_types=layer_types, hidden=64, head_dim=32, sliding_window=WINDOW, context=CONTEXT)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-gemma3")
    _build(path, ["sliding_attention", "full_attention", "sliding_attention"])
    return path


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> Engine:
    return Engine(model_dir, device="cpu")


# ---- references: plain transformers, no prefix cache, no batching ----------------------------


def _ids(engine: Engine, prompt: str, prefix: str = PREFIX) -> list[int]:
    return engine.encode(prefix, bos=True) + engine.encode(prompt, bos=False)


@torch.inference_mode()
def _reference_generate(engine: Engine, prompt: str, max_tokens: int, prefix: str = PREFIX) -> tuple[str, int, str]:
    """(text, completion tokens, finish reason) of HF greedy generate on BOS + prefix + prompt."""
    ids = torch.tensor([_ids(engine, prompt, prefix)])
    out = engine.model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=max_tokens,
        eos_token_id=sorted(engine.eos_ids),
        pad_token_id=engine.pad_id,
    )
    new = out[0, ids.shape[1] :].tolist()
    finish = "length"
    for k, t in enumerate(new):
        if t in engine.eos_ids:
            new, finish = new[:k], "stop"
            break
    return engine.tokenizer.decode(new, skip_special_tokens=True), len(new), finish


@torch.inference_mode()
def _reference_logprobs(engine: Engine, prompt: str, continuation: str, prefix: str = PREFIX) -> float:
    """Sum of the continuation's token log-probs from one full forward over everything."""
    p = _ids(engine, prompt, prefix)
    c = engine.encode(continuation, bos=False)
    logits = engine.model(torch.tensor([p + c])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return sum(float(logp[len(p) - 1 + k, t]) for k, t in enumerate(c))


# ---- generation -----------------------------------------------------------------------------


def test_tiny_model_setup(engine: Engine) -> None:
    assert engine.dtype == torch.float32
    assert engine.context_window == CONTEXT
    assert engine.eos_ids == {2}
    assert engine.model.config.sliding_window == WINDOW
    assert engine.sliding_window == WINDOW
    assert len(_ids(engine, "")) > WINDOW
    lengths = {len(engine.encode(s, bos=False)) for s in SUFFIXES}
    assert len(lengths) == len(SUFFIXES)  # every row is padded differently
    assert engine.count_tokens("hello\nworld") == 11


@pytest.mark.parametrize(
    ("prefix", "max_tokens"),
    [(PREFIX, [12, 12, 12]), (PREFIX, [3, 12, 7]), ("", [12, 12, 12])],
    ids=["same-length", "rows-finish-early", "empty-prefix"],  # judges send everything as the prompt
)
def test_batched_greedy_matches_unbatched_transformers(engine: Engine, prefix: str, max_tokens: list[int]) -> None:
    rows = [Row(s, n) for s, n in zip(SUFFIXES, max_tokens)]
    got = engine.generate(prefix, rows)
    for s, n, res in zip(SUFFIXES, max_tokens, got):
        text, n_completion, finish = _reference_generate(engine, s, n, prefix)
        assert res.text == text, s
        assert res.completion_tokens == n_completion
        assert res.finish_reason == finish
        assert res.prompt_tokens == len(_ids(engine, s, prefix))
    # A random model still says something different for each prompt; guards against a vacuous pass.
    assert len({r.text for r in got}) > 1


def test_full_attention_only_model_batches_exactly(tmp_path: Path) -> None:
    """The other mask path: without sliding layers the engine passes a plain 2-D padding mask."""
    _build(tmp_path, ["full_attention", "full_attention"])
    eng = Engine(tmp_path, device="cpu")
    assert eng.sliding_window is None
    got = eng.generate(PREFIX, [Row(s, n) for s, n in zip(SUFFIXES, [8, 3, 8])])
    for s, n, res in zip(SUFFIXES, [8, 3, 8], got):
        assert (res.text, res.completion_tokens, res.finish_reason) == _reference_generate(eng, s, n)
    conts = [["A", "B"], ["yes", "no"], ["x", "Z"]]
    for prompt, cs, (logprobs, _) in zip(SUFFIXES, conts, eng.score(PREFIX, SUFFIXES, conts)):
        assert logprobs == pytest.approx([_reference_logprobs(eng, prompt, c) for c in cs], abs=1e-4)


def test_prefix_cache_hit_gives_identical_output(engine: Engine) -> None:
    prefix = PREFIX + "Cached.\n"
    rows = [Row(s, 12) for s in SUFFIXES]
    hits, misses = engine.prefixes.hits, engine.prefixes.misses
    first = engine.generate(prefix, rows)
    assert (engine.prefixes.hits, engine.prefixes.misses) == (hits, misses + 1)
    second = engine.generate(prefix, rows)
    assert engine.prefixes.hits == hits + 1
    assert engine.prefixes.misses == misses + 1
    assert second == first
    # The cached prefix is not changed by decoding from it.
    third = engine.generate(prefix, rows[::-1])
    assert third == first[::-1]


def test_stop_string_cuts_text(engine: Engine) -> None:
    suffix = SUFFIXES[1]
    full = engine.generate(PREFIX, [Row(suffix, 16)])[0]
    assert full.finish_reason == "length"
    assert full.completion_tokens == 16
    text = full.text
    # A two-character stop that first appears after a few characters of output.
    start = next(i for i in range(3, len(text) - 1) if text.find(text[i : i + 2]) == i)
    stop = text[start : start + 2]
    res = engine.generate(PREFIX, [Row(suffix, 16, stop=["never appears \x00", stop]), Row(SUFFIXES[2], 16)])
    assert res[0].text == text[:start]
    assert not res[0].text.endswith(stop)
    assert res[0].finish_reason == "stop"
    assert res[0].completion_tokens == start + 2  # generation halts on the token that completes the stop
    # The other row in the batch is unaffected by the first one stopping.
    assert res[1] == engine.generate(PREFIX, [Row(SUFFIXES[2], 16)])[0]
    assert res[1].finish_reason == "length"


def test_sampling_is_reproducible_per_seed(engine: Engine) -> None:
    def sample(seed: int, *, batched: bool) -> str:
        row = Row(SUFFIXES[0], 12, temperature=1.0, seed=seed)
        others = [Row(s, 12, temperature=0.7, seed=99) for s in SUFFIXES[1:]] if batched else []
        return engine.generate(PREFIX, [*others, row])[-1].text

    a = sample(7, batched=False)
    assert sample(7, batched=False) == a
    # Each row has its own generator: sharing a batch does not change what it samples.
    assert sample(7, batched=True) == a
    assert len({a, sample(8, batched=False), sample(9, batched=False)}) > 1


# ---- scoring --------------------------------------------------------------------------------


def test_score_single_token_matches_full_forward(engine: Engine) -> None:
    prompts = SUFFIXES
    conts = [["A", "B", " "], ["y", "n"], ["\n", "?", "x", "Z"]]
    got = engine.score(PREFIX, prompts, conts)
    for prompt, cs, (logprobs, n_prompt) in zip(prompts, conts, got):
        ids = torch.tensor([_ids(engine, prompt)])
        with torch.inference_mode():
            ref = torch.log_softmax(engine.model(ids).logits[0, -1].float(), dim=-1)
        want = [float(ref[engine.encode(c, bos=False)[0]]) for c in cs]
        assert logprobs == pytest.approx(want, abs=1e-4)
        assert n_prompt == ids.shape[1]


@pytest.mark.parametrize("prefix", [PREFIX, ""], ids=["passage", "empty-prefix"])
def test_score_multi_token_matches_full_forward(engine: Engine, prefix: str) -> None:
    # One call mixes both paths: rows 0 and 2 have multi-token continuations, row 1 single-token ones.
    prompts = [SUFFIXES[0], SUFFIXES[2], SUFFIXES[1]]
    conts = [[" yes", " no", " maybe so"], ["A", "B"], ["x", "longer answer here"]]
    got = engine.score(prefix, prompts, conts)
    for prompt, cs, (logprobs, n_prompt) in zip(prompts, conts, got):
        want = [_reference_logprobs(engine, prompt, c, prefix) for c in cs]
        assert logprobs == pytest.approx(want, abs=1e-4)
        assert n_prompt == len(_ids(engine, prompt, prefix))
    assert len(set(got[0][0])) == 3


# ---- context window -------------------------------------------------------------------------


def test_too_long_prompt_raises_context_exceeded(engine: Engine) -> None:
    n_prefix = len(engine.encode(PREFIX, bos=True))
    long = "x" * 300
    with pytest.raises(ContextExceeded, match=str(n_prefix + 300)):
        engine.generate(PREFIX, [Row(long, 4)])
    with pytest.raises(ContextExceeded, match=str(n_prefix + 300)):
        engine.score(PREFIX, [long], [["a", "b"]])
    with pytest.raises(ContextExceeded, match=str(n_prefix + 300 + 2)):  # prompt + longest continuation
        engine.score(PREFIX, [long], [["aa", "b"]])
    # Fits alone, but not with the tokens asked for.
    fits = "y" * (CONTEXT - n_prefix - 2)
    with pytest.raises(ContextExceeded, match=str(CONTEXT - 2)):
        engine.generate(PREFIX, [Row(fits, 8)])
    # The passage alone already too long.
    with pytest.raises(ContextExceeded, match="301"):
        engine.generate("z" * 300, [Row("hi", 4)])


# ---- backend: concurrent requests batch, results match one-at-a-time ------------------------


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> LocalBackend:
    return LocalBackend(path=str(model_dir), device="cpu")


async def test_backend_too_long_request_fails_alone(backend: LocalBackend) -> None:
    eng = backend.engine
    batches = backend._batcher.batches
    fine = GenerateRequest(prefix=PREFIX, prompt=SUFFIXES[1], max_tokens=6)
    long = GenerateRequest(prefix=PREFIX, prompt="x" * 300, max_tokens=6)
    got_long, got_fine = await asyncio.gather(backend.generate(long), backend.generate(fine), return_exceptions=True)
    assert backend._batcher.batches == batches + 1  # one batch, split up by the fallback
    assert isinstance(got_long, ContextExceeded)
    assert str(len(_ids(eng, long.prompt))) in str(got_long)
    assert not isinstance(got_fine, BaseException)
    want = eng.generate(PREFIX, [Row(fine.prompt, 6)])[0]
    assert got_fine.text == want.text
    assert got_fine.usage.prompt_tokens == want.prompt_tokens
    assert got_fine.usage.completion_tokens == want.completion_tokens == 6
    assert got_fine.finish_reason == "length"

    s_long = ScoreRequest(prefix=PREFIX, prompt="x" * 300, continuations=["a", "b"])
    s_fine = ScoreRequest(prefix=PREFIX, prompt=SUFFIXES[0], continuations=["a", "b"])
    batches = backend._batcher.batches
    got_long, got_fine = await asyncio.gather(backend.score(s_long), backend.score(s_fine), return_exceptions=True)
    assert backend._batcher.batches == batches + 1
    assert isinstance(got_long, ContextExceeded)
    assert not isinstance(got_fine, BaseException)
    assert got_fine.logprobs == eng.score(PREFIX, [SUFFIXES[0]], [["a", "b"]])[0][0]


async def test_backend_batches_concurrent_requests(backend: LocalBackend) -> None:
    eng = backend.engine
    prompts = [*SUFFIXES, "Hm.", "What now, then?", "Z"]
    reqs = [GenerateRequest(prefix=PREFIX, prompt=p, max_tokens=10) for p in prompts]
    batches, items = backend._batcher.batches, backend._batcher.items
    got = await asyncio.gather(*(backend.generate(r) for r in reqs))
    assert backend._batcher.items == items + 6
    assert backend._batcher.batches - batches < 6
    for p, g in zip(prompts, got):
        want = eng.generate(PREFIX, [Row(p, 10)])[0]
        assert (g.text, g.finish_reason) == (want.text, want.finish_reason)
        assert (g.usage.prompt_tokens, g.usage.completion_tokens) == (want.prompt_tokens, want.completion_tokens)
        ref_text, ref_n, _ = _reference_generate(eng, p, 10)
        assert (g.text, g.usage.completion_tokens) == (ref_text, ref_n)

    sreqs = [ScoreRequest(prefix=PREFIX, prompt=p, continuations=["a", " ", "?"]) for p in prompts[:3]]
    batches = backend._batcher.batches
    scores = await asyncio.gather(*(backend.score(r) for r in sreqs))
    assert backend._batcher.batches == batches + 1
    for r, s in zip(sreqs, scores):
        logprobs, n_prompt = eng.score(PREFIX, [r.prompt], [r.continuations])[0]
        assert s.logprobs == pytest.approx(logprobs, abs=1e-5)
        assert s.usage.prompt_tokens == n_prompt


def test_out_of_range_seeds_are_reduced_not_fatal_and_in_range_ones_unchanged() -> None:
    from debate.experts.local.sampling import torch_seed as _torch_seed

    assert [_torch_seed(s) for s in (None, 0, 7, -3, 2**64 - 1)] == [0, 0, 7, -3, 2**64 - 1]
    assert _torch_seed(2**64 + 5) == 5 and _torch_seed(-(2**63) - 1) == 2**64 - 2**63 - 1
    torch.Generator().manual_seed(_torch_seed(10**30))  # accepted
