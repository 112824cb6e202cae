"""Decision compute (build + fuse + policy) on 500 candles: prints p50 / p95 / p99. Goal p99 <= 2 ms.

Run: .venv/bin/python bench/decision.py [--runs N] [--candles N]
Timings per decision:
- the live path: what `evaluate` runs on what the Gate.io broker returns (Candles made from Gate.io's strings,
  with float arrays made once per fetch): the closed-candle selection (`closed_series`) and `decide`;
- from Candle objects (Decimal): the path before, with the Decimal -> float conversion in every decision;
- from float arrays (Ohlcv): the compute alone, as a backtest replays.
And once per fetch (not per decision): parsing Gate.io's candle rows into Candles, with and without the arrays.
No database, no network; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.exchange.gateio import ms_to_datetime, parse_candles
from apps.exchange.types import Candle
from apps.signals.build import ohlcv_from_candles
from apps.signals.pipeline import decide
from apps.signals.policy import Thresholds
from tradebot.config import load_config

# apps.signals.services imports Django models: settings must be configured first.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "")
django.setup()
from apps.signals.services import closed_series  # noqa: E402


def candles(n: int, seed: int = 1) -> list[Candle]:
    rng = random.Random(seed)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out, close = [], 30_000.0
    for i in range(n):
        open_ = close
        close = open_ * (1 + rng.gauss(0, 0.002))
        high = max(open_, close) * (1 + abs(rng.gauss(0, 0.001)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, 0.001)))
        out.append(
            Candle(
                t0 + timedelta(minutes=i),
                Decimal(f"{open_:.2f}"),
                Decimal(f"{high:.2f}"),
                Decimal(f"{low:.2f}"),
                Decimal(f"{close:.2f}"),
                Decimal(f"{rng.lognormvariate(2, 0.5):.4f}"),
            )
        )
    return out


def percentiles(samples_ms: list[float]) -> str:
    q = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return f"p50 {q[49]:.3f} ms  p95 {q[94]:.3f} ms  p99 {q[98]:.3f} ms  max {max(samples_ms):.3f} ms"


def gate_rows(series: list[Candle]) -> list[list[str]]:
    """The candles as GET /spot/candlesticks returns them: [time s, quote volume, close, high, low, open, volume]."""
    return [
        [str(int(c.time.timestamp())), str(c.close * c.volume), str(c.close), str(c.high), str(c.low), str(c.open)]
        + [str(c.volume), "true"]
        for c in series
    ]


def candles_only(rows: list[list[str]]) -> list[Candle]:
    """What GateBroker.fetch_ohlcv did before it also made the float arrays."""
    return [Candle(ms_to_datetime(int(r[0]) * 1000), *(Decimal(r[i]) for i in (5, 3, 4, 2, 6))) for r in rows]


def timed(label: str, step, runs: int) -> None:
    for i in range(50):  # warm-up
        step(i)
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        step(i)
        samples.append((time.perf_counter() - start) * 1000)
    print(f"{label:<52} {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--candles", type=int, default=500)
    args = parser.parse_args()

    config = load_config()
    weights = dict(config.SIGNAL_WEIGHTS)
    thresholds = Thresholds(entry=config.SIGNAL_ENTRY_THRESHOLD, exit=config.SIGNAL_EXIT_THRESHOLD)
    series = candles(args.candles + 1)  # the newest one is still forming, as `evaluate` fetches limit + 1
    now = series[-1].time + timedelta(seconds=30)
    rows = gate_rows(series)
    fetched = parse_candles(rows)  # what GateBroker.fetch_ohlcv returns
    closed = series[:-1]
    ohlcv = ohlcv_from_candles(closed)
    previous = (None, "buy", "sell")

    def live(i: int) -> None:
        data, _ = closed_series(fetched, symbol="BTC/USDT", timeframe="1m", now=now, limit=args.candles)
        decide(data, weights=weights, thresholds=thresholds, previous_action=previous[i % 3])

    print(f"decision compute (build + fuse + policy), {args.candles} candles, {args.runs} runs (goal p99 <= 2 ms)")
    timed("live path: broker's Candles -> closed_series + decide", live, args.runs)
    timed(
        "before: from Candle objects (Decimal)",
        lambda i: decide(closed, weights=weights, thresholds=thresholds, previous_action=previous[i % 3]),
        args.runs,
    )
    timed(
        "compute alone: from float arrays (Ohlcv)",
        lambda i: decide(ohlcv, weights=weights, thresholds=thresholds, previous_action=previous[i % 3]),
        args.runs,
    )
    print(f"once per fetch, not per decision: parsing Gate.io's {len(rows)} candle rows")
    timed("  into Candles with float arrays (now)", lambda i: parse_candles(rows), args.runs // 10)
    timed("  into Candle objects only (before)", lambda i: candles_only(rows), args.runs // 10)


if __name__ == "__main__":
    main()
