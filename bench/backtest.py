"""Backtest replay speed: N synthetic one-minute candles through `run_backtest`; prints candles/s.

Run: .venv/bin/python bench/backtest.py [--candles 10000] [--window 200]
No database, no network; prints figures, asserts nothing. Goal: 10,000 candles in well under 20 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "")
django.setup()

from apps.backtest.engine import run_backtest  # noqa: E402
from apps.backtest.params import BacktestParams  # noqa: E402
from apps.exchange.types import Candle, Market  # noqa: E402


def candles(n: int, seed: int = 1) -> list[Candle]:
    rng, price, t0, out = random.Random(seed), 50000.0, datetime(2024, 1, 1, tzinfo=UTC), []
    for i in range(n):
        close = price * (1 + rng.gauss(0.0001, 0.004))
        high, low = max(price, close) * 1.002, min(price, close) * 0.998
        values = (Decimal(f"{v:.1f}") for v in (price, high, low, close))
        out.append(Candle(t0 + timedelta(minutes=i), *values, Decimal(f"{rng.uniform(1, 9):.4f}")))
        price = close
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    series = candles(args.candles)
    market = Market("BTC/USDT", "BTC", "USDT", 6, 1, Decimal("0.00001"), Decimal("3"))
    params = BacktestParams.from_settings({"window": args.window})
    started = time.perf_counter()
    result = run_backtest(series, symbol="BTC/USDT", timeframe="1m", market=market, params=params)
    elapsed = time.perf_counter() - started
    print(f"{args.candles} candles, window {args.window}: {elapsed:.2f} s, {args.candles / elapsed:,.0f} candles/s")
    print(f"{result.metrics['trades']} trades, return {result.metrics['total_return_pct']} %")


if __name__ == "__main__":
    main()
