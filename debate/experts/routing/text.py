"""The text a question is routed by: one definition, shared with the training code that builds
the experts' centroids (``debate.experts.library.routing_text``), so query and centroid compare
like with like.

Question + options, without the passage: they exist for every dataset (MedQA, ARC and MMLU have
no passage), say what is being asked, and cost one short forward pass; a QuALITY story or a
PrOntoQA fact list would fill the mean pool with thousands of tokens about the passage rather
than the question, and make routing cost grow with passage length. Options are in their stored
order, so both display orders of a question route identically.
"""

from __future__ import annotations

from debate.experts.library.routing_text import routing_text

__all__ = ["routing_text"]
