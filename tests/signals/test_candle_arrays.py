"""Candles with float arrays (what the Gate.io broker returns) decide exactly as plain Candle lists do."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from apps.exchange.gateio import parse_candles
from apps.exchange.types import Candle, Candles
from apps.signals.build import FeatureInputError, ohlcv_from_candles
from apps.signals.services import evaluate
from tests.signals.factories import StubBroker, random_walk

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


class CandlesBroker(StubBroker):
    """Returns Candles built the way the Gate.io broker builds them: from the exchange's strings."""

    def fetch_ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        return parse_candles([gate_row(c) for c in super().fetch_ohlcv(symbol, timeframe, limit)])


def gate_row(c: Candle) -> list[str]:
    """GET /spot/candlesticks: [time s, quote volume, close, high, low, open, base volume, closed]."""
    values = (c.close * c.volume, c.close, c.high, c.low, c.open, c.volume)
    return [str(int(c.time.timestamp())), *(str(v) for v in values), "true"]


def decision_fields(decision) -> tuple:
    return (decision.action, decision.rule, decision.score, decision.regime, decision.price, decision.candle_time,
            decision.features, decision.contributions)  # fmt: skip


def test_gate_rows_parse_to_the_same_candles_and_floats_as_decimal_conversion():
    candles = random_walk(120)
    parsed = parse_candles([gate_row(c) for c in candles])
    assert isinstance(parsed, Candles) and parsed == candles
    times, values = parsed.arrays()
    expected = ohlcv_from_candles(candles)
    columns = (expected.open, expected.high, expected.low, expected.close, expected.volume)
    for row, column in zip(values, columns, strict=True):
        assert np.array_equal(row, column)
    assert list(times) == [int(c.time.timestamp()) * 1_000_000 for c in candles]
    assert np.array_equal(Candles(candles).arrays()[1], values)


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(microseconds=-1), timedelta(seconds=30), 5 * MINUTE])
@pytest.mark.parametrize("timeframe", ["1m", "5m"])
def test_evaluate_on_candles_with_arrays_matches_plain_candles(offset, timeframe):
    candles = random_walk(260, seed=11)
    now = candles[-1].time + MINUTE + offset
    plain = evaluate(symbol="BTC/USDT", timeframe=timeframe, limit=200, broker=StubBroker(candles), now=now)
    fast = evaluate(symbol="BTC/USDT", timeframe=timeframe, limit=200, broker=CandlesBroker(candles), now=now)
    assert decision_fields(fast) == decision_fields(plain)


def test_too_few_closed_candles_reads_the_same_with_arrays():
    candles = random_walk(30)
    now = candles[-1].time + MINUTE
    messages = []
    for broker in (StubBroker(candles), CandlesBroker(candles)):
        with pytest.raises(FeatureInputError) as info:
            evaluate(symbol="BTC/USDT", timeframe="1m", limit=50, broker=broker, now=now)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_unordered_candles_read_the_same_with_arrays():
    candles = random_walk(80)
    candles[40], candles[41] = candles[41], candles[40]
    now = candles[-1].time + MINUTE
    messages = []
    for broker in (StubBroker(candles), CandlesBroker(candles)):
        with pytest.raises(FeatureInputError) as info:
            evaluate(symbol="BTC/USDT", timeframe="1m", limit=60, broker=broker, now=now)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
