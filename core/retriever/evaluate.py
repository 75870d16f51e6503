"""Ranking metrics: Recall@K, median/mean rank, success rate."""

from __future__ import annotations

import numpy as np


def ranks_of_targets(scores: np.ndarray, target_cols: np.ndarray) -> np.ndarray:
    """scores [B, N] (higher = better), target_cols [B] -> 1-based rank of each target (ties pessimistic)."""
    target_scores = scores[np.arange(len(scores)), target_cols]
    return (scores > target_scores[:, None]).sum(1) + (scores == target_scores[:, None]).sum(1)


def summarize(ranks: np.ndarray) -> dict[str, float]:
    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        return {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "MedR": 0.0, "MeanR": 0.0}
    return {
        "R@1": round(float((ranks <= 1).mean()), 4),
        "R@5": round(float((ranks <= 5).mean()), 4),
        "R@10": round(float((ranks <= 10).mean()), 4),
        "MedR": float(np.median(ranks)),
        "MeanR": round(float(ranks.mean()), 2),
    }


def random_expectation(pool_size: int) -> dict[str, float]:
    """Recall@K of a uniformly random ranking over ``pool_size`` candidates."""
    return {f"R@{k}": round(min(k, pool_size) / pool_size, 4) for k in (1, 5, 10)} if pool_size else {}
