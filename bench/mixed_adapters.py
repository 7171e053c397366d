"""Mixed-adapter batching: one batched forward for rows that use different LoRA experts.

Compares, at the same batch size and generated length, on the embedded Gemma 3 270M:
  mixed      – every row with its own expert, one batch (the grouped LoRA in debate.experts.local.lora);
  one-by-one – the rows grouped by expert, one batch per expert, run in turn (no mixed batching);
  base       – the base model alone, one batch (the ceiling).
Workloads: all-same, skewed, uniform and all-different adapters. Experts are random rank-8 LoRAs
on the top 6 layers (the shipped experts' shape); with ``--experts 4`` the all-different workload
uses 16 experts so that every row differs.

    python bench/mixed_adapters.py [--batch 16] [--tokens 24] [--experts 4] [--device auto] [--repeat 2]

Prints decode tokens/s per workload and the ratios mixed / one-by-one and mixed / base.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

PASSAGE = ("The lighthouse keeper kept a log of every ship that passed the point, and of the weather, "
           "the tides and the birds. ") * 6


def make_library(root: Path, base_dir: Path, n: int, seed: int = 0) -> Path:
    """``n`` random rank-8 experts on the top 6 layers of the base, saved by PEFT with manifests."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from debate.experts.library.fingerprint import base_fingerprint
    from debate.experts.library.manifest import MANIFEST, ExpertManifest, Training
    from debate.training.lora import TARGET_MODULES

    fp = base_fingerprint(base_dir)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    layers = model.config.get_text_config().num_hidden_layers
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=list(TARGET_MODULES), layers_to_transform=list(range(layers - 6, layers)),
                     init_lora_weights=False)
    peft_model = get_peft_model(model, cfg)
    for i in range(n):
        torch.manual_seed(seed + i)
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_" in name:
                    p.normal_(0, 0.02)
        folder = root / f"e{i:02d}"
        peft_model.save_pretrained(str(folder))
        m = ExpertManifest(name=f"e{i:02d}", domain="bench", base_model="embedded", base_fingerprint=fp, rank=8, alpha=16,
                           target_modules=list(TARGET_MODULES),
                           training=Training(datasets=["random"], split="none", n_examples=0, data_sha256="0" * 64, seed=seed + i,
                                             command="bench/mixed_adapters.py"))
        (folder / MANIFEST).write_text(m.model_dump_json())
    return root


def workloads(batch: int, experts: int) -> dict[str, list[str | None]]:
    names = [f"e{i:02d}" for i in range(experts)]
    skew = [names[0]] * (batch - (experts - 1) * max(1, batch // 8)) + [n for n in names[1:] for _ in range(max(1, batch // 8))]
    return {
        "all-same": [names[0]] * batch,
        "skewed": skew[:batch],
        "uniform": [names[i % experts] for i in range(batch)],
        "all-different": [f"e{i:02d}" for i in range(batch)],
    }


def timed(engine, rows_adapters: list[list[str | None]], tokens: int, repeat: int) -> float:
    """Seconds for running the given batches in turn (best of ``repeat``)."""
    from debate.experts.local.engine import Row

    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for adapters in rows_adapters:
            rows = [Row(f"Question {i}: who kept the log?\nAnswer:", tokens, adapter=a) for i, a in enumerate(adapters)]
            out = engine.generate(PASSAGE, rows)
            assert all(r.completion_tokens == tokens for r in out), "every row must decode the same length"
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--experts", type=int, default=4)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from debate.experts.embedded import embedded_model_dir
    from debate.experts.local.engine import Engine

    base_dir = embedded_model_dir()
    tmp = Path(tempfile.mkdtemp(prefix="debate-bench-lora-"))
    try:
        n_lib = max(args.experts, args.batch)
        make_library(tmp, base_dir, n_lib)
        engine = Engine(base_dir, device=args.device, dtype=args.dtype, library=tmp)
        engine.eos_ids = set()  # fixed decode length: every row generates exactly --tokens tokens
        engine.generate(PASSAGE, [engine_row(args.tokens)])  # warm the prefix cache (base) and kernels
        for a in sorted(set(sum(workloads(args.batch, args.experts).values(), []))):
            engine.prefix(PASSAGE, a)  # prefixes per adapter are cached in every variant alike
        engine.prefixes.max_entries = 10_000
        n_tok = args.batch * args.tokens
        base_s = timed(engine, [[None] * args.batch], args.tokens, args.repeat)
        print(f"device {engine.device}, dtype {engine.dtype}, batch {args.batch}, {args.tokens} tokens per row, "
              f"{args.experts} experts (all-different: {args.batch})")
        print(f"{'workload':<14} {'mixed tok/s':>12} {'one-by-one tok/s':>17} {'base tok/s':>11} {'mixed/one-by-one':>17} {'mixed/base':>11}")
        for name, adapters in workloads(args.batch, args.experts).items():
            mixed = timed(engine, [adapters], args.tokens, args.repeat)
            groups = [[a] * c for a, c in Counter(adapters).items()]
            single = timed(engine, groups, args.tokens, args.repeat)
            print(f"{name:<14} {n_tok / mixed:>12.1f} {n_tok / single:>17.1f} {n_tok / base_s:>11.1f} "
                  f"{single / mixed:>16.2f}x {base_s / mixed:>10.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def engine_row(tokens: int):
    from debate.experts.local.engine import Row

    return Row("Warm-up:", tokens)


if __name__ == "__main__":
    main()
