"""The live NDCG@3 estimate is defined once (dra_common.quality)."""

from __future__ import annotations

import math

import pytest

from dra_common.quality import estimated_ndcg_at_3


def test_certain_top_three_is_one() -> None:
    assert estimated_ndcg_at_3([1.0, 1.0, 1.0, 0.2]) == 1.0


def test_nothing_returned_is_zero() -> None:
    assert estimated_ndcg_at_3([]) == 0.0


def test_matches_the_dcg_formula() -> None:
    scores = [0.9, 0.5, 0.2]
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    expected = (0.9 + 0.5 / math.log2(3) + 0.2 / math.log2(4)) / ideal
    assert estimated_ndcg_at_3(scores) == pytest.approx(expected, abs=1e-4)


def test_rank_order_matters_and_scores_are_clipped() -> None:
    assert estimated_ndcg_at_3([0.9, 0.1]) > estimated_ndcg_at_3([0.1, 0.9])
    assert estimated_ndcg_at_3([5.0, -1.0]) == estimated_ndcg_at_3([1.0, 0.0])
