"""Backtest speed: `manage.py backtest --csv` as a whole process, and the replay alone, on 10,000, 100,000
and 525,600 (a year of) one-minute candles; prints candles/s and seconds, asserts nothing.

Run: .venv/bin/python bench/backtest.py [--candles 10000,100000,525600] [--window 200] [--repeat 5]
The CSV files (a random walk, ISO times) are written once under DATA_DIR/bench. Each whole-process figure
is the best (and the median) of `--repeat` runs (the machine is shared: the best run is the least
disturbed one); the project is byte-compiled first, as the image does; a run includes Python and
Django start-up, reading the file, the replay and storing the run in the database.
Goal (issue 16): 525,600 candles in at most 3 s whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 3.0


def write_csv(path: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    close = np.round(50000 * np.exp(np.cumsum(rng.normal(0.00001, 0.0015, n))), 1)
    open_ = np.r_[50000.0, close[:-1]]
    high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n)), 1)
    low = np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n)), 1)
    volume = np.round(rng.uniform(1, 9, n), 4)
    times = np.datetime_as_string(np.datetime64("2024-01-01T00:00:00") + np.arange(n).astype("timedelta64[m]"))
    rows = zip(times, open_.tolist(), high.tolist(), low.tolist(), close.tolist(), volume.tolist(), strict=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as handle:
        handle.write("time,open,high,low,close,volume\n")
        handle.writelines(f"{t}Z,{o},{h},{lo},{c},{v}\n" for t, o, h, lo, c, v in rows)
    tmp.replace(path)


def compile_sources() -> None:
    """Byte-compile the project once, as the image does at build time: with PYTHONDONTWRITEBYTECODE (set in
    the image and in this environment) Python would otherwise recompile every module at every start."""
    targets = [str(ROOT / name) for name in ("apps", "tradebot", "celery_app.py", "manage.py")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *targets], check=True, stdout=subprocess.DEVNULL)


def whole_process(path: Path, window: int) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the process, metrics) of one `manage.py backtest --csv` run."""
    command = [sys.executable, str(ROOT / "manage.py"), "backtest", "--symbol", "BTC/USDT", "--timeframe", "1m"]
    command += ["--csv", str(path), "--param", f"window={window}", "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"backtest failed ({done.returncode}): {done.stdout}{done.stderr}")
    return elapsed, cpu, json.loads(done.stdout.strip().splitlines()[-1])["metrics"]


def replay_only(path: Path, window: int) -> tuple[float, float, float]:
    """(load s, features s, walk s) in this process."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")
    django.setup()
    from apps.backtest.engine import run_backtest
    from apps.backtest.features import series_features
    from apps.backtest.history import series_from_file
    from apps.backtest.params import BacktestParams
    from apps.exchange.types import Market

    started = time.perf_counter()
    series = series_from_file(path)
    loaded = time.perf_counter()
    params = BacktestParams.from_settings({"window": window})
    features = series_features(series.ohlcv, window)
    featured = time.perf_counter()
    market = Market("BTC/USDT", "BTC", "USDT", 8, 1, 0, 0)  # type: ignore[arg-type]
    run_backtest(series, symbol="BTC/USDT", timeframe="1m", market=market, params=params, features=features)
    walked = time.perf_counter()
    return loaded - started, featured - loaded, walked - featured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", default="10000,100000,525600")
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path(os.environ.get("DATA_DIR") or "data")
    folder = (data_dir if data_dir.is_absolute() else ROOT / data_dir) / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    compile_sources()
    print(f"backtest bench: window {args.window}, {args.repeat} whole-process runs each, {os.cpu_count()} CPUs")
    print(f"load average {os.getloadavg()[0]:.1f} (a wall time is only as good as the CPU it got; the CPU")
    print("seconds of the process are the work itself). Whole process: best and median of the runs;")
    print("candles/s from the best; load / features / walk: the replay alone, in this process.")
    print(
        f"{'candles':>9} {'best wall':>10} {'its CPU':>8} {'median':>8} {'(CPU)':>7} {'candles/s':>11}"
        f" {'load':>7} {'features':>9} {'walk':>7}  trades"
    )
    for n in (int(x) for x in args.candles.split(",")):
        path = folder / f"candles-{n}.csv"
        if not path.exists():
            write_csv(path, n)
        runs = sorted((whole_process(path, args.window) for _ in range(args.repeat)), key=lambda r: r[0])
        best, cpu, metrics = runs[0]
        middle, middle_cpu, _ = runs[len(runs) // 2]
        load, features, walk = replay_only(path, args.window)
        verdict = "met" if best <= GOAL_SECONDS else "NOT met"
        goal = f"  (goal <= {GOAL_SECONDS:.0f} s: {verdict})" if n == 525_600 else ""
        print(
            f"{n:>9,} {best:>8.2f} s {cpu:>6.2f} s {middle:>6.2f} s {middle_cpu:>5.2f} s {n / best:>11,.0f}"
            f" {load:>6.2f}s {features:>8.2f}s {walk:>6.2f}s  {metrics['trades']}{goal}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
