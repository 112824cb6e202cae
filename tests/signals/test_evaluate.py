"""evaluate(): stores a Decision with its explanation, decides on closed candles only, refuses bad input."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.exchange.broker import TransientExchangeError
from apps.exchange.types import Candle
from apps.signals.build import FeatureInputError
from apps.signals.models import Decision
from apps.signals.pipeline import decide
from apps.signals.selectors import decision_explain, decision_latest, explain_text
from apps.signals.services import SignalInputError, closed_candles, evaluate, signal_parameters
from tests.signals.factories import StubBroker, random_walk, trend

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def forming_series(n: int = 201, **kwargs) -> tuple[list[Candle], object]:
    """n candles whose last one opened 30 s before `now`, so it is still forming; its close is absurd."""
    candles = random_walk(n, **kwargs)
    last = candles[-1]
    candles[-1] = Candle(last.time, last.open, last.high * 10, last.low, last.close * 10, last.volume * 100)
    return candles, last.time + timedelta(seconds=30)


def test_evaluate_stores_a_decision_with_its_explanation():
    candles, now = forming_series()
    decision = evaluate(symbol="BTC/USDT", timeframe="1m", limit=200, broker=StubBroker(candles), now=now)

    stored = Decision.objects.get(pk=decision.pk)
    assert stored.action in ("buy", "sell", "hold")
    assert -1.0 <= stored.score <= 1.0
    assert stored.rule and stored.regime and stored.source == "api"
    assert stored.latency_ms > 0
    assert set(stored.contributions) == {"ema", "rsi", "macd", "bb", "volume"}
    assert stored.features["candles"] == 200
    for word in ("ema", "rsi", "macd", "bb", "volume", "atr", f"rule {stored.rule}", "risk: no risk block"):
        assert word in stored.explanation
    assert stored.executed is False


def test_evaluate_decides_on_closed_candles_only():
    candles, now = forming_series()
    broker = StubBroker(candles)
    decision = evaluate(symbol="BTC/USDT", timeframe="1m", limit=200, broker=broker, now=now)

    closed = candles[:-1]
    assert broker.calls == [("BTC/USDT", "1m", 201)]
    assert decision.candle_time == closed[-1].time
    assert decision.price == closed[-1].close
    weights, thresholds = signal_parameters()
    expected = decide(closed[-200:], weights=weights, thresholds=thresholds, previous_action=None)
    assert (decision.action, decision.rule) == (expected.action, expected.rule)
    assert decision.score == pytest.approx(expected.score, abs=1e-12)


def test_a_candle_that_closes_exactly_at_now_counts_as_closed():
    candles = random_walk(60)
    now = candles[-1].time + MINUTE
    assert closed_candles(candles, timeframe="1m", now=now) == candles
    assert closed_candles(candles, timeframe="1m", now=now - timedelta(microseconds=1)) == candles[:-1]
    assert closed_candles(candles, timeframe="5m", now=now) == candles[:-4]


def test_evaluate_starts_long_when_the_book_holds_a_position():
    from apps.trading.models import Position

    candles, now = forming_series(201, seed=3, drift=-0.004, vol=0.002)
    Position.objects.create(symbol="BTC/USDT", amount=Decimal("0.5"), average_entry_price=Decimal(100), opened_at=now)
    decision = evaluate(symbol="BTC/USDT", timeframe="1m", limit=200, broker=StubBroker(candles), now=now)
    assert decision.features["stance"] == "long"
    assert (decision.action, decision.rule) == ("sell", "score_below_exit")


def test_an_explicit_previous_action_overrides_the_book():
    candles = trend(121)
    now = candles[-1].time + timedelta(seconds=1)
    decision = evaluate(
        symbol="BTC/USDT", timeframe="1m", limit=120, broker=StubBroker(candles), now=now, previous_action="buy"
    )
    assert decision.features["stance"] == "long"
    assert decision.rule == "in_position_hold"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"symbol": "BTC/USDT; DROP"}, "symbol"),
        ({"timeframe": "2m"}, "timeframe"),
        ({"limit": 10}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"limit": True}, "limit"),
        ({"source": "cron"}, "source"),
        ({"previous_action": "hold"}, "previous_action"),
    ],
)
def test_bad_input_is_a_signal_input_error_naming_the_field(kwargs, field):
    broker = StubBroker(random_walk(300))
    params = {"symbol": "BTC/USDT", "timeframe": "1m", "limit": 200, "broker": broker, **kwargs}
    with pytest.raises(SignalInputError) as info:
        evaluate(**params)
    assert info.value.field == field
    assert broker.calls == []
    assert not Decision.objects.exists()


def test_gate_style_and_lower_case_symbols_are_accepted():
    candles, now = forming_series(80)
    decision = evaluate(symbol="btc_usdt", timeframe="1m", limit=60, broker=StubBroker(candles), now=now)
    assert decision.symbol == "BTC/USDT"


def test_too_few_closed_candles_is_a_clear_error_and_stores_nothing():
    candles, now = forming_series(30)
    with pytest.raises(FeatureInputError, match="closed 1m candles"):
        evaluate(symbol="BTC/USDT", timeframe="1m", limit=50, broker=StubBroker(candles), now=now)
    assert not Decision.objects.exists()


def test_unordered_candles_are_a_clear_error():
    candles = random_walk(80)
    candles[40], candles[41] = candles[41], candles[40]
    with pytest.raises(FeatureInputError, match="strictly increasing"):
        evaluate(symbol="BTC/USDT", timeframe="1m", limit=60, broker=StubBroker(candles), now=candles[-1].time + MINUTE)


def test_exchange_errors_pass_through_and_store_nothing():
    broker = StubBroker([], error=TransientExchangeError("timed out"))
    with pytest.raises(TransientExchangeError):
        evaluate(symbol="BTC/USDT", timeframe="1m", limit=60, broker=broker)
    assert not Decision.objects.exists()


def test_decision_latest_finds_the_newest_for_the_symbol_and_timeframe():
    candles, now = forming_series(121)
    first = evaluate(symbol="BTC/USDT", timeframe="1m", limit=100, broker=StubBroker(candles), now=now)
    second = evaluate(symbol="BTC/USDT", timeframe="1m", limit=100, broker=StubBroker(candles), now=now)
    other = evaluate(symbol="ETH/USDT", timeframe="1m", limit=100, broker=StubBroker(candles), now=now)
    assert decision_latest("BTC/USDT") == second != first
    assert decision_latest("eth_usdt", "1m") == other
    assert decision_latest("BTC/USDT", "5m") is None


def test_decision_explain_lists_every_feature_with_value_and_contribution():
    candles, now = forming_series()
    decision = evaluate(symbol="BTC/USDT", timeframe="1m", limit=200, broker=StubBroker(candles), now=now)
    why = decision_explain(decision)
    rows = {row["name"]: row for row in why["features"]}
    assert set(rows) == {"ema", "macd", "rsi", "bb", "volume", "atr"}
    assert sum(row["contribution"] for row in rows.values() if row["in_score"]) == pytest.approx(why["score"])
    assert rows["rsi"]["values"]["rsi"] == decision.features["values"]["rsi"]
    assert rows["atr"]["in_score"] is False
    assert why["rule"] == decision.rule and why["rule_text"]
    assert why["thresholds"] == {"entry": 0.3, "exit": -0.1}
    assert why["risk_block"] is None


def test_a_risk_block_shows_in_the_explanation():
    candles, now = forming_series()
    decision = evaluate(symbol="BTC/USDT", timeframe="1m", limit=200, broker=StubBroker(candles), now=now)
    decision.risk_block = {"rule": "max_positions", "open": 3, "limit": 3}
    text = explain_text(decision)
    assert "risk: blocked by risk rule max_positions" in text
    assert decision_explain(decision)["risk_text"].startswith("blocked by risk rule max_positions")
