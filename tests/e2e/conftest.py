"""End-to-end fixtures: a real Celery worker process on the test database, talking to the simulator.

The worker runs with MODE=live against the bundled Gate.io simulator (the whole live path over HTTP),
on Redis when the tests have one (`redis_url`), else on the embedded filesystem transport in a temporary
folder. Tests using it need `transaction=True` so the worker sees their rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from apps.exchange.simulator import ExchangeSimulator, SimulatorServer

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BTC/USDT"


class Clock:
    """A clock the test moves: the simulator's history is written as if minutes passed."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


def uptrend_simulator(minutes: int = 200, rising: int = 60) -> tuple[ExchangeSimulator, Clock]:
    """A simulator whose last `minutes` of BTC/USDT candles are quiet, then a gentle steady rise:
    the signal pipeline reads that as a buy."""
    clock = Clock(offset=-(minutes + 1) * 60.0)
    sim = ExchangeSimulator(
        balances={"USDT": Decimal("10000")},
        symbols=[SYMBOL, "ETH/USDT"],
        seed=3,
        prices={SYMBOL: Decimal("50000")},
        clock=clock,
    )
    price = Decimal("50000")
    for i in range(minutes):
        clock.offset += 60.0
        step = Decimal("0.001") if i >= minutes - rising else Decimal("0.0002") * (1 if i % 2 else -1)
        price = (price * (1 + step)).quantize(Decimal("0.1"))
        sim.set_price(SYMBOL, price)
    clock.offset = 0.0
    return sim, clock


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user, host, port = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
        return f"postgres://{user}@{host}:{port}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, concurrency: int = 1, *, queues: str = "", wait: bool = True) -> Worker:
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "worker",
            "--loglevel=INFO",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname=e2e-{os.getpid()}-{time.monotonic_ns()}@localhost",
        ]
        if queues:
            cmd.append(f"--queues={queues}")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        return self.wait_ready() if wait else self

    def wait_ready(self) -> Worker:
        assert self.proc is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log.read_bytes():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> float:
        """SIGTERM to the main process (as `kill`, or systemd's KillMode=mixed, does); SIGKILL to the whole
        process group (a machine dying). Returns seconds until it exited."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        started = time.monotonic()
        if sig == signal.SIGKILL:
            os.killpg(self.proc.pid, sig)
        else:
            os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise
        return time.monotonic() - started


@pytest.fixture
def e2e_env(request, tmp_path, settings) -> Callable[[SimulatorServer], dict[str, str]]:
    """Environment for worker processes, and a producer app for the test to send tasks with."""
    redis = ""
    if os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL"):
        redis = request.getfixturevalue("redis_url")

    def make(server: SimulatorServer, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis,
            "CELERY_BROKER_DIR": str(tmp_path / "broker"),
            "MODE": "live",
            "ENABLE_TRADING": "true",
            "GATEIO_API_URL": server.url,
            "GATEIO_API_KEY": "sim-key",
            "GATEIO_API_SECRET": "sim-secret",
            "SECRET_KEY": "e2e-" + "x" * 50,
            "SYMBOLS": SYMBOL,
            "POSITION_SIZE_USD": "100",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
            "CELERY_VISIBILITY_TIMEOUT": "5",
        }
        env.update(extra)
        return env

    return make


@pytest.fixture
def producer(e2e_env, tmp_path):
    """Send tasks to the worker the way beat does (same broker, same task names)."""
    from celery import Celery

    apps: list[Celery] = []

    def make(env: dict[str, str]) -> Celery:
        if env["REDIS_URL"]:
            app = Celery(broker=env["REDIS_URL"])
            app.conf.broker_transport_options = {"visibility_timeout": 5}
        else:
            folder = Path(env["CELERY_BROKER_DIR"])
            for sub in ("out", "processed", "control"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            app = Celery(broker="filesystem://")
            app.conf.broker_transport_options = {
                "data_folder_in": str(folder / "out"),
                "data_folder_out": str(folder / "out"),
                "processed_folder": str(folder / "processed"),
                "control_folder": str(folder / "control"),
            }
        app.conf.task_serializer = "json"
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def workers(tmp_path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def make(env: dict[str, str], concurrency: int = 1, *, queues: str = "", wait: bool = True) -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log").start(concurrency, queues=queues, wait=wait)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        try:
            worker.stop(signal.SIGKILL, timeout=10)
        except Exception:
            pass


def wait_for(predicate: Callable[[], object], timeout: float = 60, every: float = 0.25, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what or predicate}")


# Beat and a Redis of the test's own (tests/e2e/processes.py), as fixtures for every e2e test.
from tests.e2e.processes import beats, own_redis  # noqa: E402,F401
