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
