"""A tiny random Gemma 3 base and a library of random LoRA experts on it, written as PEFT writes them."""

from __future__ import annotations

from pathlib import Path

import torch

from debate.experts.library.fingerprint import base_fingerprint
from tests.tiny_gemma import build_tiny_gemma3
from debate.experts.library.manifest import GATES, MANIFEST, ExpertManifest, RouterStats, Training

TARGETS = ["q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"]


def build_base(path: Path, *, seed: int = 0, layers: int = 2) -> Path:
    return build_tiny_gemma3(path, layer_types=(["sliding_attention"] * (layers - 1)) + ["full_attention"], context=4096, seed=seed)


def build_expert(library: Path, name: str, base: Path, *, seed: int, domain: str = "test", gates: bool = True,
                 rank: int = 4) -> Path:
    """A random (non-zero) LoRA expert saved by PEFT, with gates and a manifest."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, init_lora_weights=False))
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    folder = library / name
    peft_model.save_pretrained(str(folder))
    names = [n.removeprefix("base_model.model.") for n, m in peft_model.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A]
    g = torch.Generator().manual_seed(seed + 1000)
    if gates:
        save_file({n: torch.randn(32 if "down_proj" not in n else 64, generator=g) for n in names}, str(folder / GATES))
    hidden = 32
    centroid = torch.randn(hidden, generator=g).tolist()
    manifest = ExpertManifest(
        name=name, domain=domain, base_model=str(base), base_fingerprint=base_fingerprint(base), rank=rank, alpha=2 * rank,
        target_modules=TARGETS, gates=GATES if gates else None,
        training=Training(datasets=["random"], split="none", n_examples=0, data_sha256="0" * 64, seed=seed, command="tests"),
        router=RouterStats(centroid=centroid, self_similarity=[i / 10 for i in range(11)]),
    )
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return folder


def peft_reference(base: Path, expert: Path):
    """The same expert through PEFT itself, merged into a plain model: the reference outputs."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    return PeftModel.from_pretrained(model, str(expert)).merge_and_unload().eval()


def build_library(root: Path, names: list[str], *, seed: int) -> tuple[Path, Path]:
    """A tiny base under ``root/base`` and one expert per name (domain = name) under ``root/library``."""
    base = build_base(root / "base")
    library = root / "library"
    for i, name in enumerate(names):
        build_expert(library, name, base, seed=seed + i, domain=name)
    return base, library
