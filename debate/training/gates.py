"""PHATGOOSE gates: one vector per adapted module, trained after the expert with everything else frozen.

While training, each adapted module's LoRA output is scaled per token by ``sigmoid(x · g)``, so
``g`` learns which inputs this expert's update helps with. At inference (token routing) the
normalised activations score every expert's gate and the top-k experts' LoRA outputs are mixed.
PEFT computes ``lora_B(lora_A(x)) * scale``; ``lora_B`` is linear, so scaling ``lora_A``'s output
by the per-token gate scales the whole update.
"""

from __future__ import annotations

from typing import Any

import torch

from debate.training.examples import Example
from debate.training.lora import LoraSettings, TrainResult, train


def lora_modules(peft_model: Any) -> dict[str, Any]:
    """Adapted module name (as in the base model, e.g. ``model.layers.12.self_attn.q_proj``) -> PEFT layer."""
    out = {}
    for name, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            out[name.removeprefix("base_model.model.")] = module
    return out


def train_gates(peft_model: Any, tok: Any, items: list[Example], s: LoraSettings, *, lr: float = 1e-2) -> tuple[dict[str, torch.Tensor], TrainResult]:
    for p in peft_model.parameters():
        p.requires_grad_(False)
    gates: dict[str, torch.nn.Parameter] = {}
    hooks = []
    for name, module in lora_modules(peft_model).items():
        a = module.lora_A["default"]
        g = torch.nn.Parameter(torch.zeros(a.in_features))
        gates[name] = g

        def hook(mod: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor, g: torch.nn.Parameter = g) -> torch.Tensor:
            return output * torch.sigmoid(inputs[0] @ g).unsqueeze(-1)

        hooks.append(a.register_forward_hook(hook))
    try:
        result = train(peft_model, tok, items, s, params=list(gates.values()), lr=lr, label="gates")
    finally:
        for h in hooks:
            h.remove()
    return {k: v.detach().clone() for k, v in gates.items()}, result
