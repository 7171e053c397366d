"""Mixture-of-experts routing: which experts each layer chose, per row, and expert ablations.

In transformers 5 a sparse MoE block (Mixtral, Qwen2-MoE, OLMoE) calls its router, a
``…TopKRouter`` child named ``gate``, which returns ``(router_logits, top_k_weights,
top_k_index)``; the block hands the last two to its experts. A forward hook on each router
therefore sees exactly the experts every token used.

**Ablations.** The router takes its softmax and top-k *inside* its own forward, so a hook that
only edits the returned logits would change nothing the block uses. The hook instead sets the
blocked experts' logits to ``-inf`` and recomputes weights and indices with the router's own
formula (softmax in float32, top-k, renormalise where that router does, cast as it does), and
returns that triple, which the block then passes to its experts (tests check the experts'
inputs). ``moe_mask`` blocks experts; ``moe_force`` blocks every expert outside the given set.

**Attribution.** Before each forward the engine says which original row each batch row is and
which query positions count for which phase; pads in the middle of a batch count for none.

**The passage prefix** is computed once per (prefix text, ablation) and cached. Its routing is
counted at prefill time, kept with the cache entry, and repeated in the trace of every turn that
attends to that KV state (``counts.prefix``); ``prompt`` and ``generated`` (or ``continuation``
for scores) are the call's own decisions. ``generated`` covers the completion tokens fed back
to the model: every sampled token except the last (the last is never run).
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Union

import torch

ExpertChoice = Union[list[int], dict[int, list[int]]]
"""Experts for every MoE layer (a list) or per decoder-layer index (a mapping)."""

_CASTS_WEIGHTS = {"MixtralTopKRouter": False, "Qwen2MoeTopKRouter": True, "OlmoeTopKRouter": True}
"""Router classes whose formula :func:`reroute` reproduces; the value: whether the router casts
its top-k weights back to the logits' dtype (Mixtral keeps them in float32)."""


class MoeOptionError(ValueError):
    """A bad ``moe_mask`` / ``moe_force``, told in one line that names the option."""


@dataclass(frozen=True)
class MoeShape:
    layers: tuple[int, ...]
    """Decoder-layer index of each MoE block, in order (Qwen2-MoE may keep some layers dense)."""
    experts: int
    top_k: int


def config_shape(config: Any) -> MoeShape | None:
    """The MoE layout a transformers config describes, or ``None`` for a dense model."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    n = getattr(text, "num_local_experts", None) or getattr(text, "num_experts", None)
    k = getattr(text, "num_experts_per_tok", None)
    if not n or not k:
        return None
    dense = set(getattr(text, "mlp_only_layers", None) or [])
    step = getattr(text, "decoder_sparse_step", 1) or 1
    layers = tuple(i for i in range(text.num_hidden_layers) if i not in dense and (i + 1) % step == 0)
    return MoeShape(layers, int(n), int(k))


# ---- ablation options ------------------------------------------------------------------
@dataclass(frozen=True)
class Ablation:
    """Experts each MoE layer may not choose: ``moe_mask`` plus everything outside ``moe_force``."""

    blocked: tuple[tuple[int, tuple[int, ...]], ...]
    """``(layer, experts)`` pairs, sorted, only layers with something blocked."""

    @property
    def key(self) -> str:
        return ";".join(f"{layer}:{','.join(map(str, e))}" for layer, e in self.blocked)

    def as_meta(self) -> dict[str, list[int]]:
        return {str(layer): list(e) for layer, e in self.blocked}


def options_key(mask: ExpertChoice | None, force: ExpertChoice | None) -> str:
    """A canonical string of the options ("" when none): backends with equal options share a queue."""
    if mask is None and force is None:
        return ""
    return json.dumps({"mask": mask, "force": force}, sort_keys=True, default=str)


def build_ablation(mask: ExpertChoice | None, force: ExpertChoice | None, shape: MoeShape | None, model: str) -> Ablation | None:
    """Validate the options against the model's MoE layout; ``None`` when nothing is blocked."""
    if mask is None and force is None:
        return None
    given = " and ".join(n for n, v in (("moe_mask", mask), ("moe_force", force)) if v is not None)
    if shape is None:
        raise MoeOptionError(f"{given}: model {model!r} is not a mixture-of-experts model (no num_local_experts/num_experts in its config)")
    blocked: dict[int, set[int]] = {layer: set() for layer in shape.layers}
    for name, value in (("moe_mask", mask), ("moe_force", force)):
        if value is None:
            continue
        for layer, experts in _per_layer(name, value, shape).items():
            blocked[layer] |= experts if name == "moe_mask" else set(range(shape.experts)) - experts
    for layer, b in blocked.items():
        left = shape.experts - len(b)
        if left < shape.top_k:
            raise MoeOptionError(
                f"{given}: layer {layer} would leave {left} of {shape.experts} experts, "
                f"fewer than the {shape.top_k} each token uses (num_experts_per_tok)"
            )
    kept = tuple((layer, tuple(sorted(b))) for layer, b in sorted(blocked.items()) if b)
    return Ablation(kept) if kept else None


