"""Picking the next token per row, and when a row's reply has ended."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from debate.experts.local.engine import Row


def sample(logits: torch.Tensor, rows: list[Row], gens: list[torch.Generator]) -> torch.Tensor:
    """Each row's next token: greedy rows their argmax, sampling rows a draw from their own seeded generator."""
    if all(row.temperature <= 0 for row in rows):
        return torch.argmax(logits, dim=-1)  # one pass over the batch's 262k-wide rows, not one per row
    picks = []
    for b, (row, gen) in enumerate(zip(rows, gens)):
        if row.temperature <= 0:
            picks.append(int(torch.argmax(logits[b])))
        else:
            probs = torch.softmax(logits[b].float() / row.temperature, dim=-1).cpu()
            picks.append(int(torch.multinomial(probs, 1, generator=gen)))
    return torch.tensor(picks, device=logits.device)


def first_stop(text: str, stops: list[str]) -> int | None:
    """Where the first stop string starts, ignoring leading whitespace (a reply that opens
    with a blank line has not finished yet)."""
    start = len(text) - len(text.lstrip())
    cuts = [i for i in (text.find(s, start) for s in stops if s) if i >= 0]
    return min(cuts) if cuts else None


def torch_seed(seed: int | None) -> int:
    """A seed torch accepts: in its range unchanged, outside it reduced mod 2**64, so one odd
    seed cannot fail the batch its row shares with others."""
    if seed is None:
        return 0
    return seed if -(2**63) <= seed < 2**64 else seed % 2**64
