"""oneDNN linear layers over reordered weights (``packed_linear.py``): the same results as plain
``nn.Linear``, untied weights freed, tied ones kept, and the engine's outputs unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from debate.experts.local import packed_linear
from debate.experts.local.engine import Engine, Row
from tests.tiny_gemma import build_tiny_gemma3

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(not packed_linear.available(torch.device("cpu")), reason="this torch build has no oneDNN prepacked linear"),
]


def test_packed_layers_match_plain_ones_and_free_only_untied_weights() -> None:
    torch.manual_seed(0)
    emb = nn.Embedding(50, 16)
    model = nn.ModuleDict({"emb": emb, "up": nn.Linear(16, 24), "head": nn.Linear(16, 50, bias=False)})
    model["head"].weight = emb.weight  # tied, as a language model's output layer often is
    x = torch.randn(3, 5, 16)
    want_up, want_head = model["up"](x), model["head"](x)
    assert packed_linear.pack(model) == 2
    torch.testing.assert_close(model["up"](x), want_up, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model["head"](x), want_head, rtol=1e-5, atol=1e-5)
    assert model["up"].weight.numel() == 0  # freed: only the reordered copy is left
    assert model["head"].weight is emb.weight and emb.weight.shape == (50, 16)  # tied: kept for the lookup
    assert model["up"](x[0, 0]).shape == (24,)  # any leading shape


def test_engine_outputs_are_the_same_with_packed_layers(tmp_path: Path) -> None:
    build_tiny_gemma3(tmp_path, layer_types=["sliding_attention", "full_attention"], hidden=64, head_dim=32, context=256)
    plain = Engine(tmp_path, device="cpu", pack_weights=False)
    packed = Engine(tmp_path, device="cpu")
    assert packed.packed and not plain.packed
    assert packed.model.model.layers[0].mlp.up_proj.weight.numel() == 0  # freed (and its file pages given back)
    prefix = "Passage: the quick brown fox jumps over the lazy dog.\n"
    rows = [Row(suffix="Q: why?\nA:", max_tokens=12), Row(suffix="Summary:", max_tokens=7)]
    assert [r.text for r in packed.generate(prefix, rows)] == [r.text for r in plain.generate(prefix, rows)]
    (got, _), (want, _) = packed.score(prefix, ["Answer:"], [[" A", " B"]])[0], plain.score(prefix, ["Answer:"], [[" A", " B"]])[0]
    assert got == pytest.approx(want, abs=1e-4)


def _resident_pages(lo: int, hi: int) -> int:
    """Pages of [lo, hi) mapped in this process's page tables (``/proc/self/pagemap`` bit 63)."""
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(lo // 4096 * 8)
        entries = f.read((hi - lo) // 4096 * 8)
    return sum(entries[i + 7] >> 7 for i in range(0, len(entries), 8))


@pytest.mark.skipif(not Path("/proc/self/pagemap").exists(), reason="the page drop is Linux-only (madvise on a file mapping), and residency is read from Linux's /proc/self/pagemap")
def test_a_mapped_embedding_gives_its_pages_back_after_every_lookup(tmp_path: Path) -> None:
    """A fault on the mapped weights file maps 64 KB around the row it needs; over a default run
    that left ~300 MB of the tied embeddings resident. After each lookup they go back."""
    build_tiny_gemma3(tmp_path, layer_types=["full_attention"], hidden=1024, head_dim=32, context=256)
    engine = Engine(tmp_path, device="cpu")
    emb = engine.model.get_input_embeddings()
    pages = packed_linear._file_pages(emb.weight, packed_linear._safetensors_maps())
    assert pages is not None and (pages[1] - pages[0]) // 4096 >= 90  # 100 rows x 4 KB, in the file's mapping
    rows = [Row(suffix="Q: why?\nA:", max_tokens=6), Row(suffix="Summary of it all:", max_tokens=4)]
    texts = [r.text for r in engine.generate("Passage: the quick brown fox.\n", rows)]
    assert _resident_pages(*pages) == 0
    ids = torch.arange(0, 100, 7)
    plain = nn.functional.embedding(ids, emb.weight)  # the same lookup without the module's hook
    assert _resident_pages(*pages) >= len(ids)  # the measure sees pages come in
    torch.testing.assert_close(emb(ids) / emb.embed_scale, plain)
    assert _resident_pages(*pages) == 0
    assert [r.text for r in engine.generate("Passage: the quick brown fox.\n", rows)] == texts  # rows fault back in


def test_an_embedding_given_a_copy_keeps_in_place_edits(tmp_path: Path) -> None:
    """The mapped embeddings are read-only (their pages go back after each lookup); a copy put
    in their place is not the mapping any more, so edits to it stay."""
    build_tiny_gemma3(tmp_path, layer_types=["full_attention"], hidden=64, head_dim=32, context=256)
    emb = Engine(tmp_path, device="cpu").model.get_input_embeddings()
    emb.weight = nn.Parameter(emb.weight.detach().clone(), requires_grad=False)
    with torch.no_grad():
        emb.weight[7] += 1.0
    edited = emb.weight[7].clone()
    emb(torch.tensor([[7, 8]]))
    assert torch.equal(emb.weight[7], edited)
