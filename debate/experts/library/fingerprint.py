"""A base model's identity by content, so an adapter trained on another base is refused.

Read from the safetensors files, not from a loaded model: the same weights loaded in bf16 on a
GPU or fp32 on a CPU must give the same fingerprint. Names, shapes and a slice of a few tensors'
values (as float32) are hashed; two different checkpoints of one architecture differ there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

SAMPLED = 4096
"""Leading values hashed from each sampled tensor."""


def base_fingerprint(model_dir: str | Path) -> str:
    from safetensors import safe_open

    model_dir = Path(model_dir)
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{model_dir}: no .safetensors weights to fingerprint")
    h = hashlib.sha256()
    shapes: dict[str, list[int]] = {}
    handles = [safe_open(str(f), framework="pt") for f in files]
    for handle in handles:
        for name in handle.keys():
            shapes[name] = list(handle.get_slice(name).get_shape())
    h.update(json.dumps(sorted(shapes.items())).encode())
    names = sorted(shapes)
    sampled = names[:: max(1, len(names) // 8)]
    for handle in handles:
        for name in handle.keys():
            if name in sampled:
                part = handle.get_slice(name)
                rows = max(1, SAMPLED // max(1, _row_size(shapes[name])))
                t = part[:rows].flatten()[:SAMPLED].float()
                h.update(name.encode())
                h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()[:32]


def _row_size(shape: list[int]) -> int:
    size = 1
    for d in shape[1:]:
        size *= d
    return size
