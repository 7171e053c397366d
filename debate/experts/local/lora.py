"""Many LoRA experts on one base model, chosen per batch row or per token, in one forward pass.

Every adapted ``nn.Linear`` is wrapped once with the stacked weights of all experts
(``A: (E+1, r, in)``, ``B: (E+1, out, r)``, slot 0 all zeros = the base model), so a batch whose
rows use different experts is still one batched forward: the update is two ``bmm`` calls with
each row's gathered A and B. PEFT's own mixed-adapter path loops over adapters per module; this
one does not, which is what keeps a mixed batch close to the base model's speed.

Token routing (PHATGOOSE, Muqeeth et al. 2024): each expert has a gate vector per module; a
token's activation and the gates are standardised (zero mean, unit variance), their dot products
divided by sqrt(d) score the experts, and the top-k experts' LoRA outputs are mixed with softmax
weights over those k scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

TOKEN = -1
"""Row index meaning "route this row per token"."""


@dataclass
class RouteState:
    """What the next forward pass should use; set by the engine before each call."""

    rows: torch.Tensor | None = None
    """Per batch row: 0 base, i > 0 expert i-1, ``TOKEN`` per-token routing; None: base for all."""
    token_k: int = 2
    valid: torch.Tensor | None = None
    """(batch, tokens) bool: which query tokens are real (pads are not counted in usage)."""
    usage: torch.Tensor | None = None
    """(batch, experts) top-k picks summed over modules and valid tokens (token routing)."""
    n_experts: int = 0
    modules: int = 0
    names: list[str] = field(default_factory=list)

    def start(self, rows: torch.Tensor | None, valid: torch.Tensor | None) -> None:
        self.rows, self.valid = rows, valid
        if rows is not None and bool((rows == TOKEN).any()) and (self.usage is None or self.usage.shape[0] != rows.shape[0]):
            self.usage = torch.zeros(rows.shape[0], self.n_experts)

    def reset_usage(self, batch: int) -> None:
        self.usage = torch.zeros(batch, self.n_experts)

    def select(self, idx: torch.Tensor) -> None:
        """Keep only these batch rows (finished rows leave the decode batch)."""
        if self.usage is not None:
            self.usage = self.usage[idx.cpu()]


def _standardise(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-6)


class MultiLoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, a: torch.Tensor, b: torch.Tensor, gates: torch.Tensor | None, state: RouteState) -> None:
        super().__init__()
        self.base = base
        self.register_buffer("lora_a", a, persistent=False)  # (E+1, r, in)
        self.register_buffer("lora_b", b, persistent=False)  # (E+1, out, r), scale folded in
        self.register_buffer("gates", gates, persistent=False)  # (E, in) standardised, or None
        self.state = state

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        rows = self.state.rows
        if rows is None:
            return y
        fixed = rows.clamp(min=0)
        if bool((fixed > 0).any()):
            y = y + self._per_row(x, fixed)
        token = rows == TOKEN
        if bool(token.any()):
            y = y + self._per_token(x, token)
        return y

    def _per_row(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        squeeze = x.dim() == 2
        x3 = x.unsqueeze(1) if squeeze else x
        first = int(idx[0])
        if bool((idx == first).all()):  # one expert for the whole batch: plain matmuls
            out = (x3 @ self.lora_a[first].T.to(x.dtype)) @ self.lora_b[first].T.to(x.dtype)
        else:
            a = self.lora_a[idx].to(x.dtype)  # (n, r, in)
            b = self.lora_b[idx].to(x.dtype)  # (n, out, r)
            out = torch.bmm(torch.bmm(x3, a.transpose(1, 2)), b.transpose(1, 2))
        return out.squeeze(1) if squeeze else out

    def _per_token(self, x: torch.Tensor, token_rows: torch.Tensor) -> torch.Tensor:
        if self.gates is None:
            raise RuntimeError("token routing needs gate vectors; this library has none")
        k = min(self.state.token_k, self.gates.shape[0])
        xs = _standardise(x.float())
        scores = xs @ self.gates.T / math.sqrt(x.shape[-1])  # (n, t, E)
        top, which = scores.topk(k, dim=-1)
        weights = torch.softmax(top, dim=-1)  # (n, t, k)
        a = self.lora_a[1:].to(x.dtype)  # (E, r, in)
        b = self.lora_b[1:].to(x.dtype)  # (E, out, r)
        h = torch.einsum("nti,eri->nter", x, a)
        every = torch.einsum("nter,eor->nteo", h, b)  # (n, t, E, out)
        mix = torch.zeros(scores.shape, dtype=x.dtype, device=x.device).scatter(-1, which, weights.to(x.dtype))
        out = torch.einsum("nte,nteo->nto", mix, every)
        out = out * token_rows.view(-1, 1, 1).to(x.dtype)
        self._count(which, token_rows)
        return out

    def _count(self, which: torch.Tensor, token_rows: torch.Tensor) -> None:
        st = self.state
        if st.usage is None:
            return
        picks = torch.zeros(which.shape[0], which.shape[1], st.n_experts).scatter(-1, which.cpu(), 1.0)
        if st.valid is not None and st.valid.shape == picks.shape[:2]:
            picks = picks * st.valid.cpu().unsqueeze(-1)
        picks = picks * token_rows.cpu().view(-1, 1, 1)
        st.usage += picks.sum(1)


@dataclass
class ExpertWeights:
    """One expert's LoRA matrices by module name (as in the base model), plus optional gates."""

    name: str
    scale: float
    a: dict[str, torch.Tensor]
    b: dict[str, torch.Tensor]
    gates: dict[str, torch.Tensor] | None = None


