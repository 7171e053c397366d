"""A GGUF checkpoint's weights as a plain transformers model, dequantised a block of rows at a time.

``from_pretrained(gguf_file=)`` dequantises each tensor whole, concatenates the pieces and then
copies the result: for Gemma 3's 262k x 640 embedding that is three 671 MB float32 arrays at
once, while the reader's parsed metadata (262k token strings as numpy views) is still alive.
The embedded model's one-time conversion peaked at 3.3-3.4 GB that way. Here each tensor is
dequantised straight into its final torch tensor, rows at a time, with the same gguf-py
functions and transformers' own name map and tensor processor, so the weights are the same bits.
It serves the embedded Gemma conversion: processors that build weights across tensors through
transformers' parsed parameters (MoE expert stacking) get none here, so such models would fail
the missing-weights check rather than load.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

ROWS = 4096
"""Rows dequantised per step: 10 MB of float32 at Gemma 3 270M's width."""


def load_gguf_model(folder: Path, gguf_name: str) -> Any:
    """The model of ``folder/gguf_name`` with float32 weights and a config without GGUF quantisation."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS, TensorProcessor, get_gguf_hf_weights_map, read_field)

    path = folder / gguf_name
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {path}")
    try:
        reader = GGUFReader(str(path))
    except (ValueError, struct.error, OSError) as exc:  # not GGUF, empty, truncated
        raise ValueError(f"{path}: not a readable GGUF file ({exc})") from exc
    config = AutoConfig.from_pretrained(str(folder), gguf_file=gguf_name)
    with torch.device("meta"):  # the weights come from the file; nothing is allocated twice
        model = AutoModelForCausalLM.from_config(config)
    arch = read_field(reader, "general.architecture")[0]
    processor = TENSOR_PROCESSORS.get(arch, TensorProcessor)(config=config.to_dict())
    names = get_gguf_hf_weights_map(model, processor)
    state: dict[str, torch.Tensor] = {}
    for t in reader.tensors:
        weights = dequantize_rows(t.data, t.tensor_type)
        array = weights.numpy()
        result = processor.process(weights=array, name=t.name, tensor_key_mapping=names, parsed_parameters={})
        if result.name in names:  # as transformers' loader: a tensor the model has no place for is skipped
            # Gemma's processor returns the array itself, or (norms) a new one with 1 taken off.
            state[names[result.name]] = weights if result.weights is array else torch.from_numpy(np.ascontiguousarray(result.weights))
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    real_missing = [m for m in missing if "lm_head" not in m]  # tied to the embeddings
    if real_missing or unexpected:
        raise RuntimeError(f"{gguf_name}: missing {real_missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    return model


def dequantize_rows(data: Any, qtype: Any) -> Any:
    """``gguf.dequantize(data, qtype)`` as a torch tensor, written ``ROWS`` rows at a time (rows of
    a quantised tensor are independent blocks, so the values are the same)."""
    import numpy as np
    import torch
    from gguf import dequantize

    if data.ndim < 2:
        return torch.from_numpy(np.array(dequantize(data, qtype)))
    first = dequantize(data[:1], qtype)
    out = torch.empty((data.shape[0], *first.shape[1:]), dtype=torch.from_numpy(first).dtype)
    view = out.numpy()
    for a in range(0, data.shape[0], ROWS):
        view[a : a + ROWS] = dequantize(data[a : a + ROWS], qtype)
    return out
