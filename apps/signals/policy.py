"""Score and regime to buy / sell / hold, with hysteresis (the seed's `policy`).

Spot trading is long or flat. The stance comes from the previous action: `buy` means long, `sell` or None
means flat. Entering needs score >= entry; leaving needs score <= exit, a lower threshold, so a score
between the two never changes anything.

| stance | score                  | action | rule                   |
| flat   | >= entry, high vol     | hold   | regime_high_vol_hold   |
| flat   | >= entry               | buy    | score_above_entry      |
| flat   | <= exit                | hold   | flat_no_entry_hold     |
| long   | <= exit                | sell   | score_below_exit       |
| long   | >= entry               | hold   | in_position_hold       |
| either | between exit and entry | hold   | hysteresis_hold        |

A high-volatility regime blocks entries only: leaving a position is always allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from apps.signals.build import REGIME_HIGH_VOLATILITY

BUY = "buy"
SELL = "sell"
HOLD = "hold"
PREVIOUS_ACTIONS = (BUY, SELL, None)


class Rule(StrEnum):
    SCORE_ABOVE_ENTRY = "score_above_entry"
    SCORE_BELOW_EXIT = "score_below_exit"
    HYSTERESIS_HOLD = "hysteresis_hold"
    REGIME_HIGH_VOL_HOLD = "regime_high_vol_hold"
    IN_POSITION_HOLD = "in_position_hold"
    FLAT_NO_ENTRY_HOLD = "flat_no_entry_hold"


RULE_TEXT = {
    Rule.SCORE_ABOVE_ENTRY: "flat and score {score:+.3f} >= entry {entry:+.3f}: buy",
    Rule.SCORE_BELOW_EXIT: "long and score {score:+.3f} <= exit {exit:+.3f}: sell",
    Rule.HYSTERESIS_HOLD: "score {score:+.3f} between exit {exit:+.3f} and entry {entry:+.3f}: stay {stance}",
    Rule.REGIME_HIGH_VOL_HOLD: "score {score:+.3f} >= entry {entry:+.3f} but the regime is high volatility: no entry",
    Rule.IN_POSITION_HOLD: "already long and score {score:+.3f} >= entry {entry:+.3f}: keep the position",
    Rule.FLAT_NO_ENTRY_HOLD: "flat and score {score:+.3f} <= exit {exit:+.3f}: nothing to sell, stay out",
}


@dataclass(frozen=True)
class Thresholds:
    entry: float
    exit: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.entry) and math.isfinite(self.exit)):
            raise ValueError("signal thresholds must be finite numbers")
        if not 0.0 < self.entry <= 1.0:
            raise ValueError(f"entry threshold {self.entry} must be greater than 0 and at most 1")
        if not -1.0 <= self.exit < self.entry:
            raise ValueError(f"exit threshold {self.exit} must be from -1 up to below the entry {self.entry}")


@dataclass(frozen=True)
class PolicyResult:
    action: str
    rule: Rule
    stance: str  # "long" or "flat", before this decision


def stance_of(previous_action: str | None) -> str:
    if previous_action not in PREVIOUS_ACTIONS:
        raise ValueError(f"previous_action {previous_action!r} must be buy (long), sell or None (flat)")
    return "long" if previous_action == BUY else "flat"


def apply_policy(*, score: float, regime: str, previous_action: str | None, thresholds: Thresholds) -> PolicyResult:
    """The action and the rule that decided it; see the table in the module docstring."""
    stance = stance_of(previous_action)
    if stance == "long":
        if score <= thresholds.exit:
            return PolicyResult(SELL, Rule.SCORE_BELOW_EXIT, stance)
        if score >= thresholds.entry:
            return PolicyResult(HOLD, Rule.IN_POSITION_HOLD, stance)
        return PolicyResult(HOLD, Rule.HYSTERESIS_HOLD, stance)
    if score >= thresholds.entry:
        if regime == REGIME_HIGH_VOLATILITY:
            return PolicyResult(HOLD, Rule.REGIME_HIGH_VOL_HOLD, stance)
        return PolicyResult(BUY, Rule.SCORE_ABOVE_ENTRY, stance)
    if score <= thresholds.exit:
        return PolicyResult(HOLD, Rule.FLAT_NO_ENTRY_HOLD, stance)
    return PolicyResult(HOLD, Rule.HYSTERESIS_HOLD, stance)


def describe_rule(rule: str, *, score: float, thresholds: Thresholds, stance: str) -> str:
    """One sentence for the rule, with the numbers that made it fire."""
    template = RULE_TEXT.get(rule)  # type: ignore[call-overload]  # StrEnum keys match plain strings
    if template is None:
        return rule
    return template.format(score=score, entry=thresholds.entry, exit=thresholds.exit, stance=stance)