def attach(model: nn.Module, experts: list[ExpertWeights]) -> RouteState:
    """Wrap every module any expert adapts. All checks run before the model is touched, so a
    bad library leaves the model as it was."""
    modules = dict(model.named_modules())
    names = sorted({m for e in experts for m in e.a})
    for e in experts:
        for m in e.a:
            if m not in modules or not isinstance(modules[m], nn.Linear):
                raise ValueError(f"expert {e.name!r} adapts {m!r}, which is not a linear layer of this model")
            if m not in e.b:
                raise ValueError(f"expert {e.name!r}: module {m!r} has lora_A but no lora_B")
            lin, ea, eb = modules[m], e.a[m], e.b[m]
            if ea.shape[1] != lin.in_features or eb.shape[0] != lin.out_features or ea.shape[0] != eb.shape[1]:
                raise ValueError(f"expert {e.name!r}: {m} LoRA shapes {tuple(ea.shape)}/{tuple(eb.shape)} do not fit "
                                 f"a {lin.in_features}->{lin.out_features} layer")
    with_gates = all(e.gates is not None and set(e.gates) >= set(e.a) for e in experts)
    state = RouteState(n_experts=len(experts), modules=len(names), names=[e.name for e in experts])
    ref = next(model.parameters())
    for m in names:
        base: nn.Linear = modules[m]
        r = max(e.a[m].shape[0] for e in experts if m in e.a)
        a = torch.zeros(len(experts) + 1, r, base.in_features)
        b = torch.zeros(len(experts) + 1, base.out_features, r)
        g = torch.zeros(len(experts), base.in_features) if with_gates else None
        for i, e in enumerate(experts, 1):
            if m in e.a:
                ea, eb = e.a[m].float(), e.b[m].float()
                a[i, : ea.shape[0]] = ea
                b[i, :, : eb.shape[1]] = eb * e.scale
            if g is not None and e.gates is not None and m in e.gates:
                g[i - 1] = _standardise(e.gates[m].float())
        parent_name, _, child = m.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        wrapped = MultiLoraLinear(base, a.to(ref.device), b.to(ref.device), None if g is None else g.to(ref.device), state)
        setattr(parent, child, wrapped)
    return state
