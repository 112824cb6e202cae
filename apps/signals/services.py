"""The `evaluate` use case: fetch closed candles, decide, store a Decision with its explanation. No orders."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.utils import timezone

from apps.exchange.broker import Broker, ExchangeError
from apps.exchange.types import Candle, Candles, epoch_us
from apps.monitoring import metrics
from apps.signals.build import REQUIRED_CANDLES, FeatureInputError, Ohlcv, ohlcv_from_arrays
from apps.signals.models import Decision
from apps.signals.pipeline import DecisionResult, decide
from apps.signals.policy import BUY, PREVIOUS_ACTIONS, Thresholds
from apps.signals.selectors import explain_text
from apps.trading.selectors import positions_open
from apps.trading.venues import venue_of
from tradebot.config import SYMBOL_RE, TIMEFRAMES, timeframe_seconds

__all__ = [
    "MAX_LIMIT",
    "MIN_LIMIT",
    "DecisionResult",
    "SignalInputError",
    "closed_candles",
    "closed_series",
    "decide",
    "evaluate",
    "signal_parameters",
    "timeframe_delta",
]

MIN_LIMIT = 50
MAX_LIMIT = 1000
SOURCES = ("cycle", "api", "telegram", "command", "backtest")


class SignalInputError(ValueError):
    """A caller gave a value evaluate cannot use; `field` names it (for a 422, a usage error, a reply)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def timeframe_delta(timeframe: str) -> timedelta:
    """The length of one candle, e.g. 5m -> 5 minutes."""
    if timeframe not in TIMEFRAMES:
        raise SignalInputError("timeframe", f"{timeframe!r} is not one of {', '.join(TIMEFRAMES)}")
    return timedelta(seconds=timeframe_seconds(timeframe))


def clean_symbol(symbol: str) -> str:
    """BTC/USDT (also accepts btc/usdt and Gate.io's BTC_USDT)."""
    value = str(symbol).strip().upper().replace("_", "/")
    if not SYMBOL_RE.match(value):
        raise SignalInputError("symbol", f"{symbol!r} is not a BASE/QUOTE symbol such as BTC/USDT")
    return value


def clean_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int | str):
        raise SignalInputError("limit", f"{limit!r} is not a whole number from {MIN_LIMIT} to {MAX_LIMIT}")
    try:
        value = int(limit)
    except ValueError:
        raise SignalInputError("limit", f"{limit!r} is not a whole number from {MIN_LIMIT} to {MAX_LIMIT}") from None
    if not MIN_LIMIT <= value <= MAX_LIMIT:
        raise SignalInputError("limit", f"{value} is outside {MIN_LIMIT}..{MAX_LIMIT}")
    return value


def closed_candles(candles: Sequence[Candle], *, timeframe: str, now: datetime) -> list[Candle]:
    """The candles that had closed at `now` (open time + timeframe <= now), oldest first.

    The exchange's last candle is usually still forming; deciding on it would change the decision as the
    price moves within the candle and make live differ from a replay.
    """
    if timezone.is_naive(now):
        raise SignalInputError("now", "must be timezone-aware (UTC)")
    span = timeframe_delta(timeframe)
    closed = [c for c in candles if c.time + span <= now]
    for earlier, later in zip(closed, closed[1:], strict=False):
        if later.time <= earlier.time:
            raise FeatureInputError(f"candle times are not strictly increasing at {later.time.isoformat()}")
    return closed


def _too_few(count: int, *, symbol: str, timeframe: str) -> FeatureInputError:
    return FeatureInputError(
        f"the exchange returned {count} closed {timeframe} candles for {symbol}; need {REQUIRED_CANDLES}"
    )


