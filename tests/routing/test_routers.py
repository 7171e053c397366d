"""Routers on fixed fake embeddings: exact scores and choices, seeded randomness, k checks."""

from __future__ import annotations

import pytest

from debate.core.question import Question
from debate.experts.limits import LimitedBackend
from debate.experts.recording import RecordingBackend
from debate.experts.routing import (
    NULL, RoutingDecision, expert_host, make_router, recorded_embed, require_experts, routing_text, top_k,
)
from debate.experts.scripted import ScriptedBackend
from tests.routing.fakes import FakeHost, library, with_cosines


def q(qid: str = "q1", domain: str | None = "science", text: str = "Which gas do plants take in?") -> Question:
    return Question(id=qid, question=text, options=("Oxygen", "Carbon dioxide"), gold_index=1,
                    context="a hidden passage", source={"domain": domain} if domain else {})


def embedder(vectors: dict[str, list[float]]):
    async def embed(texts: list[str]) -> list[list[float]]:
        return [vectors[t] for t in texts]
    return embed


# ---- routing text ---------------------------------------------------------------------------
def test_routing_text_is_question_and_options_in_stored_order_without_passage():
    assert routing_text(q()) == "Which gas do plants take in?\nOxygen\nCarbon dioxide"
    assert routing_text(q()) == routing_text(q().model_copy(update={"context": "another passage"}))


# ---- centroid -------------------------------------------------------------------------------
async def test_centroid_scores_are_cosines_and_rank_the_experts():
    question = q()
    router = make_router("centroid", embed=embedder({routing_text(question): [0.6, 0.8, 0.0, 0.0]}))
    d1 = await router.route(question, library(), 1)
    assert d1.scores == pytest.approx({"medical": 0.6, "science": 0.8, "logic": 0.0})
    assert d1.chosen == ["science"] and d1.null_threshold is None and "null" not in d1.scores
    d3 = await router.route(question, library(), 3)
    assert d3.chosen == ["science", "medical", "logic"]
    assert d3.domains == {"medical": "medical", "science": "science", "logic": "logic"}


async def test_centroid_scale_of_the_embedding_does_not_matter():
    question = q()
    router = make_router("centroid", embed=embedder({routing_text(question): [30.0, 0.0, 40.0, 0.0]}))
    d = await router.route(question, library(), 2)
    assert d.scores == pytest.approx({"medical": 0.6, "science": 0.0, "logic": 0.8})
    assert d.chosen == ["logic", "medical"]


async def test_centroid_null_slot_takes_what_no_expert_beats():
    # Uniform self-similarity on [0.5, 1]: null_share 0.3 puts the null at cosine 0.65.
    question = q()
    vectors = {routing_text(question): with_cosines([0.7, 0.6, 0.2])}
    router = make_router("centroid", embed=embedder(vectors), null_share=0.3)
    d = await router.route(question, library(), 2)
    assert d.null_threshold == pytest.approx(0.65)
    assert d.scores["null"] == pytest.approx(0.65)
    assert d.chosen == ["medical", NULL] and d.experts == ["medical"]
    high = make_router("centroid", embed=embedder(vectors), null_share=0.5)  # threshold 0.75
    d = await high.route(question, library(), 2)
    assert d.chosen == [NULL, NULL] and d.experts == [] and d.top == NULL


async def test_centroid_refuses_mismatched_dimensions_and_missing_centroids():
    question = q()
    router = make_router("centroid", embed=embedder({routing_text(question): [1.0, 0.0]}))
    with pytest.raises(ValueError, match="expert 'medical': centroid has 4 dimensions, the question's embedding 2"):
        await router.route(question, library(), 1)
    bare = [m.model_copy(update={"router": None}) for m in library()]
    with pytest.raises(ValueError, match="expert 'medical' has no router centroid"):
        await router.route(question, bare, 1)


async def test_null_slots_need_the_self_similarity_quantiles():
    question = q()
    router = make_router("centroid", embed=embedder({routing_text(question): [1.0, 0, 0, 0]}), null_share=0.2)
    with pytest.raises(ValueError, match="self_similarity must hold 11 quantiles .* it holds 0"):
        await router.route(question, library(quantiles=None), 1)


# ---- oracle ---------------------------------------------------------------------------------
async def test_oracle_routes_by_the_question_domain():
    router = make_router("oracle")
    for domain in ("medical", "science", "logic"):
        d = await router.route(q(domain=domain), library(), 1)
        assert d.chosen == [domain] and d.scores[domain] == 1.0
        assert sorted(d.scores.values()) == [0.0, 0.0, 1.0]


async def test_oracle_errors_without_a_domain_or_without_an_expert_for_it():
    with pytest.raises(ValueError, match="question 'q1' has no domain"):
        await make_router("oracle").route(q(domain=None), library(), 1)
    with pytest.raises(ValueError, match="domain 'law', but no expert is"):
        await make_router("oracle").route(q(domain="law"), library(), 1)


