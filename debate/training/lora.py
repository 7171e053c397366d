"""Train one LoRA expert with PEFT: the answer letter's cross-entropy on the protocols' own prompt.

Only the top ``layers`` decoder layers are adapted. On a 2-core CPU that is what makes training
affordable (backward stops at the first adapted layer), and the letter decision is made late in
the network anyway. The loss is taken on the last position only (``logits_to_keep=1``): the
262k-word output layer over every position would cost more than the rest of the model.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from debate.training.examples import Example

log = logging.getLogger(__name__)

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class LoraSettings:
    rank: int = 8
    alpha: float = 16.0
    layers: int = 6
    """Adapt the top this-many decoder layers."""
    learning_rate: float = 5e-4
    batch_size: int = 8
    epochs: float = 1.0
    max_tokens: int = 320
    """Prompts are cut from the left to this many tokens (the question and options are at the end)."""
    seed: int = 0


@dataclass
class TrainResult:
    steps: int
    seconds: float
    final_loss: float
    losses: list[float]


def load_base(model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.eval()
    return tok, model


def wrap(model: Any, s: LoraSettings) -> Any:
    from peft import LoraConfig, get_peft_model

    n_layers = model.config.get_text_config().num_hidden_layers
    cfg = LoraConfig(
        r=s.rank, lora_alpha=s.alpha, lora_dropout=0.0, target_modules=list(TARGET_MODULES),
        layers_to_transform=list(range(n_layers - s.layers, n_layers)), bias="none",
    )
    torch.manual_seed(s.seed)
    return get_peft_model(model, cfg)


def batches(tok: Any, items: list[Example], s: LoraSettings, *, shuffle_seed: int | None) -> list[tuple[dict, torch.Tensor]]:
    """Left-padded, left-truncated batches with the target letter's token id per row."""
    order = list(items)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    out = []
    for i in range(0, len(order), s.batch_size):
        chunk = order[i : i + s.batch_size]
        ids = [tok.encode(e.text)[-s.max_tokens :] for e in chunk]
        width = max(map(len, ids))
        input_ids = torch.full((len(ids), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for r, row in enumerate(ids):
            input_ids[r, width - len(row) :] = torch.tensor(row)
            mask[r, width - len(row) :] = 1
        target = torch.tensor([tok.encode(e.target, add_special_tokens=False)[0] for e in chunk])
        out.append(({"input_ids": input_ids, "attention_mask": mask}, target))
    return out


def train(model: Any, tok: Any, items: list[Example], s: LoraSettings, params: list[torch.nn.Parameter] | None = None,
          lr: float | None = None, label: str = "adapter") -> TrainResult:
    """Letter cross-entropy, AdamW, linear decay; ``params`` defaults to every trainable parameter."""
    params = params if params is not None else [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr or s.learning_rate, weight_decay=0.0)
    epochs = max(1, int(s.epochs + 0.999))
    plan = [b for e in range(epochs) for b in batches(tok, items, s, shuffle_seed=s.seed + e)]
    plan = plan[: max(1, round(len(plan) * s.epochs / epochs))]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / len(plan))
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    for step, (enc, target) in enumerate(plan, 1):
        logits = model(**enc, logits_to_keep=1).logits[:, -1, :]
        loss = torch.nn.functional.cross_entropy(logits.float(), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if step % 5 == 0 or step == len(plan):
            recent = losses[-5:]
            log.warning("%s step %d/%d loss %.4f (%.0f s)", label, step, len(plan), sum(recent) / len(recent), time.perf_counter() - t0)
    model.eval()
    tail = losses[-10:]
    return TrainResult(len(plan), time.perf_counter() - t0, sum(tail) / len(tail), losses)