def closed_series(
    fetched: Sequence[Candle], *, symbol: str, timeframe: str, now: datetime, limit: int
) -> tuple[list[Candle] | Ohlcv, Candle]:
    """`closed_candles(fetched)[-limit:]` ready for `decide`, and the last of them. When the broker gave
    Candles, the selection runs on their arrays and the features get floats with no Decimal converted."""
    arrays = None
    if isinstance(fetched, Candles) and timezone.is_aware(now):
        try:
            arrays = fetched.arrays()
        except (TypeError, ValueError, ArithmeticError):
            pass  # closed_candles and the features report it as they always have
    if arrays is None:
        candles = closed_candles(fetched, timeframe=timeframe, now=now)[-limit:]
        if len(candles) < REQUIRED_CANDLES:
            raise _too_few(len(candles), symbol=symbol, timeframe=timeframe)
        return candles, candles[-1]
    times, values = arrays
    closed = np.flatnonzero(times + timeframe_delta(timeframe) // timedelta(microseconds=1) <= epoch_us(now))
    not_increasing = np.flatnonzero(np.diff(times[closed]) <= 0)
    if not_increasing.size:
        later = fetched[int(closed[not_increasing[0] + 1])]
        raise FeatureInputError(f"candle times are not strictly increasing at {later.time.isoformat()}")
    chosen = closed[-limit:]
    if len(chosen) < REQUIRED_CANDLES:
        raise _too_few(len(chosen), symbol=symbol, timeframe=timeframe)
    return ohlcv_from_arrays(*values[:, chosen]), fetched[int(chosen[-1])]


def signal_parameters() -> tuple[dict[str, float], Thresholds]:
    """The weights and thresholds from settings (SIGNAL_WEIGHTS, SIGNAL_ENTRY/EXIT_THRESHOLD)."""
    thresholds = Thresholds(entry=float(settings.SIGNAL_ENTRY_THRESHOLD), exit=float(settings.SIGNAL_EXIT_THRESHOLD))
    return dict(settings.SIGNAL_WEIGHTS), thresholds


def _stance_from_book(symbol: str, broker: Broker) -> str | None:
    """buy when the broker's books (its venue) hold an open position in the symbol, else None (flat)."""

    return BUY if positions_open(symbol, venue=venue_of(broker)).filter(amount__gt=0).exists() else None


def evaluate(
    *,
    symbol: str,
    timeframe: str,
    limit: int,
    broker: Broker,
    now: datetime | None = None,
    source: str = "api",
    previous_action: str | None = None,
) -> Decision:
    """Decide for `symbol` on the last `limit` closed candles and store the Decision; never places an order.

    `previous_action` is the stance the hysteresis starts from: "buy" (long) or "sell" (flat); None reads
    it from the book (an open position means long). Raises SignalInputError for bad arguments,
    FeatureInputError when the exchange returns unusable candles, and the exchange's own errors as they are.
    """
    started = time.perf_counter()
    symbol = clean_symbol(symbol)
    timeframe_delta(timeframe)
    limit = clean_limit(limit)
    if source not in SOURCES:
        raise SignalInputError("source", f"{source!r} is not one of {', '.join(SOURCES)}")
    if previous_action not in PREVIOUS_ACTIONS:
        raise SignalInputError("previous_action", f"{previous_action!r} must be buy (long), sell (flat) or None")
    now = now or timezone.now()

    try:
        # One extra candle: the newest one is normally still forming and gets dropped.
        fetched = broker.fetch_ohlcv(symbol, timeframe, limit + 1)
        fetched_at = time.perf_counter()
        series, last = closed_series(fetched, symbol=symbol, timeframe=timeframe, now=now, limit=limit)
        if previous_action is None:
            previous_action = _stance_from_book(symbol, broker)
        weights, thresholds = signal_parameters()
        result = decide(series, weights=weights, thresholds=thresholds, previous_action=previous_action)
    except FeatureInputError:
        metrics.SIGNAL_ERRORS.labels(reason="candles").inc()
        raise
    except ExchangeError:
        metrics.SIGNAL_ERRORS.labels(reason="exchange").inc()
        raise
    decided_at = time.perf_counter()

    decision = Decision(
        symbol=symbol,
        timeframe=timeframe,
        action=result.action,
        score=result.score,
        price=Decimal(last.close),
        candle_time=last.time,
        features=result.features_json(),
        contributions=result.contributions,
        rule=result.rule,
        regime=result.regime,
        source=source,
    )
    decision.explanation = explain_text(decision)
    decision.latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
    decision.save()

    metrics.DECISIONS.labels(action=decision.action, source=source).inc()
    metrics.DECISION_SCORE.labels(symbol=symbol).set(decision.score)
    metrics.observe_latency(
        "decision",
        time.perf_counter() - started,
        breakdown={"fetch": fetched_at - started, "compute": decided_at - fetched_at},
        symbol=symbol,
    )
    return decision
