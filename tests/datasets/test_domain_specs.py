"""Domain datasets in runs: the ``domains:`` spec, the shipped ``domains-sample`` and its
round trip through JSONL and the database."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from debate.datasets import DatasetError, load_dataset
from debate.datasets.domains import load_domain, load_domains
from debate.storage import open_database
from debate.storage.writer import DatabaseWriter

SHARED = (Path(__file__).parents[2] / ".." / "shared" / "data").resolve()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder not present")
DATA = Path(__file__).parents[2] / "debate" / "datasets" / "data"


def test_domains_sample_is_24_interleaved_held_out_questions_with_their_domain():
    qs = load_dataset("domains-sample")
    assert len(qs) == 24
    assert [q.source["domain"] for q in qs[:6]] == ["medical", "science", "logic"] * 2
    assert Counter(q.source["domain"] for q in qs) == {"medical": 8, "science": 8, "logic": 8}
    assert Counter(q.source["origin"] for q in qs) == {"medqa": 8, "arc": 8, "prontoqa": 8}
    assert all(len(q.options) == 2 and q.source["dataset"] == "domains_sample" for q in qs)
    assert all(bool(q.context) == (q.source["domain"] == "logic") for q in qs)  # PrOntoQA facts are the passage
    assert {q.source["license"] for q in qs} == {"MIT", "CC-BY-SA-4.0", "Apache-2.0"}
    assert [q.source["domain"] for q in load_dataset("domains-sample", limit=4)] == ["medical", "science", "logic", "medical"]


def test_the_attribution_names_every_origin_and_licence():
    text = (DATA / "ATTRIBUTION-domains.md").read_text(encoding="utf-8")
    for needle in ("MedQA", "MIT", "MMLU", "ARC", "CC-BY-SA 4.0", "PrOntoQA", "Apache-2.0"):
        assert needle in text
    for q in load_dataset("domains-sample"):
        assert q.id in text


@needs_shared
def test_domains_sample_equals_the_first_8_held_out_questions_of_each_domain():
    shipped = load_dataset("domains-sample")
    fresh = load_domains(SHARED, "heldout", per_domain=8)
    assert [(q.id, q.question, q.options, q.gold_index, q.context, q.source["domain"]) for q in shipped] == \
           [(q.id, q.question, q.options, q.gold_index, q.context, q.source["domain"]) for q in fresh]
    train_ids = {q.id for d in ("medical", "science", "logic") for q in load_domain(d, SHARED, "train")}
    assert not train_ids & {q.id for q in shipped}


@needs_shared
def test_domains_spec_selects_domains_and_split_and_interleaves():
    qs = load_dataset(f"domains:{SHARED}:logic,medical@train", limit=5)
    assert [q.source["domain"] for q in qs] == ["logic", "medical", "logic", "medical", "logic"]
    logic, medical = load_domain("logic", SHARED, "train"), load_domain("medical", SHARED, "train")
    assert [q.id for q in qs] == [logic[0].id, medical[0].id, logic[1].id, medical[1].id, logic[2].id]
    held = load_dataset(f"domains:{SHARED}")
    assert len(held) == sum(len(load_domain(d, SHARED, "heldout")) for d in ("medical", "science", "logic"))
    assert [q.source["domain"] for q in held[:3]] == ["medical", "science", "logic"]


@pytest.mark.parametrize(("spec", "message"), [
    ("domains:{root}:law", "unknown domain 'law'; known: medical, science, logic"),
    ("domains:{root}@test", "unknown split 'test'; expected one of train, heldout, all"),
    ("domains:", "bad domains spec"),
    ("domains:{root}/nowhere", "no such folder"),
    ("domains-samples", "unknown dataset spec; expected 'sample'"),
])
def test_bad_domains_specs_are_one_line_errors(tmp_path, spec, message):
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset(spec.format(root=tmp_path))
    assert "\n" not in str(err.value)


def test_a_root_without_the_data_names_the_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"medqa_usmle/test.jsonl: no such file"):
        load_dataset(f"domains:{tmp_path}:medical")


async def test_domain_survives_the_database_round_trip(tmp_path):
    qs = load_dataset("domains-sample", limit=3)
    db = open_database(tmp_path / "d.sqlite")
    async with DatabaseWriter(db) as w:
        uids = await w.put_questions(qs)
    back = [db.question(uids[q.id]) for q in qs]
    assert [q.source["domain"] for q in back] == ["medical", "science", "logic"]
    assert back[2].context == qs[2].context and back == qs
    line = json.loads((DATA / "domains_sample.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert line["domain"] == "medical" and line["origin"] == "medqa"
