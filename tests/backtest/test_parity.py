"""One decision code: on the same candles, the backtest decides as `evaluate()` (the paper and live path)
does — same action and rule, the score within SCORE_TOLERANCE (features computed once over the whole series
differ from the window's by float rounding only) — at every candle, flat or long."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.backtest.engine import run_backtest
from apps.backtest.features import SCORE_TOLERANCE
from apps.backtest.params import BacktestParams
from apps.signals.services import evaluate
from tests.backtest.candles import MARKET, uptrend, walk
from tests.backtest.fakes import HistoryBroker

pytestmark = pytest.mark.django_db
WINDOW = 60


@pytest.mark.parametrize("as_arrays", [False, True], ids=["candle-list", "gate-arrays"])
@pytest.mark.parametrize("candles", [uptrend(), walk(160, noise=0.004, seed=11)], ids=["uptrend", "noisy"])
def test_backtest_decisions_equal_evaluate_on_the_same_candles(candles, as_arrays):
    params = BacktestParams.from_settings({"window": WINDOW})
    result = run_backtest(candles, symbol="BTC/USDT", timeframe="1m", market=MARKET, params=params)
    broker = HistoryBroker(candles, as_arrays=as_arrays)
    checked = 0
    for step in result.decisions[::3]:
        broker.upto = step.index + 2  # the newest candle the exchange returns is still forming at `now`
        decision = evaluate(
            symbol="BTC/USDT",
            timeframe="1m",
            limit=WINDOW,
            broker=broker,
            now=candles[step.index].time + timedelta(minutes=1),
            source="backtest",
            previous_action=step.previous_action,
        )
        assert decision.candle_time == candles[step.index].time
        assert (decision.action, decision.rule) == (step.action, step.rule), step.index
        assert abs(decision.score - step.score) <= SCORE_TOLERANCE, step.index
        checked += 1
    assert checked > 30


def test_the_backtest_and_evaluate_agree_on_a_long_stance():
    candles = uptrend()
    params = BacktestParams.from_settings({"window": WINDOW})
    result = run_backtest(candles, symbol="BTC/USDT", timeframe="1m", market=MARKET, params=params)
    long_steps = [d for d in result.decisions if d.previous_action == "buy"]
    assert long_steps
    broker = HistoryBroker(candles)
    step = long_steps[len(long_steps) // 2]
    broker.upto = step.index + 2
    decision = evaluate(
        symbol="BTC/USDT",
        timeframe="1m",
        limit=WINDOW,
        broker=broker,
        now=candles[step.index].time + timedelta(minutes=1),
        previous_action="buy",
    )
    assert (decision.action, decision.rule) == (step.action, step.rule)
    assert abs(decision.score - step.score) <= SCORE_TOLERANCE


def _long_series(n: int, seed: int):
    import numpy as np

    from apps.backtest.series import CandleSeries

    rng = np.random.default_rng(seed)
    close = np.round(50000 * np.exp(np.cumsum(rng.normal(0, 0.0015, n))), 1)
    open_ = np.r_[50000.0, close[:-1]]
    high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n)), 1)
    low = np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n)), 1)
    times = 1_704_067_200_000 + 60_000 * np.arange(n, dtype=np.int64)
    return CandleSeries.from_arrays(times, open_, high, low, close, np.round(rng.uniform(1, 9, n), 4))


@pytest.mark.parametrize(
    "overrides",
    [{}, {"weights": {"ema": 1}, "entry_threshold": 0.2, "exit_threshold": -0.2}],
    ids=["default-strategy", "ema-only"],
)
def test_decisions_across_a_long_series_equal_decide_on_their_windows(overrides):
    """Windows sampled over 40,000 candles (flat and long stances, every rule that fired) against `decide()`
    on the same candles: same action and rule, score within SCORE_TOLERANCE."""
    import numpy as np

    from apps.signals.build import Ohlcv
    from apps.signals.pipeline import decide

    series = _long_series(40_000, seed=21)
    params = BacktestParams.from_settings({"max_drawdown_pct": "100", "max_consecutive_losses": 1000, **overrides})
    result = run_backtest(series, symbol="BTC/USDT", timeframe="1m", market=MARKET, params=params)
    rng = np.random.default_rng(2)
    sample = sorted(set(rng.integers(0, len(result.decisions), 400).tolist()) | set(range(0, 200, 9)))
    o = series.ohlcv
    seen_rules, seen_stances = set(), set()
    for i in sample:
        step = result.decisions[i]
        start = max(0, step.index + 1 - params.window)
        window = Ohlcv(*(c[start : step.index + 1] for c in (o.open, o.high, o.low, o.close, o.volume)))
        stance = step.previous_action
        live = decide(window, weights=params.weights, thresholds=params.thresholds, previous_action=stance)
        assert (live.action, live.rule) == (step.action, step.rule), step.index
        assert abs(live.score - step.score) <= SCORE_TOLERANCE, step.index
        seen_rules.add(step.rule)
        seen_stances.add(step.previous_action)
    assert seen_stances == {None, "buy"} and len(seen_rules) >= 4
    assert result.metrics["trades"] > 10
