"""Decision compute (build + fuse + policy) on 500 candles: prints p50 / p95 / p99. Goal p99 <= 2 ms.

Run: .venv/bin/python bench/decision.py [--runs N] [--candles N]
Two timings: from Candle objects (Decimal, as the exchange layer returns them; includes the conversion)
and from float arrays (how a backtest replays). No database, no network; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.exchange.types import Candle
from apps.signals.build import ohlcv_from_candles
from apps.signals.pipeline import decide
from apps.signals.policy import Thresholds
from tradebot.config import load_config


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


def measure(label: str, data, runs: int, weights: dict[str, float], thresholds: Thresholds) -> None:
    for _ in range(50):  # warm-up
        decide(data, weights=weights, thresholds=thresholds, previous_action=None)
    samples = []
    for i in range(runs):
        previous = (None, "buy", "sell")[i % 3]
        start = time.perf_counter()
        decide(data, weights=weights, thresholds=thresholds, previous_action=previous)
        samples.append((time.perf_counter() - start) * 1000)
    print(f"{label:<34} {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--candles", type=int, default=500)
    args = parser.parse_args()

    config = load_config()
    weights = dict(config.SIGNAL_WEIGHTS)
    thresholds = Thresholds(entry=config.SIGNAL_ENTRY_THRESHOLD, exit=config.SIGNAL_EXIT_THRESHOLD)
    series = candles(args.candles)
    print(f"decision compute (build + fuse + policy), {args.candles} candles, {args.runs} runs (goal p99 <= 2 ms)")
    measure("from Candle objects (Decimal)", series, args.runs, weights, thresholds)
    measure("from float arrays (Ohlcv)", ohlcv_from_candles(series), args.runs, weights, thresholds)


if __name__ == "__main__":
    main()
