"""``load_tokenizer`` drops transformers' Python copies of Gemma's vocabulary and merges (~170 MB
held for the life of the process) and must still encode and decode exactly as the tokenizer
``AutoTokenizer`` gives."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from debate.experts.tokens import PYTHON_COPIES, encode, load_tokenizer

pytestmark = pytest.mark.slow


def test_the_embedded_tokenizer_without_python_copies_encodes_and_decodes_the_same() -> None:
    from transformers import AutoTokenizer

    from debate.experts.embedded import embedded_model_dir

    path = embedded_model_dir()
    full, light = AutoTokenizer.from_pretrained(str(path)), load_tokenizer(path)
    assert all(len(getattr(full, name)) > 200_000 for name in PYTHON_COPIES)  # what there was to drop
    assert all(len(getattr(light, name)) == 0 for name in PYTHON_COPIES)
    story = json.loads((resources.files("debate.datasets") / "data" / "quality_sample.jsonl").read_text().splitlines()[0])
    texts = [story["context"], "Debater A: My answer is (B) \u201cthe dog\u201d \u2014 na\u00efve caf\u00e9 \u4f60\u597d \U0001f600\n\n  tabs\tend"]
    for text in texts:
        for bos in (True, False):
            ids = encode(light, text, bos=bos)
            assert ids == encode(full, text, bos=bos)
        assert light.decode(ids) == full.decode(ids) == text
    assert encode(light, "Answer: A", bos=True)[0] == light.bos_token_id == 2
    assert (light.eos_token_id, light.pad_token_id) == (full.eos_token_id, full.pad_token_id)
