"""Read a library's PEFT adapter files into per-module matrices for :mod:`debate.experts.local.lora`."""

from __future__ import annotations

import json
import re

from debate.experts.library.library import LibraryEntry, LibraryError
from debate.experts.library.manifest import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from debate.experts.local.lora import ExpertWeights

_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<which>[AB])(?:\.[^.]+)?\.weight$")


def read_expert(entry: LibraryEntry) -> ExpertWeights:
    from safetensors.torch import load_file

    folder = entry.path
    cfg = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if cfg.get("use_dora"):
        raise LibraryError(f"{folder / ADAPTER_CONFIG}: DoRA adapters are not supported (plain LoRA only)")
    r = int(cfg.get("r") or entry.manifest.rank)
    alpha = float(cfg.get("lora_alpha") or entry.manifest.alpha)
    scale = alpha / (r ** 0.5) if cfg.get("use_rslora") else alpha / r
    a: dict = {}
    b: dict = {}
    for key, tensor in load_file(str(folder / ADAPTER_WEIGHTS)).items():
        m = _KEY.match(key)
        if m is None:
            raise LibraryError(f"{folder / ADAPTER_WEIGHTS}: unexpected tensor {key!r} (not a LoRA A/B matrix)")
        (a if m["which"] == "A" else b)[m["module"]] = tensor
    if not a:
        raise LibraryError(f"{folder / ADAPTER_WEIGHTS}: no LoRA matrices")
    gates = None
    if entry.manifest.gates:
        gates = dict(load_file(str(folder / entry.manifest.gates)))
    return ExpertWeights(entry.name, scale, a, b, gates)