def check_options(path: str | Path, mask: ExpertChoice | None, force: ExpertChoice | None) -> None:
    """Validate against an HF folder's ``config.json`` without loading weights (fail before a run)."""
    from transformers import AutoConfig

    build_ablation(mask, force, config_shape(AutoConfig.from_pretrained(str(path))), str(path))


def _per_layer(name: str, value: Any, shape: MoeShape) -> dict[int, set[int]]:
    if not isinstance(value, Mapping):
        experts = _experts(name, value, shape, None)
        return {layer: experts for layer in shape.layers}
    out: dict[int, set[int]] = {}
    for raw, experts in value.items():
        layer = int(raw) if isinstance(raw, str) and raw.isdigit() else raw
        if isinstance(layer, bool) or not isinstance(layer, int) or layer not in shape.layers:
            raise MoeOptionError(f"{name}: layer {raw!r} is not an MoE layer of this model (MoE layers: {_span(shape.layers)})")
        out[layer] = _experts(name, experts, shape, layer)
    return out


def _experts(name: str, experts: Any, shape: MoeShape, layer: int | None) -> set[int]:
    if isinstance(experts, (str, bytes)) or not isinstance(experts, (list, tuple, set, frozenset)):
        raise MoeOptionError(f"{name}: expected a list of expert indices or a mapping layer -> list, got {experts!r}")
    where = f" (layer {layer})" if layer is not None else ""
    for e in experts:
        if isinstance(e, bool) or not isinstance(e, int) or not 0 <= e < shape.experts:
            raise MoeOptionError(f"{name}: expert {e!r}{where} is out of range; the model has {shape.experts} experts per layer (0-{shape.experts - 1})")
    return set(experts)


def _span(layers: Sequence[int]) -> str:
    return ", ".join(map(str, layers)) if len(layers) <= 8 else f"{layers[0]}…{layers[-1]} ({len(layers)} layers)"


# ---- routers ---------------------------------------------------------------------------
def find_routers(model: torch.nn.Module) -> list[tuple[int, torch.nn.Module]]:
    """``(decoder layer, router)`` for every sparse MoE block: a module with ``gate`` and ``experts``."""
    found = []
    for name, module in model.named_modules():
        gate, experts = getattr(module, "gate", None), getattr(module, "experts", None)
        if isinstance(gate, torch.nn.Module) and isinstance(experts, torch.nn.Module):
            m = re.search(r"(?:^|\.)layers\.(\d+)\.", name + ".")
            if m:
                found.append((int(m.group(1)), gate))
    return sorted(found, key=lambda t: t[0])


