"""Linear layers on CPU through oneDNN with weights reordered once, not per call.

A decode step of a batch is a stack of small-M matmuls (M = rows): PyTorch's default CPU path
re-reads each weight in its plain layout every call, and at M = 4-16 it is far from the memory
bandwidth it should reach. oneDNN's linear over a weight reordered ahead of time (what
torch.compile's CPU weight prepacking uses) measured 1.3-2.5x faster on this project's 2-core
CPU for M = 4-16 (the 262k-vocabulary output layer at M = 16: 54 ms -> 37 ms in float32), the same
at M = 1, and gives the same float32 results up to summation order (max |diff| ~5e-6 on logits).

The modules stay ordinary ``nn.Linear`` modules (adapters and routing hooks wrap or watch them
as before); only their forward changes. A weight no other module shares is then freed (its
``weight`` becomes an empty tensor of the same dtype and device), so memory does not double; a
tied one (the output layer, tied to the input embeddings) is kept for the embedding lookup.
transformers maps safetensors weights from the file, so those pages would stay resident while
the file is mapped: they are handed back to the kernel
(``madvise(MADV_DONTNEED)`` on that file mapping only; Linux), or packing would add the whole
reordered copy to the process's memory. A tied weight's pages go back again after every
embedding lookup (a page fault maps 64 KB of the file around the row it needs), so a packed
model's mapped embeddings are read-only: an in-place edit to them is dropped with the pages at
the next lookup. To edit them, give the module a copy first
(``emb.weight = nn.Parameter(emb.weight.clone())``: a weight that is no longer the mapping is
left alone) or build the engine with ``pack_weights=False``. Measured (``debate run --limit 1``):
peak RSS 3.26 GB before, 2.83 GB after dropping the untied weights' pages.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
import types

import torch
from torch import nn

log = logging.getLogger(__name__)
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # no C library to load
    _LIBC = None


def available(device: torch.device) -> bool:
    """oneDNN linear with prepacked weights works in this torch, on this device, and agrees with ``F.linear``."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        w, x = torch.randn(8, 16), torch.randn(3, 2, 16)
        got = torch.ops.mkldnn._linear_pointwise(x, torch.ops.mkldnn._reorder_linear_weight(w, 16), None, "none", [], "")
        return bool(torch.allclose(got, nn.functional.linear(x, w), atol=1e-5))
    except (RuntimeError, AttributeError) as exc:  # a build without these ops: plain linear layers
        log.info("oneDNN prepacked linear unavailable (%s); using plain linear layers", exc)
        return False


def pack(model: nn.Module, batch_hint: int = 16) -> int:
    """Give every ``nn.Linear`` of ``model`` a forward over a reordered copy of its weight;
    returns how many were packed. Call once, after adapters are attached, for inference only."""
    n = 0
    users: dict[int, int] = {}
    for module in model.modules():
        for p in module.parameters(recurse=False):
            users[p.data_ptr()] = users.get(p.data_ptr(), 0) + 1
    maps = _safetensors_maps()
    linears = [m for m in model.modules() if type(m) is nn.Linear and m.weight.dtype in (torch.float32, torch.bfloat16)]
    # Largest first (the output layer): its pages go back before the others are read, which keeps
    # the peak while packing near one weight's plain + reordered copy above the final footprint.
    for module in sorted(linears, key=lambda m: m.weight.numel(), reverse=True):
        weight = module.weight
        module._debate_packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), batch_hint)  # type: ignore[assignment]
        module.forward = types.MethodType(_forward, module)  # type: ignore[method-assign]
        if users.get(weight.data_ptr(), 0) == 1:
            module.weight = nn.Parameter(weight.new_empty(0), requires_grad=False)
        # Reordering read every page of the weight; a tied one (the embeddings) is used again
        # only a row per token looked up, so its pages too go back (and again after every lookup, below).
        _drop_file_pages(weight, maps)
        n += 1
    for module in model.modules():
        pages = _file_pages(module.weight, maps) if isinstance(module, nn.Embedding) else None
        if pages is not None:
            # A fault on a mapped file maps the pages around it too (64 KB): each token looked
            # up left ~25 rows resident, ~300 MB of the embeddings by the end of a default run.
            # The lookup has copied its rows; the pages go back and the next one faults in its own.
            module.register_forward_hook(functools.partial(_drop_after_lookup, module.weight.data_ptr(), pages))
    return n


def _drop_after_lookup(ptr: int, pages: tuple[int, int], module: nn.Module, *_: object) -> None:
    if module.weight.data_ptr() == ptr:  # still the mapped weight (a replaced one may not be)
        _madvise_dontneed(*pages)


def _madvise_dontneed(lo: int, hi: int) -> None:
    assert _LIBC is not None  # _file_pages gave these pages
    _LIBC.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), 4)  # MADV_DONTNEED


def _drop_file_pages(t: torch.Tensor, maps: list[tuple[int, int]]) -> None:
    """Give back the resident pages of ``t`` if it lies in a private mapping of a ``.safetensors``
    file: such pages (loaded weights, never written) read back from the file when touched again. Only whole
    pages inside ``t`` are dropped, so a neighbouring tensor is never affected. Anything else
    (heap memory, shared mappings, other platforms) is left alone."""
    pages = _file_pages(t, maps)
    if pages is not None:
        _madvise_dontneed(*pages)


def _file_pages(t: torch.Tensor, maps: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The whole pages inside ``t`` when it lies in one of ``maps`` (Linux, CPU), else None."""
    if not sys.platform.startswith("linux") or t.device.type != "cpu" or _LIBC is None:
        return None
    start, end = t.data_ptr(), t.data_ptr() + t.numel() * t.element_size()
    page = 4096
    lo, hi = -(-start // page) * page, end // page * page  # whole pages inside the tensor only
    return (lo, hi) if hi > lo and any(a <= lo and hi <= b for a, b in maps) else None


def _safetensors_maps() -> list[tuple[int, int]]:
    """Address ranges of this process's private mappings of ``.safetensors`` files (``/proc/self/maps``)."""
    out = []
    try:
        lines = open("/proc/self/maps").read().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[-1].endswith(".safetensors") and parts[1].endswith("p"):
            a, b = parts[0].split("-")
            out.append((int(a, 16), int(b, 16)))
    return out


def _forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    bias = None if self.bias is None else self.bias.detach()
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self._debate_packed, bias, "none", [], "")
