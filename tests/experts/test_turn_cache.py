"""The turn cache (``turn_cache.py``): a later call starts from the KV an earlier call left.

Outputs must not change: every engine test here runs the same calls on an engine with the turn
cache, one with the passage cache alone and one that prefills every prompt whole
(``reuse = False``), and asserts the same greedy and seeded tokens and the same log-probabilities
(float32 on CPU: exact tokens; log-probs within 1e-5, since a reused key was computed in another
forward's shape). The token counts are exact: a char tokenizer makes one token per character.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from debate.experts.local.engine import Engine, Row
from debate.experts.local.turn_cache import TurnCache, common_prefix, reuse_cut, shared_stems
from tests.tiny_gemma import build_tiny_gemma3

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PASSAGE = "Passage: the quick brown fox jumps over the lazy dog by the river.\n"
QUESTION = "Question: why did the fox jump over the dog?\nA: to reach the river\nB: to escape\n\n"


def _kv(n: int, fill: float = 0.0) -> torch.Tensor:
    return torch.full((2, 2, 1, n, 4), fill)  # 2 layers, keys and values, 1 head, n tokens, dim 4


# ---- the cache on its own ---------------------------------------------------------------------


def test_common_prefix_counts_shared_leading_tokens() -> None:
    a = np.array([1, 2, 3, 4])
    assert common_prefix(a, np.array([1, 2, 9])) == 2
    assert common_prefix(a, np.array([1, 2])) == 2
    assert common_prefix(a, np.array([7])) == 0
    assert common_prefix(a, a) == 4


def test_match_takes_the_longest_entry_under_the_same_key_and_leaves_one_token() -> None:
    cache = TurnCache(1 << 20, min_tokens=2)
    cache.put("p", list(range(10)), _kv(10, 1.0))
    cache.put("p", [0, 1, 2, 50, 51], _kv(5, 2.0))
    cache.put("other", list(range(20)), _kv(20, 3.0))
    turn, n = cache.match("p", [0, 1, 2, 3, 4, 99])
    assert n == 5 and float(turn.kv[0, 0, 0, 0, 0]) == 1.0
    turn, n = cache.match("p", list(range(10)))  # the whole prompt is cached: its last token still goes through
    assert n == 9
    assert cache.match("p", [0, 9, 9]) == (None, 0)  # 1 shared token < min_tokens
    assert cache.match("q", list(range(10))) == (None, 0)  # another passage's KV never serves
    assert (cache.hits, cache.reused_tokens) == (2, 14)


def test_put_drops_entries_the_new_one_covers_and_evicts_least_recently_used_by_bytes() -> None:
    one = _kv(10).numel() * 4  # bytes of a 10-token entry
    cache = TurnCache(3 * one, min_tokens=2)
    cache.put("p", list(range(5)), _kv(5))
    cache.put("p", list(range(10)), _kv(10))  # begins with the first entry's tokens: that one goes
    assert len(cache) == 1 and cache.bytes == one
    cache.put("p", list(range(8)), _kv(8))  # already covered by the 10-token entry: not stored
    assert len(cache) == 1
    cache.put("p", [100 + i for i in range(10)], _kv(10))
    cache.put("p", [200 + i for i in range(10)], _kv(10))
    cache.match("p", list(range(10)))  # the first entry is now the most recently used
    cache.put("p", [300 + i for i in range(10)], _kv(10))  # over budget: the 100s entry goes
    assert cache.bytes == 3 * one
    assert cache.peek("p", [100 + i for i in range(10)]) == 0
    assert cache.peek("p", list(range(10))) == 9 and cache.peek("p", [300 + i for i in range(10)]) == 9


def test_shared_stems_groups_rows_by_their_longest_common_run() -> None:
    x = list(range(40))
    rows = [x + [1000], [5] * 30, x + [2000, 1], x[:20] + [7] * 30]
    # sorted: x[:20]+[7..], x+[1000], x+[2000, 1], [5]*30; the first three share 20 tokens (rows 0 and 2
    # share 40, but a group grows while its run stays min_new past the matches: one stem of 20)
    assert shared_stems(rows, [0, 0, 0, 0], 16) == [x[:20]]
    # once the rows match 20 tokens in the cache, only the 40-token run is worth prefilling
    assert shared_stems(rows, [20, 0, 20, 20], 16) == [x]
    assert shared_stems(rows, [30, 0, 30, 20], 16) == []  # 40 - 30 < 16


def test_reuse_cut_keeps_rows_within_slack_of_their_width_without_reuse() -> None:
    # a row reusing 400 of 450 beside one reusing none of its 450 would need 850 columns: no reuse
    assert reuse_cut([400, 0], [450, 450]) == 0
    # beside a short row the long row's reuse fits (400 + 50 columns): all of it is taken
    assert reuse_cut([400, 0], [450, 40]) == 400
    # two rows reusing about as much: the cut that saves the most prefill within 1.1 x 450 columns
    assert reuse_cut([400, 380], [450, 430]) == 400
    assert reuse_cut([0, 0], [10, 20]) == 0


def test_shared_stems_of_identical_rows_is_the_whole_row() -> None:
    row = list(range(30))
    assert shared_stems([row, row, row], [0, 0, 0], 16) == [row]
    assert shared_stems([row], [0], 16) == []


# ---- the engine -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-gemma3-turns")
    build_tiny_gemma3(path, layer_types=["sliding_attention", "full_attention", "sliding_attention"], hidden=64,
                      head_dim=32, sliding_window=16, context=512)
    return path


def _engines(model_dir: Path) -> dict[str, Engine]:
    none = Engine(model_dir)
    none.reuse = False
    return {"turns": Engine(model_dir), "passage": Engine(model_dir, turn_cache_mb=0), "none": none}


def _debate(engine: Engine) -> tuple[list[str], list[list[float]]]:
    """Two simultaneous rounds and a judge-style score, each round's prompt holding the last."""
    r1 = engine.generate(PASSAGE, [Row(QUESTION + "Debater A:", 12), Row(QUESTION + "Debater B:", 9, 0.8, seed=3)])
    transcript = QUESTION + "Debater A:" + r1[0].text + "\n\nDebater B:" + r1[1].text + "\n\n"
    r2 = engine.generate(PASSAGE, [Row(transcript + "Debater A:", 10), Row(transcript + "Debater B:", 10, 0.8, seed=5)])
    scored = engine.score(PASSAGE, [transcript + "Judge: the answer is", QUESTION + "Answer:"], [["A", "B"], ["A", "B"]])
    return [r.text for r in r1 + r2], [s[0] for s in scored]