async def test_oracle_second_choice_is_a_seeded_shuffle_and_null_keeps_other_domains_out():
    router = make_router("oracle")
    seconds = [(await router.route(q(f"q{i}", "science"), library(), 2)).chosen for i in range(60)]
    assert all(c[0] == "science" for c in seconds)
    assert {c[1] for c in seconds} == {"medical", "logic"}  # neither other expert is always second
    again = [(await router.route(q(f"q{i}", "science"), library(), 2)).chosen for i in range(60)]
    assert again == seconds
    nulls = make_router("oracle", null_share=0.25)
    ds = [await nulls.route(q(f"q{i}", "logic"), library(), 2) for i in range(2000)]
    share = sum(d.top == NULL for d in ds) / len(ds)
    assert 0.22 < share < 0.28
    assert all(d.chosen == ["logic", NULL] for d in ds if d.top != NULL)


# ---- random ---------------------------------------------------------------------------------
async def test_random_router_is_seeded_by_question_id_and_router_seed():
    router = make_router("random", seed=0)
    first = [await router.route(q(f"q{i}"), library(), 2) for i in range(300)]
    again = [await make_router("random", seed=0).route(q(f"q{i}"), library(), 2) for i in range(300)]
    assert [d.model_dump() for d in first] == [d.model_dump() for d in again]
    other = [await make_router("random", seed=1).route(q(f"q{i}"), library(), 2) for i in range(300)]
    assert [d.chosen for d in other] != [d.chosen for d in first]
    tops = [d.top for d in first]
    for name in ("medical", "science", "logic"):
        assert 70 < tops.count(name) < 130  # about a third each
    for d in first:  # chosen follow the scores
        assert d.chosen == sorted(d.scores, key=lambda n: -d.scores[n])[:2]


async def test_random_router_null_share_is_exact_in_probability():
    router = make_router("random", null_share=0.4, seed=3)
    ds = [await router.route(q(f"q{i}"), library(), 1) for i in range(3000)]
    assert ds[0].null_threshold == pytest.approx(0.4 ** (1 / 3))
    share = sum(d.top == NULL for d in ds) / len(ds)
    assert 0.37 < share < 0.43


# ---- k and parameters -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["centroid", "oracle", "random"])
async def test_k_must_fit_the_library(name):
    question = q()
    params = {"embed": embedder({routing_text(question): [1.0, 0, 0, 0]})} if name == "centroid" else {}
    router = make_router(name, **params)
    with pytest.raises(ValueError, match=r"k=4 is more than the 3 experts in the library \(medical, science, logic\)"):
        await router.route(question, library(), 4)
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        await router.route(question, library(), 0)
    with pytest.raises(ValueError, match="no experts to route to"):
        await router.route(question, [], 1)
    with pytest.raises(ValueError, match=r"k=2 is more than the 1 expert in the library \(science\)"):
        await router.route(question, library()[1:2], 2)


def test_make_router_checks_names_and_parameters():
    with pytest.raises(ValueError, match="unknown router 'nearest'; known: centroid, oracle, random"):
        make_router("nearest")
    with pytest.raises(ValueError, match="the centroid router needs 'embed'"):
        make_router("centroid")
    with pytest.raises(ValueError, match=r"null_share must be in \[0, 1\), got 1.0"):
        make_router("random", null_share=1.0)
    with pytest.raises(ValueError, match="router 'oracle': .*unexpected keyword argument 'temperature'"):
        make_router("oracle", temperature=2)


def test_top_k_fills_slots_after_the_null_wins_with_null():
    scores = {"a": 0.9, "b": 0.7, "c": 0.7}
    assert top_k(scores, 3, None, ["a", "b", "c"]) == ["a", "b", "c"]
    assert top_k(scores, 3, None, ["c", "b", "a"]) == ["a", "c", "b"]  # ties by tiebreak order
    assert top_k(scores, 3, 0.8, ["a", "b", "c"]) == ["a", NULL, NULL]
    assert top_k(scores, 2, 0.7, ["a", "b", "c"]) == ["a", "b"]  # reaching the threshold is enough
    assert top_k(scores, 1, 0.95, ["a", "b", "c"]) == [NULL]


def test_decision_round_trips_through_json():
    d = RoutingDecision(router="centroid", k=2, scores={"a": 0.5, "null": 0.4}, chosen=["a", NULL], null_share=0.2,
                        null_threshold=0.4, domains={"a": "medical"})
    assert RoutingDecision.model_validate_json(d.model_dump_json()) == d
    assert d.experts == ["a"] and d.top == "a"


# ---- finding the library behind wrappers --------------------------------------------------------
async def test_expert_host_walks_the_wrappers_and_embedding_is_recorded_as_a_call():
    host = FakeHost(library(), {"hello world": [1.0, 0, 0, 0]}, name="expert")
    calls = []

    async def on_call(call):
        calls.append(call)

    wrapped = RecordingBackend(LimitedBackend(host, name="expert"), "expert", on_call)
    assert expert_host(wrapped) is host
    assert expert_host(RecordingBackend(LimitedBackend(ScriptedBackend()), "expert", on_call)) is None
    found, experts = require_experts(wrapped)
    assert found is host and [m.name for m in experts] == ["medical", "science", "logic"]
    vectors = await recorded_embed(wrapped, host)(["hello world"])
    assert vectors == [[1.0, 0, 0, 0]]
    [call] = calls
    assert (call.purpose, call.role, call.prompt, call.usage.prompt_tokens) == ("embed", "router", "hello world", 2)


def test_a_model_without_a_library_is_named_in_the_error():
    with pytest.raises(ValueError, match="model 'plain' has no expert library"):
        require_experts(LimitedBackend(ScriptedBackend(name="plain")))
