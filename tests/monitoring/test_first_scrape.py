"""Every metric family from the first scrape, and the metrics folder following DATA_DIR (issue 17, item 1).

In prometheus_client's multiprocess mode a family is exported only once some process created one of its
series; `metrics.declare` + `metrics.init_zero` create the known series at zero in every process. These tests
start real processes (runserver, gunicorn, a Celery worker) on a fresh DATA_DIR and read /metrics as
Prometheus would, before any order or reconciliation.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from apps.monitoring import metrics
from tests.monitoring.test_metrics import SEED_NAMES

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A process environment with nothing of this test run's: its own DATA_DIR, SQLite file and broker."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tradebot.sqlite3'}",
        "SYMBOLS": "BTC/USDT,ETH/USDT",
        "GATEIO_API_URL": "http://127.0.0.1:9/api/v4",  # nothing listens: no exchange call can succeed
    }
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def scrape(url: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=15) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def families_with_samples(text: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(text) if family.samples}


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_fresh_runserver_exports_every_declared_family_before_any_event(tmp_path):
    env = fresh_env(tmp_path)
    assert manage(env, "migrate", "--noinput", "-v0").returncode == 0
    port = free_port()
    log = (tmp_path / "runserver.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        text = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop(proc)
        log.close()
    exported = families_with_samples(text)
    ours = set(metrics.declared())
    assert len(ours & set(exported)) >= 50, sorted(ours - set(exported))
    assert ours <= set(exported), f"declared but not exported: {sorted(ours - set(exported))}"
    for name in SEED_NAMES:  # the README's list, exported names (counters with _total)
        family = name.removesuffix("_total")
        assert family in exported, name
    # the known label sets are there at zero: sides x origins, rules, breakers x states, components
    assert 'risk_blocks_total{rule="max_drawdown"} 0.0' in text
    assert 'orders_fail_total{reason="rejected"} 0.0' in text
    assert 'circuit_breaker_state{name="gateio:private_orders",state="open"} 0.0' in text
    assert 'performance_budget_exceeded_total{component="flow"} 0.0' in text
    assert 'position_sync_drift_seconds{symbol="ETH/USDT"} 0.0' in text
    assert 'order_resends_total{symbol="BTC/USDT"} 0.0' in text
    assert "admin_login_failures_total 0.0" in text
    assert 'alerts_failed_total{channel="telegram"} 0.0' in text
    assert "backup_last_success_timestamp_seconds 0.0" in text
    # files went to DATA_DIR/prometheus, nowhere else
    assert list((tmp_path / "data" / "prometheus").glob("*.db"))


def test_gunicorn_serves_the_workers_metrics_from_data_dir(tmp_path):
    """gunicorn's master starts before the settings load; its metrics folder must still be DATA_DIR's, the
    one the Celery worker writes to, so the web process serves the worker's counts."""
    port = free_port()
    env = fresh_env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1")
    assert "PROMETHEUS_MULTIPROC_DIR" not in env
    assert manage(env, "migrate", "--noinput", "-v0").returncode == 0
    web_log = (tmp_path / "web.log").open("w")
    worker_log = (tmp_path / "worker.log").open("w")
    web = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "tradebot.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "celery_app", "worker", "--pool=solo", "-l", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    wanted = 'celery_task_runs_total{state="SUCCESS",task="monitoring.health_check"} 1.0'
    try:
        scrape(f"http://127.0.0.1:{port}/metrics")
        sent = manage(env, "shell", "-c", "from apps.operations.tasks import health_check; health_check.delay()")
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 120
        text = ""
        while wanted not in text:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(1)
            text = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop(worker)
        stop(web)
        web_log.close()
        worker_log.close()
    exported = families_with_samples(text)
    assert set(metrics.declared()) <= set(exported)
    folder = tmp_path / "data" / "prometheus"
    assert list(folder.glob("*.db")), "the metric files are under DATA_DIR/prometheus"
