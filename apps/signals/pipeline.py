"""`decide`: candles to a decision with no database and no clock, so live, paper and backtest share it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.exchange.types import Candle
from apps.signals.build import Features, Ohlcv, build_features
from apps.signals.fusion import fuse
from apps.signals.policy import Thresholds, apply_policy


@dataclass(frozen=True)
class DecisionResult:
    action: str  # buy / sell / hold
    rule: str
    score: float  # in [-1, 1]
    raw_score: float  # sum of the contributions, before the clip
    regime: str
    features: Features
    contributions: dict[str, float]
    weights: dict[str, float]
    thresholds: Thresholds
    previous_action: str | None
    stance: str  # long / flat before this decision

    def features_json(self) -> dict[str, Any]:
        """What `Decision.features` stores: the values, the inputs of the fusion and of the policy."""
        return {
            "values": {k: _finite(v) for k, v in self.features.values.items()},
            "normalised": {k: _finite(v) for k, v in self.features.normalised.items()},
            "regime": self.regime,
            "candles": self.features.candles,
            "weights": dict(self.weights),
            "thresholds": {"entry": self.thresholds.entry, "exit": self.thresholds.exit},
            "previous_action": self.previous_action,
            "stance": self.stance,
            "raw_score": self.raw_score,
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def decide(
    candles: Sequence[Candle] | Ohlcv,
    *,
    weights: Mapping[str, float],
    thresholds: Thresholds,
    previous_action: str | None,
) -> DecisionResult:
    """Build features from closed candles (oldest first), fuse them, apply the policy. Pure and deterministic."""
    features = build_features(candles)
    fusion = fuse(features.normalised, weights)
    policy = apply_policy(
        score=fusion.score, regime=features.regime, previous_action=previous_action, thresholds=thresholds
    )
    return DecisionResult(
        action=policy.action,
        rule=str(policy.rule),
        score=fusion.score,
        raw_score=fusion.raw_score,
        regime=features.regime,
        features=features,
        contributions=fusion.contributions,
        weights={name: float(weights.get(name, 0.0)) for name in fusion.contributions},
        thresholds=thresholds,
        previous_action=previous_action,
        stance=policy.stance,
    )
