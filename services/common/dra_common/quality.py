"""Definitions of the quality numbers the product reports (the README's "Metrics" section repeats them).

Judged numbers (NDCG@3 on judged queries, accuracies) are computed by monitoring from real judgments.
A live query nobody judged only gets an *estimate*, defined here so gateway, cache and reports agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

ESTIMATE_METHOD = (
    "expected NDCG@3 if each of the top 3 results is relevant with the probability the ranking model "
    "predicts (its relevance_score), against an ideal list of 3 relevant results"
)


def estimated_ndcg_at_3(relevance_scores: Sequence[float]) -> float:
    """Expected NDCG@3 of a live answer under the model's relevance probabilities.

    DCG@3 with the predicted probabilities as gains, divided by the DCG of three results of gain 1.
    0 when nothing was returned; 1 only when the model is sure of all three top results.
    """
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(3))
    dcg = sum(max(0.0, min(1.0, float(r))) / math.log2(rank + 2) for rank, r in enumerate(relevance_scores[:3]))
    return round(dcg / ideal, 4)
