"""Load test of /health and /api/eval under gunicorn, with static candles (no exchange calls).

    .venv/bin/python bench/api_load.py [--rate 100] [--duration 20] [--port 8799] [--workers N]

Starts gunicorn on tradebot.wsgi with this file as its config: the production settings of gunicorn.conf.py
(workers, worker class, timeouts; WEB_CONCURRENCY or --workers) plus the hooks below, which put a paper
broker over in-memory market data into each worker. Then drives each endpoint at --rate requests per second
from a second process for --duration seconds, and prints requests/s and p50 / p95 / p99. Prints only; no
assertions. Goal: /api/eval p99 <= 25 ms at 100 req/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import runpy
import statistics
import subprocess
import sys
import threading
import time
from multiprocessing import Process, Queue
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# --- gunicorn config: the production one, plus the hooks below -----------------------------------------

sys.path.insert(0, str(ROOT))
PRODUCTION = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
globals().update({k: v for k, v in PRODUCTION.items() if not k.startswith("_") and k != "os"})


def on_starting(server) -> None:
    from apps.monitoring.gunicorn_hooks import on_starting as start

    start(server)


def child_exit(server, worker) -> None:
    from apps.monitoring.gunicorn_hooks import child_exit as exited

    exited(server, worker)


def post_worker_init(worker) -> None:
    """Each worker's broker: orders in the database, candles and prices from memory."""
    from apps.exchange import services
    from tests.api.fakes import paper_broker

    services._broker = paper_broker()


# --- the load generator ---------------------------------------------------------------------------------


def _one(port: int, path: str, headers: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return time.perf_counter() - started, status


def _drive(port: int, path: str, headers: dict[str, str], rate: float, duration: float, out: Queue) -> None:
    """Open loop: request i is due at start + i / rate whatever earlier ones took (threads absorb waits)."""
    results: list[tuple[float, int]] = []
    lock = threading.Lock()
    total = int(rate * duration)
    start = time.perf_counter() + 0.2
    next_index = iter(range(total))
    index_lock = threading.Lock()

    def worker() -> None:
        while True:
            with index_lock:
                i = next(next_index, None)
            if i is None:
                return
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            result = _one(port, path, headers)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((results, time.perf_counter() - start))


def _report(name: str, results: list[tuple[float, int]], elapsed: float) -> None:
    latencies = sorted(seconds * 1000 for seconds, status in results if status == 200)
    errors = sum(1 for _, status in results if status != 200)
    if not latencies:
        print(f"{name}: no successful request ({errors} errors)")
        return
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"{name:<28} {len(results) / elapsed:7.1f} req/s  n={len(results):5d}  errors={errors:3d}  "
        f"p50={q[49]:6.1f} ms  p95={q[94]:6.1f} ms  p99={q[98]:6.1f} ms  max={latencies[-1]:6.1f} ms"
    )


def _wait_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _one(port, "/health", {})[1] == 200:
            return
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /health in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--workers", type=int, help="default: gunicorn.conf.py's (WEB_CONCURRENCY, else 2)")
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", "sqlite:///data/bench_api.sqlite3"),
        "MODE": "paper",
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(ROOT / "data" / "prometheus-bench"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    name = f"bench-{int(time.time())}"
    created = subprocess.run(
        [python, "manage.py", "create_api_token", name, "--json"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = json.loads(created.stdout)["token"]
    gunicorn = [
        str(Path(python).with_name("gunicorn")),
        "tradebot.wsgi",
        "-c",
        str(Path(__file__).resolve()),
        "--bind",
        f"127.0.0.1:{args.port}",
        *(["--workers", str(args.workers)] if args.workers else []),
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env)
    try:
        _wait_up(args.port)
        auth = {"Authorization": f"Bearer {token}"}
        eval_path = "/api/eval?symbol=BTC/USDT&timeframe=1m&limit=200"
        _one(args.port, eval_path, auth)  # warm both workers' imports
        _one(args.port, eval_path, auth)
        workers = args.workers or PRODUCTION["workers"]
        print(f"gunicorn {workers} workers, target {args.rate:.0f} req/s for {args.duration:.0f} s per endpoint")
        for label, path, headers in (
            ("GET /health", "/health", {}),
            ("GET /api/eval (cached candles)", eval_path, auth),
        ):
            out: Queue = Queue()
            driver = Process(target=_drive, args=(args.port, path, headers, args.rate, args.duration, out))
            driver.start()
            results, elapsed = out.get()
            driver.join()
            _report(label, results, elapsed)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
