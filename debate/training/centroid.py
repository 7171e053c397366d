"""Router statistics for an expert: the base model's pooled hidden states over its training questions."""

from __future__ import annotations

from typing import Any

import torch

from debate.core.question import Question
from debate.experts.library.manifest import RouterStats
from debate.experts.library.routing_text import routing_text


@torch.inference_mode()
def pooled(model: Any, tok: Any, texts: list[str], batch: int = 16) -> torch.Tensor:
    """Mean of the last layer's hidden states over each text's tokens (pads excluded), one row per text."""
    rows = []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i : i + batch], return_tensors="pt", padding=True, padding_side="right")
        out = model(**enc, output_hidden_states=True, logits_to_keep=1)
        h = out.hidden_states[-1].float()
        m = enc["attention_mask"].unsqueeze(-1).float()
        rows.append((h * m).sum(1) / m.sum(1))
    return torch.cat(rows)


def router_stats(model: Any, tok: Any, questions: list[Question]) -> RouterStats:
    emb = pooled(model, tok, [routing_text(q) for q in questions])
    centroid = emb.mean(0)
    sims = torch.nn.functional.cosine_similarity(emb, centroid.unsqueeze(0), dim=1)
    qs = torch.quantile(sims, torch.linspace(0, 1, 11)).tolist()
    return RouterStats(centroid=[round(x, 6) for x in centroid.tolist()], layer=-1, pooling="mean",
                       self_similarity=[round(x, 6) for x in qs])
