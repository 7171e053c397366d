"""Train one domain expert end to end: router statistics, LoRA, gates, manifest."""

from __future__ import annotations

import logging
import shlex
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from debate.datasets.domains import load_domain
from debate.experts.library.fingerprint import base_fingerprint
from debate.experts.library.library import LibraryError
from debate.experts.library.manifest import ADAPTER_CONFIG, ADAPTER_WEIGHTS, GATES, MANIFEST, ExpertManifest, Training
from debate.training.centroid import router_stats
from debate.training.examples import data_hash, examples
from debate.training.gates import train_gates
from debate.training.lora import TARGET_MODULES, LoraSettings, load_base, train, wrap

log = logging.getLogger(__name__)

DESCRIPTIONS = {
    "medical": "USMLE-style clinical questions (MedQA train split)",
    "science": "School and college science (MMLU science subjects + half of ARC-Challenge dev)",
    "logic": "Deductive reasoning over stated rules (PrOntoQA 1/3/5-hop, facts as the passage)",
}


def train_expert(
    domain: str, data_root: str | Path, out_dir: str | Path, *, base: str = "embedded", questions: int = 240,
    gate_questions: int = 64, settings: LoraSettings | None = None, command: str = "",
) -> ExpertManifest:
    from safetensors.torch import save_file

    s = settings or LoraSettings()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LibraryError(f"--out {out}: is a file; name a folder (its name becomes the expert's name)")
    if not Path(data_root).expanduser().is_dir():
        raise LibraryError(f"--data {data_root}: no such folder (it should be laid out like shared/data)")
    if s.learning_rate <= 0:
        raise LibraryError(f"--learning-rate {s.learning_rate}: must be above 0, or nothing is trained")
    model_dir = _base_dir(base)
    t0 = time.perf_counter()
    train_qs = load_domain(domain, data_root, "train")[:questions]
    items = examples(train_qs)
    tok, model = load_base(model_dir)
    n_layers = model.config.get_text_config().num_hidden_layers
    if s.layers > n_layers:
        raise LibraryError(f"--layers {s.layers}: the base model has {n_layers} decoder layers")
    stats = router_stats(model, tok, train_qs)
    peft_model = wrap(model, s)
    result = train(peft_model, tok, items, s)
    gate_items = examples(train_qs[:gate_questions])
    gates, gate_result = train_gates(peft_model, tok, gate_items, s)
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    peft_model.save_pretrained(str(work))
    (work / "README.md").unlink(missing_ok=True)  # PEFT's empty model-card template; the manifest says what matters
    save_file({k: v.contiguous() for k, v in gates.items()}, str(work / GATES))
    for f in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
        if not (work / f).is_file():
            raise RuntimeError(f"PEFT did not write {f} in {work}")
    manifest = ExpertManifest(
        name=out.name, domain=domain, description=DESCRIPTIONS.get(domain, domain), base_model=base,
        base_fingerprint=base_fingerprint(model_dir), rank=s.rank, alpha=s.alpha, target_modules=list(TARGET_MODULES),
        training=Training(
            datasets=sorted({q.source.get("dataset", "?") for q in train_qs}),
            split=f"first {len(train_qs)} questions of the '{domain}' train split (debate.datasets.domains, "
                  f"sha256-ordered ids), both option orders",
            n_examples=len(items), data_sha256=data_hash(items), seed=s.seed, command=command,
            steps=result.steps, epochs=s.epochs, learning_rate=s.learning_rate, batch_size=s.batch_size,
            seconds=round(time.perf_counter() - t0, 1), final_loss=round(result.final_loss, 4),
        ),
        router=stats, gates=GATES,
        evaluation={"training": {**asdict(s), "gate_steps": gate_result.steps, "gate_final_loss": round(gate_result.final_loss, 4),
                                 "adapted_layers": s.layers}},
    )
    (work / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    log.warning("trained %s in %.0f s (final loss %.3f)", out, time.perf_counter() - t0, result.final_loss)
    return manifest


def _base_dir(base: str) -> Path:
    if base == "embedded":
        from debate.experts.embedded import embedded_model_dir

        return embedded_model_dir()
    path = Path(base).expanduser()
    if not (path / "config.json").is_file() or not any(path.glob("*.safetensors")):
        raise LibraryError(f"--base {base}: not an HF folder with config.json and .safetensors weights")
    return path


def command_line(argv: list[str]) -> str:
    return shlex.join(["debate", *argv])
