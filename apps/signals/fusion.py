"""Weighted fusion of normalised features into one score (the seed's `_fusion`).

The exact relation, for weights w and normalised features x (each in [-1, 1]):

    contribution[i] = w[i] * x[i] / sum(|w[j]| for every j)
    raw_score       = math.fsum(contribution.values())
    score           = clip(raw_score, -1, 1)

Because every |x[i]| <= 1, |raw_score| <= 1 already; the clip only absorbs float rounding, so the
contributions sum to the score (within 1e-12). A negative weight inverts a feature (e.g. rsi as mean
reversion); a weight of 0 leaves it out (its contribution is 0.0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tradebot.config import SIGNAL_FEATURES


@dataclass(frozen=True)
class Fusion:
    score: float  # in [-1, 1]
    raw_score: float  # the exact sum of the contributions, before the clip
    contributions: dict[str, float]  # one per weighted feature name, in SIGNAL_FEATURES order
    weight_total: float  # sum of |w|, the divisor of every contribution


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Known names, finite numbers, not all zero; returns a full dict in SIGNAL_FEATURES order."""
    unknown = sorted(set(weights) - set(SIGNAL_FEATURES))
    if unknown:
        raise ValueError(f"unknown signal features {unknown}: expected names from {', '.join(SIGNAL_FEATURES)}")
    full = {name: float(weights.get(name, 0.0)) for name in SIGNAL_FEATURES}
    if not all(math.isfinite(w) for w in full.values()):
        raise ValueError("signal weights must be finite numbers")
    if not any(full.values()):
        raise ValueError("at least one signal weight must be non-zero")
    return full


def fuse(normalised: Mapping[str, float], weights: Mapping[str, float]) -> Fusion:
    """Combine the normalised features with the weights; see the module docstring for the relation."""
    full = validate_weights(weights)
    total = math.fsum(abs(w) for w in full.values())
    contributions: dict[str, float] = {}
    for name, weight in full.items():
        if weight == 0.0:
            contributions[name] = 0.0
            continue
        value = float(normalised[name])
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"normalised feature {name}={value!r} is outside [-1, 1]")
        contributions[name] = weight * value / total
    raw = math.fsum(contributions.values())
    return Fusion(score=min(1.0, max(-1.0, raw)), raw_score=raw, contributions=contributions, weight_total=total)