def reroute(router: torch.nn.Module, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The router's own output for ``logits``: what its forward does after the linear layer."""
    casts = _CASTS_WEIGHTS[type(router).__name__]
    probs = torch.nn.functional.softmax(logits, dtype=torch.float, dim=-1)
    top, idx = torch.topk(probs, router.top_k, dim=-1)  # type: ignore[arg-type]
    if getattr(router, "norm_topk_prob", True):  # Mixtral always renormalises
        top = top / top.sum(dim=-1, keepdim=True)
    return logits, (top.to(logits.dtype) if casts else top), idx


# ---- recording -------------------------------------------------------------------------
class Tally:
    """Counts for one engine call: ``phase -> (rows, MoE layers, experts)`` on the model's device."""

    def __init__(self, routing: MoeRouting, n_rows: int) -> None:
        self.routing = routing
        self.n_rows = n_rows
        self.counts: dict[str, torch.Tensor] = {}
        self._lists: dict[str, list[list[list[int]]]] | None = None

    def step(self, rows: Sequence[int], **phases: torch.Tensor | None) -> None:
        """Attribute the next forward: batch row b is call row ``rows[b]``; each phase names a
        ``(batch, queries)`` bool mask of the positions it counts (``None``: all of them)."""
        if self.routing.shape is not None:
            device = self.routing.routers[0][1].weight.device  # type: ignore[union-attr]
            self.routing._step = (self, torch.tensor(list(rows), dtype=torch.long, device=device), phases)

    def _add(self, slot: int, idx: torch.Tensor, rows: torch.Tensor, phases: dict[str, torch.Tensor | None]) -> None:
        shape = self.routing.shape
        assert shape is not None
        n, e = rows.numel(), shape.experts
        if idx.shape[0] % n:
            raise RuntimeError(f"router saw {idx.shape[0]} tokens, not a multiple of the batch's {n} rows")
        idx = idx.view(n, -1, idx.shape[-1])
        flat = rows.view(n, 1, 1) * e + idx
        for phase, mask in phases.items():
            sel = flat if mask is None else flat[mask]
            add = torch.bincount(sel.reshape(-1), minlength=self.n_rows * e).view(self.n_rows, e)
            if phase not in self.counts:
                self.counts[phase] = torch.zeros((self.n_rows, len(shape.layers), e), dtype=torch.long, device=idx.device)
            self.counts[phase][:, slot] += add

    def lists(self) -> dict[str, list[list[list[int]]]]:
        if self._lists is None:
            self._lists = {phase: c.tolist() for phase, c in self.counts.items()}
        return self._lists

    def trace(self, row: int, prefix: object | None = None, phases: Sequence[str] = ("prompt", "generated")) -> dict[str, Any]:
        """Row ``row``'s routing as JSON-ready data; ``{}`` for a dense model."""
        shape = self.routing.shape
        if shape is None:
            return {}
        zeros = [[0] * shape.experts for _ in shape.layers]
        counts = {p: self.lists()[p][row] if p in self.counts else zeros for p in phases}
        kept = self.routing._prefix.get(id(prefix)) if prefix is not None else None
        if kept is not None:
            counts = {"prefix": kept, **counts}
        ablation = self.routing.ablation
        return {
            "model_type": self.routing.model_type, "experts": shape.experts, "top_k": shape.top_k,
            "layers": list(shape.layers),
            "tokens": {p: sum(c[0]) // shape.top_k for p, c in counts.items()},
            "counts": counts,
            "blocked": ablation.as_meta() if ablation is not None else {},
        }


class MoeRouting:
    """Hooks on every router of one model (none for a dense model): counting and ablations."""

    def __init__(self, model: torch.nn.Module) -> None:
        config = getattr(model, "config", None)
        declared = config_shape(config) if config is not None else None
        self.routers = find_routers(model) if declared is not None else []
        if declared is not None and not self.routers:
            raise RuntimeError(f"{type(model).__name__}: the config declares {declared.experts} experts but no MoE block (gate + experts) was found")
        self.shape = MoeShape(tuple(layer for layer, _ in self.routers), declared.experts, declared.top_k) if declared else None
        self.model_type = getattr(config.get_text_config(), "model_type", "") if config is not None else ""
        self.ablation: Ablation | None = None
        self.lock = threading.RLock()
        """Held for each call made under :meth:`ablate`: backends on one engine never interleave."""
        self._blocked: dict[int, torch.Tensor] = {}
        self._step: tuple[Tally, torch.Tensor, dict[str, torch.Tensor | None]] | None = None
        self._prefix: dict[int, list[list[int]]] = {}
        for slot, (_, router) in enumerate(self.routers):
            # prepend: transformers' own output_router_logits capture (a later hook) sees the ablated logits.
            router.register_forward_hook(partial(self._hook, slot), prepend=True)
        if self.routers:
            model.register_forward_hook(self._forward_done)

    @property
    def key(self) -> str:
        """Appended to prefix-cache keys: an ablation changes the passage's KV state too."""
        return f"|moe:{self.ablation.key}" if self.ablation is not None else ""

    def tally(self, n_rows: int) -> Tally:
        return Tally(self, n_rows)

    def keep_prefix(self, entry: object, tally: Tally) -> None:
        """Remember a freshly computed prefix's routing for as long as its cache entry lives."""
        if self.shape is None or "prefix" not in tally.counts:
            return
        key = id(entry)
        self._prefix[key] = tally.lists()["prefix"][0]
        weakref.finalize(entry, self._prefix.pop, key, None)

    @contextmanager
    def ablate(self, mask: ExpertChoice | None, force: ExpertChoice | None, *, model: str = "") -> Iterator[None]:
        """Run the calls inside with these experts blocked (and the engine to oneself)."""
        ablation = build_ablation(mask, force, self.shape, model)
        with self.lock:
            self.ablation = ablation
            self._blocked = self._masks(ablation)
            try:
                yield
            finally:
                self.ablation, self._blocked, self._step = None, {}, None

    def _masks(self, ablation: Ablation | None) -> dict[int, torch.Tensor]:
        if ablation is None:
            return {}
        assert self.shape is not None
        slots = {layer: s for s, layer in enumerate(self.shape.layers)}
        out = {}
        for layer, experts in ablation.blocked:
            router = self.routers[slots[layer]][1]
            name = type(router).__name__
            if name not in _CASTS_WEIGHTS:
                raise MoeOptionError(f"moe_mask/moe_force: ablations support Mixtral, Qwen2-MoE and OLMoE routers, not {name}")
            mask = torch.zeros(self.shape.experts, dtype=torch.bool, device=router.weight.device)  # type: ignore[union-attr]
            mask[list(experts)] = True
            out[slots[layer]] = mask
        return out

    def _hook(self, slot: int, module: torch.nn.Module, args: Any, output: Any) -> Any:
        if not (isinstance(output, tuple) and len(output) == 3):
            raise RuntimeError(f"{type(module).__name__} returned {type(output).__name__}; expected (logits, weights, indices)")
        blocked = self._blocked.get(slot)
        if blocked is not None:
            output = reroute(module, output[0].masked_fill(blocked, float("-inf")))
        if self._step is not None:
            tally, rows, phases = self._step
            tally._add(slot, output[2], rows, phases)
        return output if blocked is not None else None

    def _forward_done(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        self._step = None  # a step describes exactly one forward


def attach_routing(model: torch.nn.Module) -> MoeRouting:
    """Routing hooks for ``model``; a dense model gets an inert one (traces are ``{}``)."""
    return MoeRouting(model)


def score_phases(lengths: Sequence[int], n_prompt: int, width: int, device: torch.device) -> dict[str, torch.Tensor]:
    """For a multi-token score batch (rows ``[pad…][prompt][continuation_r]``): the prompt counted
    once (first row), and every row's continuation tokens."""
    q = torch.arange(width, device=device).unsqueeze(0)
    start = (width - torch.tensor(list(lengths), device=device)).unsqueeze(1)
    prompt = (q >= start) & (q < start + n_prompt)
    prompt[1:] = False
    return {"prompt": prompt, "continuation": q >= start + n_prompt}
