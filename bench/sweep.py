"""Sweep throughput: a 27-combination grid over 100,000 one-minute candles, run by 1 and then 2 Celery
worker processes (real workers, the configured broker and database); prints combinations per minute.

Run: .venv/bin/python bench/sweep.py [--candles 100000] [--workers 1,2] [--rounds 2]
Uses DATABASE_URL / REDIS_URL (or the embedded defaults) like the app; migrate first. Each round starts
from nothing but the parsed candles file: the bench deletes its own earlier sweeps of these candles and
their shared feature files, so every round computes the features of its 3 windows once and runs all 27
combinations (the file itself is parsed once, before the rounds, as a repeated sweep of a file finds it
already read). Prints the workers' CPU seconds beside the wall time: on a shared machine the ratio of wall
times is only as good as the share of the cores the workers got. Asserts nothing.
Goal (issue 16): 2 workers in about half the time of 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from apps.audit.actors import Actor  # noqa: E402
from apps.backtest.models import BacktestSweep  # noqa: E402
from apps.backtest.sweeps import csv_series, sweep_progress, sweep_start  # noqa: E402
from bench.backtest import write_csv  # noqa: E402

GRID = {"fee_pct": ["0.1", "0.2", "0.3"], "take_profit_pct": ["2", "4", "8"], "window": [100, 150, 200]}


def start_workers(count: int, log_dir: Path) -> list[subprocess.Popen]:
    procs = []
    for i in range(count):
        log = (log_dir / f"sweep-worker-{i}.log").open("wb")
        cmd = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--loglevel=INFO", "--concurrency=1"]
        cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat", f"--hostname=bench{i}-{os.getpid()}@%h"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + 90
    for i, proc in enumerate(procs):
        path = log_dir / f"sweep-worker-{i}.log"
        while b"ready." not in path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_workers(procs)
                raise SystemExit(f"worker {i} did not start: {path.read_text()[-2000:]}")
            time.sleep(0.2)
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def forget(path: Path) -> None:
    """The bench's own earlier sweeps of this file, and the feature files they left."""
    for sweep in BacktestSweep.objects.filter(csv_path=str(path)):
        if sweep.series_path:
            series = Path(sweep.series_path)
            for features in series.parent.glob(series.stem.replace("series-", "features-") + "-w*"):
                features.unlink(missing_ok=True)
        sweep.delete()


def warm_up(path: Path) -> None:
    """What this process pays once, whatever the worker count: the broker client's import and connection
    (about 0.6 s, in the first send) and parsing the candles file (a sweep over a file read before loads
    its saved array file). Done before any round so every round times the same work."""
    from celery_app import app

    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=3)
    csv_series(path)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live descendants (a worker and its pool), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def one_round(path: Path, workers: int, log_dir: Path) -> tuple[float, float, float]:
    """(seconds from the request to the last combination stored, of which queueing them, CPU seconds the
    workers used meanwhile)."""
    forget(path)
    procs = start_workers(workers, log_dir)
    try:
        cpu_before = sum(cpu_seconds(proc.pid) for proc in procs)
        started = time.perf_counter()
        sweep = sweep_start(symbol="BTC/USDT", timeframe="1m", csv_path=path, grid=GRID, actor=Actor.system("bench"))
        queued = time.perf_counter() - started
        while True:
            sweep.refresh_from_db()
            done, total = sweep_progress(sweep)
            print(f"\r  {workers} worker(s): {done}/{total} combinations", end="", flush=True)
            if sweep.status in ("done", "failed"):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = sum(cpu_seconds(proc.pid) for proc in procs) - cpu_before
        print()
        failed = sweep.runs.filter(status="failed").count()
        if failed:
            print(f"  {failed} combinations failed: {sweep.runs.filter(status='failed').first().error}")
        return elapsed, queued, cpu
    finally:
        stop_workers(procs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--rounds", type=int, default=2, help="alternate the worker counts this many times")
    args = parser.parse_args()
    folder = Path(settings.DATA_DIR) / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sweep-candles-{args.candles}.csv"
    if not path.exists():
        write_csv(path, args.candles, seed=7)
    combos = 1
    for values in GRID.values():
        combos *= len(values)
    broker = settings.CELERY_BROKER_URL.split(":")[0]
    print(f"sweep bench: {combos} combinations over {args.candles:,} candles, broker {broker}")
    print(f"load average {os.getloadavg()[0]:.1f} (other processes take CPU from the workers too)")
    warm_up(path)
    results: dict[int, float] = {}
    for _ in range(args.rounds):
        for n in (int(x) for x in args.workers.split(",")):
            elapsed, queued, cpu = one_round(path, n, folder)
            results[n] = min(results.get(n, elapsed), elapsed)
            print(
                f"  {n} worker(s): {elapsed:.2f} s ({queued:.2f} s to read the file and queue the runs),"
                f" {combos / elapsed * 60:.1f} combinations/minute; the workers used {cpu:.2f} s of CPU"
                f" ({cpu / elapsed / n * 100:.0f} % of {n} core(s) while it ran), load average {os.getloadavg()[0]:.1f}"
            )
    print(f"best of {args.rounds} round(s) (the machine is shared: the best run is the least disturbed one):")
    for n, elapsed in results.items():
        print(f"  {n} worker(s): {elapsed:.2f} s, {combos / elapsed * 60:.1f} combinations/minute")
    if 1 in results and 2 in results:
        print(f"  2 workers take {results[2] / results[1]:.2f}x the time of 1 (goal: about 0.5)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
