"""The growing KV cache (``kv_cache.py``, the engine's default) against transformers' DynamicCache path.

The engine with its batches on :func:`batch_cache` (the prefix shared by reference, attended to by
``prefix_attention.attend``) must produce exactly what it produces with
``growing_cache=False``: the same tokens under greedy and seeded sampling, the same log-probabilities, on a tiny
random Gemma 3 with sliding and full layers (rows padded differently, finishing at different
steps, buffers too small so they must grow) and on the embedded Gemma 3 270M over a passage longer
than its 512-token sliding window.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from debate.experts.local.engine import Engine, Row
from tests.tiny_gemma import build_tiny_gemma3
from debate.experts.local.kv_cache import GrowingLayer, batch_cache

PREFIX = "Passage: the quick brown fox jumps over the lazy dog by the river.\n"
SUFFIXES = ["Q: ", "Question: why?\nA:", "A much longer question, with words: hmm?\nAnswer:"]


def _build(path: Path) -> None:
    build_tiny_gemma3(path, layer_types=["sliding_attention", "full_attention", "sliding_attention"], hidden=64, head_dim=32,
                      context=256)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-gemma3-kv")
    _build(path)
    return path


def _rows(max_tokens: list[int], temperature: float = 0.0) -> list[Row]:
    return [Row(suffix=s, max_tokens=m, temperature=temperature, seed=7 + i) for i, (s, m) in enumerate(zip(SUFFIXES, max_tokens))]


# ---- the layer on its own ---------------------------------------------------------------------


def test_growing_layer_matches_concatenation_through_growth_and_row_selection() -> None:
    g = torch.Generator().manual_seed(0)
    k0, v0 = torch.randn(1, 1, 5, 4, generator=g), torch.randn(1, 1, 5, 4, generator=g)
    layer = GrowingLayer(k0.expand(3, -1, -1, -1), v0.expand(3, -1, -1, -1), capacity=6)
    ref_k, ref_v = k0.repeat(3, 1, 1, 1), v0.repeat(3, 1, 1, 1)
    for step in range(4):  # 5 + 4 steps of 1: outgrows capacity 6 on the second step
        k, v = torch.randn(3, 1, 1, 4, generator=g), torch.randn(3, 1, 1, 4, generator=g)
        got_k, got_v = layer.update(k, v)
        ref_k, ref_v = torch.cat([ref_k, k], dim=-2), torch.cat([ref_v, v], dim=-2)
        assert torch.equal(got_k, ref_k) and torch.equal(got_v, ref_v)
        assert layer.get_seq_length() == 6 + step
    assert layer.capacity == 12  # doubled once, from 6
    layer.batch_select_indices(torch.tensor([2, 0]))
    assert torch.equal(layer.keys, ref_k[[2, 0]]) and torch.equal(layer.values, ref_v[[2, 0]])
    k, v = torch.randn(2, 1, 2, 4, generator=g), torch.randn(2, 1, 2, 4, generator=g)
    got_k, _ = layer.update(k, v)
    assert torch.equal(got_k, torch.cat([ref_k[[2, 0]], k], dim=-2))
    assert layer.get_seq_length() == 11


def test_batch_cache_shares_the_prefix_by_reference_and_leaves_it_untouched(model_dir: Path) -> None:
    engine = Engine(model_dir, device="cpu")
    prefix = engine.prefix(PREFIX)
    before = [(layer.keys.clone(), layer.values.clone()) for layer in prefix.cache.layers]
    cache = batch_cache(prefix.cache, len(prefix.ids), 4, extra_tokens=10)
    for layer, (k, v), (pk, pv), new in zip(prefix.cache.layers, before, cache.prefix, cache.layers):
        assert pk is layer.keys and pv is layer.values  # no copy per row
        assert new.keys.shape == (4, k.shape[1], 0, k.shape[3]) and new.capacity == 10
    # The tiny model's sliding layers hold only the window's last keys; the full layer holds all.
    assert [pk.shape[-2] for pk, _ in cache.prefix] == [7, len(prefix.ids), 7]
    assert [layer.get_seq_length() for layer in cache.layers] == [len(prefix.ids)] * 3  # positions, prefix included
    cache.layers[0].update(torch.zeros(4, 1, 1, 32), torch.zeros(4, 1, 1, 32))
    assert cache.layers[0].keys.shape == (4, 1, 1, 32) and cache.layers[0].get_seq_length() == len(prefix.ids) + 1
    for layer, (k, v) in zip(prefix.cache.layers, before):
        assert torch.equal(layer.keys, k) and torch.equal(layer.values, v)  # the shared prefix never changes


def test_batch_cache_gives_each_row_its_own_prefix_when_asked(model_dir: Path) -> None:
    """Rows under different LoRA adapters each bring their own prefix KV (same length); dropping
    a row drops its prefix too."""
    engine = Engine(model_dir, device="cpu")
    base = engine.prefix(PREFIX).cache
    other = copy.deepcopy(base)
    for layer in other.layers:
        layer.keys, layer.values = layer.keys + 1.0, layer.values - 1.0
    cache = batch_cache(base, 20, 3, extra_tokens=4, row_caches=[other, base, other])
    for i, (pk, pv) in enumerate(cache.prefix):
        for r, src in enumerate([other, base, other]):
            assert torch.equal(pk[r], src.layers[i].keys[0]) and torch.equal(pv[r], src.layers[i].values[0])
    cache.batch_select_indices(torch.tensor([1]))
    assert all(torch.equal(pk, base.layers[i].keys) for i, (pk, _) in enumerate(cache.prefix))
    with pytest.raises(ValueError, match="2 row caches for 3 rows"):
        batch_cache(base, 20, 3, extra_tokens=4, row_caches=[base, base])


@pytest.mark.parametrize("width", [3, 7])  # 3: the shared-prefix matmuls; 7 (> FUSED_FROM): SDPA over the expanded prefix
def test_shared_prefix_attention_equals_attention_over_the_concatenated_keys(width: int) -> None:
    """``attend`` against plain softmax attention over ``prefix + row`` keys, per row, with pads
    in the middle, a sliding window, GQA (4 heads on 2 kv heads) and a shared or per-row prefix."""
    from debate.experts.local.prefix_attention import FUSED_FROM, PrefixAttention, attend

    assert (width > FUSED_FROM) == (width == 7)
    g = torch.Generator().manual_seed(1)
    n, heads, kvh, d, p_len, window = 3, 4, 2, 8, 10, 6
    own = [width, 1, 2]  # real row tokens; the rest of the suffix is padding, left of them
    for shared, sliding in [(True, None), (True, window), (False, window)]:
        pk_len = p_len if sliding is None else window - 1
        pk = torch.randn(1 if shared else n, kvh, pk_len, d, generator=g)
        pv = torch.randn(1 if shared else n, kvh, pk_len, d, generator=g)
        q = torch.randn(n, heads, width, d, generator=g)
        k, v = torch.randn(n, kvh, width, d, generator=g), torch.randn(n, kvh, width, d, generator=g)
        kpos = torch.tensor([[p_len + i - (width - m) if i >= width - m else -1 for i in range(width)] for m in own])
        qpos = kpos.clamp(min=0)
        module = torch.nn.Module()
        module.layer_idx = 0  # type: ignore[assignment]
        ctx = PrefixAttention([(pk, pv)], p_len, qpos, kpos)
        got, _ = attend(module, q, k, v, None, scaling=0.5, sliding_window=sliding, debate_prefix=ctx)
        for r in range(n):
            keys = torch.cat([pk[0 if shared else r], k[r]], dim=1).repeat_interleave(heads // kvh, dim=0)
            vals = torch.cat([pv[0 if shared else r], v[r]], dim=1).repeat_interleave(heads // kvh, dim=0)
            kp = torch.cat([torch.arange(p_len - pk_len, p_len), kpos[r]])
            for j in range(width - own[r], width):  # the row's real queries
                vis = (kp >= 0) & (kp <= qpos[r, j])
                if sliding is not None:
                    vis &= kp > qpos[r, j] - sliding
                logits = torch.einsum("hd,hkd->hk", q[r, :, j], keys) * 0.5
                w = torch.softmax(logits.masked_fill(~vis, float("-inf")), -1)
                want = torch.einsum("hk,hkd->hd", w, vals)
                torch.testing.assert_close(got[r, j], want, rtol=1e-5, atol=1e-6)


# ---- the engine with it, against the engine without it ------------------------------------------


@pytest.mark.parametrize("room", ["sized", "must_grow"])
@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_same_tokens_as_the_dynamic_cache_path(model_dir: Path, room: str, temperature: float) -> None:
    plain = Engine(model_dir, device="cpu", growing_cache=False)

    class NoRoom(Engine):
        def _batch_inputs(self, prefix, suffixes, row_prefixes=None, decode=0):  # type: ignore[no-untyped-def]
            return super()._batch_inputs(prefix, suffixes, row_prefixes, 0)  # no room reserved: the buffers must grow

    fast = (Engine if room == "sized" else NoRoom)(model_dir, device="cpu")
    assert fast.growing_cache
    rows = _rows([12, 5, 20], temperature)  # rows leave the batch at different steps
    want = plain.generate(PREFIX, rows)
    got = fast.generate(PREFIX, rows)
    assert [(r.text, r.completion_tokens, r.finish_reason) for r in got] == [
        (r.text, r.completion_tokens, r.finish_reason) for r in want
    ]
    assert [r.completion_tokens for r in got] == [12, 5, 20]  # random weights never sample EOS this early
    assert len({r.text for r in got}) == 3


def test_same_log_probabilities_when_scoring(model_dir: Path) -> None:
    plain = Engine(model_dir, device="cpu", growing_cache=False)
    fast = Engine(model_dir, device="cpu")
    conts = [[" A", " B"], ["yes", "no way"], [" A", " B"]]
    want = plain.score(PREFIX, SUFFIXES, conts)
    got = fast.score(PREFIX, SUFFIXES, conts)
    assert [n for _, n in got] == [n for _, n in want]
    for (g, _), (w, _) in zip(got, want):
        assert g == pytest.approx(w, abs=1e-5)


@pytest.mark.slow
def test_embedded_model_same_greedy_tokens_over_a_passage_longer_than_the_window() -> None:
    import json
    from importlib import resources

    from debate.experts.embedded import embedded_model_dir

    path = resources.files("debate.datasets") / "data" / "quality_sample.jsonl"
    first = json.loads(path.read_text().splitlines()[0])
    plain = Engine(embedded_model_dir(), device="cpu", growing_cache=False)
    fast = Engine(embedded_model_dir(), device="cpu")
    story = plain.tokenizer.decode(plain.encode(first["context"], bos=False)[:700])
    prefix = f"Story:\n{story}\n\n"
    assert plain.count_tokens(prefix) > 512  # past the sliding window
    rows = [
        Row(suffix=f"Question: {first['question']}\nDebater {side}: My answer is {side}: \"{opt}\". The story says:", max_tokens=n)
        for side, opt, n in zip("AB", first["options"], (16, 9))
    ] + [Row(suffix="Summary:", max_tokens=12)]
    want = plain.generate(prefix, rows)
    fast.prefixes = plain.prefixes  # the same prefilled passage; only the batch cache differs
    got = fast.generate(prefix, rows)
    assert [(r.text, r.completion_tokens) for r in got] == [(r.text, r.completion_tokens) for r in want]
    assert sum(r.completion_tokens for r in got) >= 30


def test_a_wide_batch_in_column_slices_gives_the_same_tokens_and_log_probabilities(model_dir: Path) -> None:
    """``forward_tokens`` slices a batch's suffix prefill (3 rows x 2 columns a forward here);
    every row must come out exactly as from one forward."""
    whole = Engine(model_dir, device="cpu")
    sliced = Engine(model_dir, device="cpu", forward_tokens=6)
    rows = _rows([9, 4, 13])
    assert [(r.text, r.completion_tokens) for r in sliced.generate(PREFIX, rows)] == [
        (r.text, r.completion_tokens) for r in whole.generate(PREFIX, rows)]
    conts = [[" A", " B"], ["yes", "no way at all"], [" A", " B"]]
    for (g, n), (w, m) in zip(sliced.score(PREFIX, SUFFIXES, conts), whole.score(PREFIX, SUFFIXES, conts)):
        assert n == m and g == pytest.approx(w, abs=1e-5)
    lp_sliced = sliced.token_logprobs(PREFIX, SUFFIXES[2], " and then some more words", 3)
    lp_whole = whole.token_logprobs(PREFIX, SUFFIXES[2], " and then some more words", 3)
    assert [t for t, _, _ in lp_sliced] == [t for t, _, _ in lp_whole]
    assert [lp for _, lp, _ in lp_sliced] == pytest.approx([lp for _, lp, _ in lp_whole], abs=1e-5)


def test_a_cached_prefix_holds_only_its_own_keys_and_gives_the_same_tokens(model_dir: Path) -> None:
    """Prefilled in chunks, a sliding layer's keys are a slice of the last chunk's concatenation;
    ``compact`` copies them out so the cached passage holds no more than it keeps, and the cached
    prefix (compacted) must give the tokens a one-chunk prefill gives."""
    from transformers import DynamicCache

    from debate.experts.local.kv_cache import compact

    chunked = Engine(model_dir, device="cpu", prefill_chunk=10)
    whole = Engine(model_dir, device="cpu", prefill_chunk=1024)
    entry = chunked.prefix(PREFIX)
    assert len(entry.ids) > 30  # several chunks of 10, the sliding window is 8
    for layer in entry.cache.layers:
        for t in (layer.keys, layer.values):
            assert t.untyped_storage().nbytes() == t.numel() * t.element_size()
    assert [layer.keys.shape[-2] for layer in entry.cache.layers] == [7, len(entry.ids), 7]
    rows = _rows([9, 4, 13])
    assert [(r.text, r.completion_tokens) for r in chunked.generate(PREFIX, rows)] == [
        (r.text, r.completion_tokens) for r in whole.generate(PREFIX, rows)]

    view = DynamicCache()  # a layer that is a view of a larger buffer, compacted in place
    big = torch.arange(24.0).reshape(1, 1, 6, 4)
    view.update(big[:, :, 2:], big[:, :, 2:], 0)
    compact(view)
    assert view.layers[0].keys.untyped_storage().nbytes() == 16 * 4
    assert torch.equal(view.layers[0].keys, big[:, :, 2:])
