"""Exchange history: Gate.io's candlesticks paged by from/to through GateBroker, against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.audit.actors import SYSTEM
from apps.backtest.history import CandleDataError, candles_from_exchange
from apps.backtest.services import backtest_run
from tests.backtest.candles import uptrend
from tests.exchange.brokers import make_broker, make_limiter, make_sim, serve

MINUTE = timedelta(minutes=1)


@pytest.fixture
def gate(tmp_path):
    server = serve(make_sim())
    try:
        yield make_broker(server.url, make_limiter(tmp_path))
    finally:
        server.stop()


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def test_more_than_one_page_of_candles_comes_back_complete_and_in_order(gate):
    now = datetime.now(UTC)
    since, until = _minute(now) - 2500 * MINUTE, _minute(now) - 10 * MINUTE
    candles = candles_from_exchange(
        gate, symbol="BTC/USDT", timeframe="1m", since=since, until=until, span=MINUTE, now=now
    )
    assert len(candles) == 2490
    assert candles[0].time == since and candles[-1].time == until - MINUTE
    assert all(b.time - a.time == MINUTE for a, b in zip(candles, candles[1:], strict=False))


def test_candles_that_have_not_closed_are_left_out(gate):
    now = datetime.now(UTC)
    candles = candles_from_exchange(
        gate,
        symbol="BTC/USDT",
        timeframe="1m",
        since=_minute(now) - 30 * MINUTE,
        until=now + MINUTE,
        span=MINUTE,
        now=now,
    )
    assert candles and candles[-1].time + MINUTE <= now


@pytest.mark.django_db
def test_a_backtest_over_exchange_history_uses_the_exchange_market(gate):
    now = datetime.now(UTC)
    run = backtest_run(
        symbol="BTC/USDT",
        timeframe="1m",
        since=_minute(now) - 600 * MINUTE,
        until=_minute(now),
        broker=gate,
        actor=SYSTEM,
    )
    assert run.status == "done" and run.source == "exchange" and run.candles == 600
    assert run.metrics["candles"] == 600


def test_a_broker_with_only_the_latest_candles_says_so():
    candles = uptrend()

    class LatestOnly:
        name = "latest-only"

        def fetch_ohlcv(self, symbol, timeframe, limit):
            return candles[-limit:]

    broker = LatestOnly()
    with pytest.raises(CandleDataError, match="only serves its latest"):
        candles_from_exchange(
            broker,
            symbol="BTC/USDT",
            timeframe="1m",
            since=candles[0].time - 10 * MINUTE,
            until=candles[-1].time,
            span=MINUTE,
            now=candles[-1].time + MINUTE,
        )


def test_a_second_run_over_the_same_history_downloads_nothing(gate, tmp_path, monkeypatch):
    """Exchange history is cached per symbol / timeframe; a wider range fetches only what is new."""
    from apps.backtest.history import series_from_exchange

    calls = []
    fetch = gate.fetch_ohlcv_range
    monkeypatch.setattr(gate, "fetch_ohlcv_range", lambda *a: calls.append(a[2:]) or fetch(*a))
    now = datetime.now(UTC)
    since, until = _minute(now) - 1500 * MINUTE, _minute(now) - 100 * MINUTE
    kwargs = {"symbol": "BTC/USDT", "timeframe": "1m", "span": MINUTE, "cache_dir": tmp_path / "history"}
    first = series_from_exchange(gate, since=since, until=until, now=now, **kwargs)
    assert len(calls) == 1 and len(first) == 1400
    again = series_from_exchange(gate, since=since, until=until, now=now, **kwargs)
    assert len(calls) == 1  # nothing downloaded the second time
    assert (again.times == first.times).all() and (again.ohlcv.close == first.ohlcv.close).all()
    wider = series_from_exchange(gate, since=since, until=until + 50 * MINUTE, now=now, **kwargs)
    assert calls[-1] == (until, until + 50 * MINUTE) and len(wider) == 1450


@pytest.mark.django_db
def test_a_backtest_over_exchange_history_reads_the_cache_the_second_time(gate, monkeypatch):
    calls = []
    fetch = gate.fetch_ohlcv_range
    monkeypatch.setattr(gate, "fetch_ohlcv_range", lambda *a: calls.append(a) or fetch(*a))
    now = datetime.now(UTC)
    request = {
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "since": _minute(now) - 300 * MINUTE,
        "until": _minute(now) - 10 * MINUTE,
        "broker": gate,
        "actor": SYSTEM,
    }
    first = backtest_run(**request)
    second = backtest_run(**request)
    assert len(calls) == 1
    assert first.metrics == second.metrics and first.candles == second.candles == 290
