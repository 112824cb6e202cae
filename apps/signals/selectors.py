"""Reading decisions: the latest one, and why it was taken (the seed's /why)."""

from __future__ import annotations

import json
from typing import Any

from apps.signals.build import EMA_FAST, EMA_SLOW
from apps.signals.models import Decision
from apps.signals.policy import Thresholds, describe_rule

# Which raw values belong to which normalised feature, in display order; atr feeds the regime only.
FEATURE_VALUES: dict[str, tuple[str, ...]] = {
    "ema": ("ema_fast", "ema_slow", "ema_spread_atr"),
    "macd": ("macd", "macd_signal", "macd_hist", "macd_hist_atr"),
    "rsi": ("rsi",),
    "bb": ("bb_percent_b",),
    "volume": ("volume_z", "candle_direction"),
    "atr": ("atr", "atr_pct", "volatility_ratio"),
}


def decision_latest(symbol: str, timeframe: str | None = None) -> Decision | None:
    """The newest decision for the symbol (and timeframe, when given), or None."""
    qs = Decision.objects.filter(symbol=symbol.strip().upper().replace("_", "/"))
    if timeframe:
        qs = qs.filter(timeframe=timeframe)
    return qs.order_by("-created_at", "-id").first()


def _value_text(name: str, v: dict[str, Any]) -> str:
    try:
        if name == "ema":
            return (
                f"EMA{EMA_FAST} {v['ema_fast']:.6g} vs EMA{EMA_SLOW} {v['ema_slow']:.6g}, "
                f"spread {v['ema_spread_atr']:+.2f} ATR"
            )
        if name == "macd":
            return (
                f"MACD {v['macd']:.4g}, signal {v['macd_signal']:.4g}, histogram {v['macd_hist']:+.4g} "
                f"({v['macd_hist_atr']:+.2f} ATR)"
            )
        if name == "rsi":
            return f"RSI {v['rsi']:.1f}"
        if name == "bb":
            return f"Bollinger %B {v['bb_percent_b']:.2f}"
        if name == "volume":
            direction = {1.0: "rising", -1.0: "falling"}.get(v["candle_direction"], "flat")
            return f"volume z-score {v['volume_z']:+.2f} on a {direction} candle"
        if name == "atr":
            return f"ATR {v['atr']:.4g} ({v['atr_pct']:.2f}% of price, {v['volatility_ratio']:.2f}x its usual level)"
    except (KeyError, TypeError, ValueError):
        pass
    return ", ".join(f"{key}={v.get(key)}" for key in FEATURE_VALUES.get(name, ()))


def _thresholds(features: dict[str, Any]) -> Thresholds | None:
    raw = features.get("thresholds") or {}
    try:
        return Thresholds(entry=float(raw["entry"]), exit=float(raw["exit"]))
    except (KeyError, TypeError, ValueError):
        return None


def _risk_text(risk_block: Any) -> str:
    if not risk_block:
        return "no risk block"
    if isinstance(risk_block, dict) and risk_block.get("rule"):
        details = {k: val for k, val in risk_block.items() if k != "rule"}
        suffix = f": {json.dumps(details, default=str, sort_keys=True)}" if details else ""
        return f"blocked by risk rule {risk_block['rule']}{suffix}"
    return f"blocked by risk: {json.dumps(risk_block, default=str, sort_keys=True)}"


def decision_explain(decision: Decision) -> dict[str, Any]:
    """The structured /why: every feature's values, normalised value, weight and contribution; the rule; the risk."""
    features = decision.features or {}
    values = features.get("values") or {}
    normalised = features.get("normalised") or {}
    weights = features.get("weights") or {}
    contributions = decision.contributions or {}
    thresholds = _thresholds(features)
    stance = features.get("stance", "flat")
    weight_total = sum(abs(float(w)) for w in weights.values()) or None
    rows = []
    for name, keys in FEATURE_VALUES.items():
        rows.append(
            {
                "name": name,
                "values": {key: values.get(key) for key in keys},
                "text": _value_text(name, values),
                "normalised": normalised.get(name),
                "weight": weights.get(name),
                # contribution = normalised * share, share = weight / sum(|weights|) (see fusion.py)
                "share": float(weights[name]) / weight_total if weight_total and name in weights else None,
                "contribution": contributions.get(name),
                "in_score": name in contributions,
            }
        )
    rule_text = (
        describe_rule(decision.rule, score=decision.score, thresholds=thresholds, stance=stance)
        if thresholds
        else decision.rule
    )
    return {
        "id": decision.pk,
        "symbol": decision.symbol,
        "timeframe": decision.timeframe,
        "action": decision.action,
        "score": decision.score,
        "raw_score": features.get("raw_score"),
        "regime": decision.regime or features.get("regime", ""),
        "rule": decision.rule,
        "rule_text": rule_text,
        "stance": stance,
        "thresholds": {"entry": thresholds.entry, "exit": thresholds.exit} if thresholds else None,
        "price": None if decision.price is None else str(decision.price),
        "candle_time": decision.candle_time.isoformat() if decision.candle_time else None,
        "features": rows,
        "risk_block": decision.risk_block,
        "risk_text": _risk_text(decision.risk_block),
        "executed": decision.executed,
        "execution_note": decision.execution_note,
        "latency_ms": decision.latency_ms,
        "source": decision.source,
        "created_at": decision.created_at.isoformat() if decision.created_at else None,
        "explanation": decision.explanation,
    }


def explain_text(decision: Decision) -> str:
    """The human /why; evaluate stores it, and whoever sets `risk_block` later can render it again."""
    why = decision_explain(decision)
    price = f", close {why['price']}" if why["price"] else ""
    candle = f", candle {why['candle_time']}" if why["candle_time"] else ""
    lines = [
        f"{why['symbol']} {why['timeframe']}: {why['action'].upper()} score {why['score']:+.3f}, "
        f"regime {why['regime'] or '?'}{price}{candle}",
        f"rule {why['rule']}: {why['rule_text']}",
        "features (values -> normalised x weight share = contribution):",
    ]
    for row in why["features"]:
        if row["in_score"] and row["normalised"] is not None:
            tail = f"{row['normalised']:+.3f} x {row['share']:.3f} = {row['contribution']:+.4f}"
        else:
            tail = "regime only" if row["name"] == "atr" else "not weighted"
        lines.append(f"  {row['name']:<6} {row['text']} -> {tail}")
    lines.append(f"risk: {why['risk_text']}")
    return "\n".join(lines)


def decisions_latest_per_symbol(symbols: list[str] | tuple[str, ...]) -> list[Decision]:
    """The newest decision of each symbol that has one, in the order of `symbols`."""
    found = (decision_latest(symbol) for symbol in symbols)
    return [d for d in found if d is not None]


def decisions_between(symbol: str, since: Any, until: Any = None, *, limit: int = 2000) -> list[Decision]:
    """The symbol's decisions in a window, oldest first (the score pane under a chart)."""
    qs = Decision.objects.filter(symbol=symbol, created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lte=until)
    return list(reversed(qs.order_by("-created_at", "-id")[:limit]))
