"""The engine's view of its LoRA-expert library: names to slots, per-row routing, usage summaries.

A model without a library has an empty set that refuses any adapter name, so a request for an
expert can never silently run on the base model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from debate.experts.library.library import LibraryEntry, LibraryError, open_library
from debate.experts.local.lora import TOKEN, RouteState, attach

TOKEN_ROUTED = "@token"
"""The adapter name that asks for per-token (PHATGOOSE) routing over every expert."""


class AdapterSet:
    def __init__(self, entries: list[LibraryEntry] | None = None, state: RouteState | None = None, device: Any = "cpu") -> None:
        self.entries = entries or []
        self.state = state
        self.device = device
        self._slot = {e.name: i for i, e in enumerate(self.entries, 1)}
        self._live: list[int] = []
        self._final: dict[int, torch.Tensor] = {}
        self._names: list[str | None] = []

    @classmethod
    def load(cls, model: Any, model_dir: Path, library: str | Path, device: Any) -> "AdapterSet":
        """Validate the whole library against this base, read every adapter, then wrap the model."""
        from debate.experts.library.fingerprint import base_fingerprint
        from debate.experts.local.lora_weights import read_expert

        if not any(Path(model_dir).glob("*.safetensors")):
            raise LibraryError(f"{model_dir}: an expert library needs a safetensors base model (not GGUF) to check fingerprints")
        entries = open_library(library, base_fingerprint=base_fingerprint(model_dir))
        weights = [read_expert(e) for e in entries]
        try:
            state = attach(model, weights)
        except ValueError as exc:
            raise LibraryError(f"{library}: {exc}") from None
        return cls(entries, state, device)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def index(self, name: str | None) -> int:
        if name is None or name == "":
            return 0
        if name == TOKEN_ROUTED and self.entries:
            if self.state is not None and not all(e.manifest.gates for e in self.entries):
                raise LibraryError("token routing needs gate vectors for every expert; some manifests have no 'gates'")
            return TOKEN
        if name in self._slot:
            return self._slot[name]
        if not self.entries:
            raise LibraryError(f"adapter {name!r} was requested, but this model was loaded without an expert library")
        raise LibraryError(f"unknown expert {name!r}; this library has {', '.join(self.names)} (or {TOKEN_ROUTED!r})")

    # ---- one batch ------------------------------------------------------------------------
    def begin(self, adapters: list[str | None], valid: torch.Tensor | None = None) -> None:
        """Route the next forwards' batch rows to their experts (until :meth:`end` or the next begin).

        Every forward path of the engine calls ``begin`` (or ``end``) first, so a batch that
        failed half-way never leaves its routing to the next one."""
        self._names = list(adapters)
        self._live = list(range(len(adapters)))
        self._final = {}
        if self.state is None:
            return
        idx = [self.index(a) for a in adapters]
        self.state.start(torch.tensor(idx, device=self.device), valid)
        self.state.reset_usage(len(idx))

    def end(self) -> None:
        """Keep the rows' usage for :meth:`meta`, and go back to the base model."""
        if self.state is None:
            return
        if self.state.rows is not None:
            self._stash(range(len(self._live)))
        self.state.rows, self.state.valid, self.state.usage = None, None, None

    def all_valid(self) -> None:
        """The following forwards (decode steps) have no pads."""
        if self.state is not None:
            self.state.valid = None

    def select(self, keep: torch.Tensor) -> None:
        """Rows leave the batch: keep their usage, then narrow the routing to the rows left."""
        if self.state is None or self.state.rows is None:
            return
        kept = set(int(k) for k in keep)
        self._stash(b for b in range(len(self._live)) if b not in kept)
        self._live = [self._live[int(b)] for b in keep]
        self.state.rows = self.state.rows[keep]
        self.state.select(keep)

    def _stash(self, positions: Any) -> None:
        usage = self.state.usage if self.state is not None else None
        for b in positions:
            if usage is not None and b < usage.shape[0]:
                self._final[self._live[b]] = usage[b].clone()

    def meta(self, row: int) -> dict[str, Any]:
        """What a row's reply records: its adapter and, for token routing, each expert's share of picks."""
        if self.state is None or row >= len(self._names):
            return {}
        name = self._names[row]
        if name is None:
            return {}
        out: dict[str, Any] = {"adapter": name}
        if name == TOKEN_ROUTED:
            counts = self._final.get(row, torch.zeros(len(self.entries)))
            total = float(counts.sum()) or 1.0
            out["routing"] = {
                "mode": "token", "k": self.state.token_k, "modules": self.state.modules,
                "picks": {n: int(c) for n, c in zip(self.names, counts.tolist())},
                "share": {n: round(float(c) / total, 4) for n, c in zip(self.names, counts.tolist())},
            }
        return out
