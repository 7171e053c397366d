"""Per-question routing over a LoRA-expert library: centroid, oracle and random routers, with
AdaMoE-style null slots, and the decision each stores with its episode."""

from debate.experts.routing.base import Embed, Router, check_k, top_k
from debate.experts.routing.centroid import CentroidRouter, cosine
from debate.experts.routing.decision import NULL, RoutingDecision
from debate.experts.routing.factory import ROUTERS, make_router
from debate.experts.routing.host import ExpertHost, NoExpertLibrary, expert_host, recorded_embed, require_experts
from debate.experts.routing.null_slots import null_threshold, quantile_cdf
from debate.experts.routing.oracle import OracleRouter, question_domain
from debate.experts.routing.random_router import RandomRouter
from debate.experts.routing.text import routing_text

__all__ = [
    "NULL", "ROUTERS", "CentroidRouter", "Embed", "ExpertHost", "NoExpertLibrary", "OracleRouter", "RandomRouter",
    "Router", "RoutingDecision", "check_k", "cosine", "expert_host", "make_router", "null_threshold",
    "question_domain", "quantile_cdf", "recorded_embed", "require_experts", "routing_text", "top_k",
]