def test_turn_cache_changes_no_output_and_prefills_only_new_tokens(model_dir: Path) -> None:
    engines = _engines(model_dir)
    out = {name: _debate(e) for name, e in engines.items()}
    assert out["turns"][0] == out["passage"][0] == out["none"][0]
    for name in ("passage", "none"):
        assert np.allclose(out["turns"][1], out[name][1], atol=1e-5)
    texts = out["turns"][0]
    p = len(PASSAGE) + 1  # + BOS
    q = len(QUESTION)
    transcript = q + len("Debater A:") + len(texts[0]) + 2 + len("Debater B:") + len(texts[1]) + 2
    # none: every row prefills its whole prompt, the passage included
    assert engines["none"].prefilled_tokens == (
        2 * (p - 1) + 2 * q + 20 + 2 * (p - 1) + 2 * transcript + 20 + (p - 1) + transcript + 20 + (p - 1) + q + 7 + 1)
    # passage: the passage once (BOS included), then every row's suffix whole
    assert engines["passage"].prefilled_tokens == p + 2 * q + 20 + 2 * transcript + 20 + transcript + 20 + q + 7
    # turns: round 1's two rows share the question (a stem, prefilled once); round 2's rows share the
    # transcript (one stem past what round 1 left); the judge prompt and the answer prompt reuse it too
    engine = engines["turns"]
    assert engine.prefilled_tokens < engines["passage"].prefilled_tokens
    assert engine.turns.hits >= 4 and len(engine.turns) >= 1


