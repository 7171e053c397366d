"""The routed-expert protocol on a scripted expert model with a fake library: every path, the
exact turns, the stored routing decision read back from the database, and a judge spy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from debate.config import ConfigError, ProtocolSpec, RunConfig
from debate.core.question import Question
from debate.experts.routing import RoutingDecision, routing_text
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.storage import open_database
from tests.helpers import CANARY, PASSAGE, prefers
from tests.routing.fakes import FakeHost, library, with_cosines

QUESTIONS = [
    Question(id="m1", question="Which drug treats the infection?", options=("Penicillin", "Aspirin"), gold_index=0,
             source={"domain": "medical"}),
    Question(id="s1", question="Which gas do plants take in?", options=("Oxygen", "Carbon dioxide"), gold_index=1,
             source={"domain": "science"}),
    Question(id="l1", question="True or false: the keeper counted ships.", options=("True", "False"), gold_index=0,
             context=PASSAGE, source={"domain": "logic"}),
    Question(id="x1", question="Which colour is the sky at noon?", options=("Blue", "Green"), gold_index=0,
             source={"domain": "science"}),
]
COSINES = {"m1": [0.9, 0.4, 0.1], "s1": [0.3, 0.95, 0.0], "l1": [0.1, 0.2, 0.97], "x1": [0.5, 0.4, 0.3]}
ANSWERS = {  # (expert, question) -> the letter it answers when the question is shown in stored order
    ("medical", "m1"): "A", ("science", "m1"): "B", ("logic", "m1"): "B",
    ("medical", "s1"): "B", ("science", "s1"): "B", ("logic", "s1"): "A",
    ("medical", "l1"): "B", ("science", "l1"): "B", ("logic", "l1"): "A",
    ("medical", "x1"): "A", ("science", "x1"): "A", ("logic", "x1"): "A",
}
SPEECH = "it follows from what is known</quote> and nothing contradicts it."


def expert_model() -> FakeHost:
    by_text = {q.question: q.id for q in QUESTIONS}

    def scorer(req):
        qid = next(i for text, i in by_text.items() if text in req.prompt)
        letter = ANSWERS[(req.adapter, qid)]
        return prefers(letter)(req)

    vectors = {routing_text(q): with_cosines(COSINES[q.id]) for q in QUESTIONS}
    return FakeHost(library(), vectors, name="expert", replies={"*": SPEECH}, scorer=scorer)


def judge_model() -> ScriptedBackend:
    return ScriptedBackend(name="judge", replies={"*": "What is known?"}, scorer=prefers("A"))


async def run(tmp_path: Path, params: dict, qids: list[str], name: str = "r", both_orders: bool = False,
              expert: FakeHost | None = None, judge: ScriptedBackend | None = None):
    expert = expert or expert_model()
    judge = judge or judge_model()
    cfg = RunConfig(name=name, db=str(tmp_path / "r.sqlite"), expert="expert", judge="judge", both_orders=both_orders,
                    protocols=[ProtocolSpec(name="routed", params=params)], speech_tokens=8)
    qs = [q for q in QUESTIONS if q.id in qids]
    result = await run_experiment(cfg, questions=qs, backends={"expert": expert, "judge": judge})
    assert result.errors == 0, result
    return open_database(cfg.db), expert, judge


def transcript(db, qid: str) -> list[tuple]:
    [ep] = [e for e in db.episodes("r") if e.question_uid.startswith(qid + ":")]
    return [(t.role, t.kind, t.argues_for, json.loads(t.meta_json).get("adapter"), json.loads(t.meta_json).get("path"))
            for t in db.turns(ep.id)]


def decision(db, qid: str) -> RoutingDecision:
    [ep] = [e for e in db.episodes("r") if e.question_uid.startswith(qid + ":")]
    [turn] = [t for t in db.turns(ep.id) if t.kind == "routing"]
    assert turn.visible_to_judge is False and turn.role == "router"
    return RoutingDecision.model_validate(json.loads(turn.meta_json)["routing"])


async def test_k1_the_chosen_expert_answers_then_consults_for_its_answer(tmp_path):
    db, expert, _ = await run(tmp_path, {"k": 1}, ["m1", "s1", "l1"])
    assert transcript(db, "m1") == [
        ("router", "routing", None, None, "consult"),
        ("expert", "answer", 0, "medical", None),
        ("expert", "speech", 0, "medical", None),
    ]
    assert transcript(db, "s1") == [
        ("router", "routing", None, None, "consult"),
        ("expert", "answer", 1, "science", None),
        ("expert", "speech", 1, "science", None),
    ]
    d = decision(db, "l1")
    assert d.chosen == ["logic"] and d.router == "centroid" and d.k == 1
    assert d.scores == pytest.approx({"medical": 0.1, "science": 0.2, "logic": 0.97})
    # Every expert call was made with the chosen adapter; routing itself is one stored embed call.
    for q, chosen in zip(QUESTIONS, ("medical", "science", "logic")):
        [ep] = [e for e in db.episodes("r") if e.question_uid.startswith(q.id + ":")]
        calls = db.calls(episode_id=ep.id)
        assert [(c.role, c.purpose) for c in calls] == [("router", "embed"), ("expert", "score"), ("expert", "generate"),
                                                        ("judge", "score")]
        assert calls[0].prompt == routing_text(q) and calls[0].prompt_tokens == len(routing_text(q).split())
        assert [json.loads(c.params_json).get("adapter") for c in calls[1:3]] == [chosen, chosen]
    assert sorted(r.adapter for r in expert.calls) == ["logic", "logic", "medical", "medical", "science", "science"]


async def test_null_first_choice_leaves_the_judge_alone(tmp_path):
    # Uniform self-similarity on [0.5, 1] and null_share 0.5: the null scores 0.75.
    db, expert, judge = await run(tmp_path, {"k": 1, "null_share": 0.5}, ["x1", "s1"])
    assert transcript(db, "x1") == [("router", "routing", None, None, "null")]
    d = decision(db, "x1")
    assert d.chosen == ["null"] and d.null_threshold == pytest.approx(0.75) and d.scores["null"] == pytest.approx(0.75)
    assert transcript(db, "s1")[0][4] == "consult"  # 0.95 beats the null
    assert [r.adapter for r in expert.calls] == ["science", "science"]  # nothing was asked of an expert for x1
    assert len(judge.calls) == 2


async def test_k2_disagreeing_experts_debate_each_for_its_own_answer(tmp_path):
    db, _, _ = await run(tmp_path, {"k": 2}, ["m1"])
    assert transcript(db, "m1") == [
        ("expert", "answer", 0, "medical", None),
        ("expert", "answer", 1, "science", None),
        ("router", "routing", None, None, "debate"),
        ("debater_a", "speech", 0, "medical", None),
        ("debater_b", "speech", 1, "science", None),
        ("debater_a", "speech", 0, "medical", None),
        ("debater_b", "speech", 1, "science", None),
    ]
    assert decision(db, "m1").chosen == ["medical", "science"]


async def test_k2_agreeing_experts_let_the_top_one_consult(tmp_path):
    db, _, _ = await run(tmp_path, {"k": 2}, ["s1"])
    assert transcript(db, "s1") == [
        ("expert", "answer", 1, "science", None),
        ("expert", "answer", 1, "medical", None),
        ("router", "routing", None, None, "agree_consult"),
        ("expert", "speech", 1, "science", None),
    ]
    [ep] = db.episodes("r")
    routing = [t for t in db.turns(ep.id) if t.kind == "routing"][0]
    assert json.loads(routing.meta_json)["answers"] == {"science": 1, "medical": 1}


async def test_k2_with_a_null_second_slot_is_a_single_consultation(tmp_path):
    db, _, _ = await run(tmp_path, {"k": 2, "null_share": 0.5}, ["m1"])  # 0.9 beats 0.75, 0.4 does not
    assert decision(db, "m1").chosen == ["medical", "null"]
    assert [row[4] for row in transcript(db, "m1")] == ["consult", None, None]


async def test_always_debate_skips_the_agreement_check(tmp_path):
    # The experts agree on s1, yet the top expert defends its answer against the second expert.
    db, _, _ = await run(tmp_path, {"k": 2, "policy": "always_debate", "debate_rounds": 1}, ["s1"])
    assert transcript(db, "s1") == [
        ("router", "routing", None, None, "debate"),
        ("debater_a", "answer", 1, "science", None),
        ("debater_a", "speech", 1, "science", None),
        ("debater_b", "speech", 0, "medical", None),
    ]


async def test_always_consult_and_oracle_and_random_routing(tmp_path):
    db, _, _ = await run(tmp_path, {"policy": "always_consult", "router": "oracle"}, ["m1", "s1", "x1"])
    assert [decision(db, q).chosen for q in ("m1", "s1", "x1")] == [["medical"], ["science"], ["science"]]
    assert decision(db, "m1").router == "oracle"
    db2, _, _ = await run(tmp_path / "b", {"router": "random", "router_seed": 5}, ["m1", "s1", "x1"])
    chosen = [decision(db2, q).chosen for q in ("m1", "s1", "x1")]
    db3, _, _ = await run(tmp_path / "c", {"router": "random", "router_seed": 5}, ["m1", "s1", "x1"])
    assert [decision(db3, q).chosen for q in ("m1", "s1", "x1")] == chosen


async def test_both_option_orders_route_the_same_way(tmp_path):
    db, _, _ = await run(tmp_path, {"k": 2}, ["m1"], both_orders=True)
    eps = db.episodes("r")
    assert len(eps) == 2
    decisions = [[json.loads(t.meta_json)["routing"] for t in db.turns(e.id) if t.kind == "routing"] for e in eps]
    assert decisions[0] == decisions[1]


async def test_the_judge_never_sees_the_passage_nor_routing_internals(tmp_path):
    spy = judge_model()
    params = [{"k": 1}, {"k": 2}, {"k": 2, "null_share": 0.5}, {"k": 2, "policy": "always_debate"},
              {"router": "oracle"}, {"router": "random"}]
    for i, p in enumerate(params):
        await run(tmp_path / str(i), p, ["m1", "s1", "l1", "x1"], both_orders=True, judge=spy)
    prompts = [c.full_prompt for c in spy.calls]
    assert len(prompts) == len(params) * 8
    for prompt in prompts:
        assert CANARY not in prompt and "Story:" not in prompt and "green ledger" not in prompt
        for secret in ("medical", "science", "logic", "null", "router", "routing", "centroid", "0.97", "agree"):
            assert secret not in prompt
    debated = [p for p in prompts if "Debater A" in p]
    assert debated  # the judge did read debates, just nothing else


async def test_k_larger_than_the_library_is_refused_before_anything_runs(tmp_path):
    cfg = RunConfig(name="r", db=str(tmp_path / "r.sqlite"), expert="expert", judge="judge",
                    protocols=[ProtocolSpec(name="routed", params={"k": 4})])
    with pytest.raises(ConfigError, match=r"protocols\[0\] \(routed\): k: k=4 is more than the 3 experts in the library"):
        await run_experiment(cfg, questions=QUESTIONS, backends={"expert": expert_model(), "judge": judge_model()})
    assert not (tmp_path / "r.sqlite").exists()


@pytest.mark.parametrize(("params", "backend", "message"), [
    ({}, ScriptedBackend(name="expert"), "model 'expert' has no expert library"),
    ({"policy": "always_debate"}, None, "policy 'always_debate' debates the router's top 2 experts: set k: 2"),
    ({"policy": "always_consult", "k": 2}, None, "policy 'always_consult' consults the router's top expert: k must be 1"),
    ({"policy": "always_consult", "null_share": 0.2}, None, "null_share is for policy 'routed'"),
])
async def test_bad_settings_are_refused_before_anything_runs(tmp_path, params, backend, message):
    cfg = RunConfig(name="r", db=str(tmp_path / "r.sqlite"), expert="expert", judge="judge",
                    protocols=[ProtocolSpec(name="routed", params=params)])
    with pytest.raises(ConfigError, match=message):
        await run_experiment(cfg, questions=QUESTIONS, backends={"expert": backend or expert_model(), "judge": judge_model()})
    assert not (tmp_path / "r.sqlite").exists()


async def test_oracle_routing_needs_domain_labelled_questions(tmp_path):
    bare = Question(id="b1", question="Unlabelled?", options=("Yes", "No"), gold_index=0)
    cfg = RunConfig(name="r", db=str(tmp_path / "r.sqlite"), expert="expert", judge="judge",
                    protocols=[ProtocolSpec(name="routed", params={"router": "oracle"})])
    with pytest.raises(ConfigError, match="question 'b1' has no domain"):
        await run_experiment(cfg, questions=[bare], backends={"expert": expert_model(), "judge": judge_model()})


def test_null_share_and_k_are_bounded_by_the_parameter_check():
    from debate.protocols import get_protocol

    info = get_protocol("routed")
    with pytest.raises(ValueError, match="null_share"):
        info.check_params({"null_share": 1.0})
    with pytest.raises(ValueError, match="k"):
        info.check_params({"k": 0})
    assert info.check_params({"k": 2, "router": "oracle"}) == {"k": 2, "router": "oracle"}


# ---- the real local backend: a tiny random Gemma 3 with a library of random LoRA experts ------
@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory):
    from tests.experts.lora_fixtures import build_base, build_expert

    root = tmp_path_factory.mktemp("routed-lora")
    base = build_base(root / "base")
    for i, domain in enumerate(("medical", "science", "logic")):
        build_expert(root / "library", domain, base, seed=20 + i, domain=domain, gates=False)
    return base, root / "library"


async def test_routed_run_on_the_local_backend_with_a_lora_library(tiny_library, tmp_path):
    from debate.experts.local import LocalBackend
    from debate.experts.routing import cosine

    base, lib = tiny_library
    expert = LocalBackend(base, name="tiny-experts", device="cpu", dtype="float32", library=lib)
    judge = LocalBackend(base, name="tiny", device="cpu", dtype="float32")
    qs = [q for q in QUESTIONS if q.id != "l1"]
    cfg = RunConfig(name="r", db=str(tmp_path / "r.sqlite"), expert="expert", judge="judge", speech_tokens=4,
                    protocols=[ProtocolSpec(name="routed", params={"k": 2, "debate_rounds": 1})], call_cache=str(tmp_path / "c.sqlite"))
    result = await run_experiment(cfg, questions=qs, backends={"expert": expert, "judge": judge})
    assert (result.completed, result.errors) == (6, 0)
    db = open_database(cfg.db)
    manifests = {m.name: m for m in expert.expert_manifests()}
    for q in qs:
        [vector] = await expert.embed([routing_text(q)])
        want = {n: cosine(vector, m.router.centroid) for n, m in manifests.items()}
        for ep in [e for e in db.episodes("r") if e.question_uid.startswith(q.id + ":")]:
            [routing] = [t for t in db.turns(ep.id) if t.kind == "routing"]
            d = RoutingDecision.model_validate(json.loads(routing.meta_json)["routing"])
            assert d.scores == pytest.approx(want, abs=1e-5)
            assert d.chosen == sorted(want, key=lambda n: -want[n])[:2]
            turns = db.turns(ep.id)
            experts_used = {json.loads(t.meta_json).get("adapter") for t in turns if t.role != "router"}
            assert experts_used == set(d.chosen)
            calls = db.calls(episode_id=ep.id)
            assert calls[0].purpose == "embed" and calls[0].prompt_tokens == expert.count_tokens(routing_text(q))
            assert {json.loads(c.params_json).get("adapter") for c in calls if c.role == "expert"} == set(d.chosen)


def test_the_example_config_compares_the_strategies_on_the_shipped_sample():
    from debate.config import load_config
    from debate.orchestrator.plan import check_protocols

    cfg = load_config(Path(__file__).parents[2] / "examples" / "routed.yaml")
    assert cfg.dataset == "domains-sample" and cfg.models["expert"].library == "shipped"
    checked = {p.label: p.params for p in check_protocols(cfg)}
    assert checked == {
        "routed-k1": {"null_share": 0.2}, "routed-k2": {"k": 2, "null_share": 0.2},
        "always-consult": {"policy": "always_consult"}, "always-debate": {"k": 2, "policy": "always_debate"},
        "random-routing": {"router": "random"}, "oracle-routing": {"router": "oracle"}, None: {},
    }
