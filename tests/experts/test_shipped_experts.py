"""The experts shipped with the package load on the embedded model, as from a fresh install."""

from __future__ import annotations

import pytest

from debate.experts.backend import ScoreRequest
from debate.experts.library.library import open_library

SHIPPED = {"medical": "medical", "science": "science", "logic": "logic"}


def test_shipped_manifests_name_their_data_command_and_numbers() -> None:
    entries = {e.name: e.manifest for e in open_library("shipped")}
    assert {n: m.domain for n, m in entries.items()} == SHIPPED
    for name, m in entries.items():
        assert m.training.command.startswith(f"debate experts train {name} --data ")
        assert m.training.n_examples == 2 * int(m.training.command.split("--questions ")[1].split()[0])
        assert len(m.training.data_sha256) == 64 and m.router is not None and len(m.router.centroid) == 640
        held = m.evaluation["heldout"]["domains"]
        assert set(held) == set(SHIPPED) and all(0.0 <= r["expert"] <= 1.0 for r in held.values())


@pytest.mark.slow
async def test_shipped_experts_load_on_the_embedded_model_and_change_its_answers() -> None:
    from debate.experts.embedded import embedded_model_dir
    from debate.experts.library.fingerprint import base_fingerprint
    from debate.experts.local import LocalBackend

    fp = base_fingerprint(embedded_model_dir())
    assert {e.manifest.base_fingerprint for e in open_library("shipped")} == {fp}
    backend = LocalBackend("embedded", name="shipped", library="shipped")
    req = dict(prompt="Question: Which organ pumps blood?\n\nA: The heart\nB: The liver\n\nThe correct answer is option",
               continuations=[" A", " B"])
    base = (await backend.score(ScoreRequest(**req))).logprobs
    for name in SHIPPED:
        lp = (await backend.score(ScoreRequest(**req, adapter=name))).logprobs
        assert lp != pytest.approx(base, abs=1e-4), name