def test_identical_rows_prefill_their_prompt_once(model_dir: Path) -> None:
    """Best-of-N drafts: the same prompt, different seeds."""
    engines = _engines(model_dir)
    rows = [Row(QUESTION + "Debater A:", 6, 0.9, seed=s) for s in range(4)]
    got = {name: [r.text for r in e.generate(PASSAGE, rows)] for name, e in engines.items()}
    assert got["turns"] == got["passage"] == got["none"]
    n = len(QUESTION + "Debater A:")
    assert engines["passage"].prefilled_tokens == len(PASSAGE) + 1 + 4 * n
    # the stem once (all but the last token, which each row must feed for its own logits), then each row's last token
    assert engines["turns"].prefilled_tokens == len(PASSAGE) + 1 + (n - 1) + 4


def test_a_later_call_reuses_an_earlier_reply(model_dir: Path) -> None:
    """The second prompt is the first prompt and its reply, continued: only the new text is prefilled."""
    engine = Engine(model_dir)
    first = engine.generate(PASSAGE, [Row(QUESTION + "Debater A:", 12)])[0]
    before = engine.prefilled_tokens
    follow = QUESTION + "Debater A:" + first.text + " And also"
    second = engine.generate(PASSAGE, [Row(follow, 5)])[0]
    # the first call kept its prompt and the reply tokens it fed (all but the last)
    assert engine.prefilled_tokens - before == len(follow) - (len(QUESTION + "Debater A:") + len(first.text) - 1)
    plain = Engine(model_dir, turn_cache_mb=0)
    assert plain.generate(PASSAGE, [Row(follow, 5)])[0].text == second.text


def test_turn_cache_is_off_without_the_growing_cache(model_dir: Path) -> None:
    slow = Engine(model_dir, growing_cache=False)
    slow.generate(PASSAGE, [Row(QUESTION + "A:", 4), Row(QUESTION + "B:", 4)])
    assert len(slow.turns) == 0 and slow.prefilled_tokens == len(PASSAGE) + 1 + 2 * len(QUESTION + "A:")


# ---- configuration ----------------------------------------------------------------------------


def test_turn_cache_mb_is_a_speed_setting_checked_by_name(tmp_path: Path) -> None:
    from debate.config import ConfigError, ModelSpec, RunConfig, load_config
    from debate.orchestrator.models import build_backend

    plain = RunConfig(models={"m": ModelSpec()}, expert="m")
    off = RunConfig(models={"m": ModelSpec(turn_cache_mb=0)}, expert="m")
    assert plain.hash == off.hash  # a run resumes with another setting: outputs do not change
    cfg = tmp_path / "run.yaml"
    cfg.write_text("expert: m\nmodels:\n  m:\n    turn_cache_mb: -1\n")
    with pytest.raises(ConfigError, match="turn_cache_mb"):
        load_config(cfg)
    backend = build_backend("m", ModelSpec(turn_cache_mb=64))
    assert backend.inner._turn_mb == 64  # type: ignore[attr-defined]


def test_turn_cache_mb_refuses_booleans_and_absurd_sizes(tmp_path: Path) -> None:
    from debate.config import ConfigError, load_config

    for bad in ("true", "10000000000000"):
        cfg = tmp_path / "run.yaml"
        cfg.write_text(f"expert: m\nmodels:\n  m:\n    turn_cache_mb: {bad}\n")
        with pytest.raises(ConfigError, match=r"run\.yaml.*turn_cache_mb"):
            load_config(cfg)
