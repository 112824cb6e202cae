"""Issue 11, Deliver 8: processes refuse to start when the database or Redis cannot be reached, naming the
variable; EXITS_ON_EXCHANGE defaults to true for MODE=live. Real processes: manage.py, celery worker and
beat, gunicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tradebot.config import load_config

ROOT = Path(__file__).resolve().parents[2]
# The processes are started with a database URL of their own: run once, in CI's PostgreSQL pass.
once = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="run once, in the PostgreSQL pass"
)


def cfg(**env):
    return load_config({"SECRET_KEY": "x" * 50, **env})


def test_exits_on_exchange_defaults_to_true_in_live_only():
    assert cfg(MODE="live").EXITS_ON_EXCHANGE is True
    assert cfg(MODE="paper").EXITS_ON_EXCHANGE is False
    assert cfg(MODE="live", EXITS_ON_EXCHANGE="false").EXITS_ON_EXCHANGE is False
    assert cfg(MODE="paper", EXITS_ON_EXCHANGE="true").EXITS_ON_EXCHANGE is True


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def run(cmd: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
        "GUNICORN_BIND": f"127.0.0.1:{closed_port()}",
    }
    return subprocess.run(cmd, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120, check=False)


BIN = Path(sys.executable).parent
PROCESSES = {
    "check_services": [sys.executable, "manage.py", "check_services"],
    "run": ["bash", "scripts/run"],  # the README's run command, before it migrates or starts anything
    "worker": [str(BIN / "celery"), "-A", "celery_app", "worker", "--pool=solo", "--without-mingle"],
    "beat": [str(BIN / "celery"), "-A", "celery_app", "beat"],
    "web": [str(BIN / "gunicorn"), "tradebot.wsgi"],
}


@once
@pytest.mark.slow
@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_an_unreachable_database_stops_the_process_naming_database_url(process, tmp_path):
    url = f"postgres://tradebot:secret@127.0.0.1:{closed_port()}/tradebot"
    result = run(PROCESSES[process], tmp_path, DATABASE_URL=url)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Configuration error: DATABASE_URL=" in output and "cannot be reached" in output
    assert "secret" not in output  # the password is not printed


@once
@pytest.mark.slow
@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_an_unreachable_redis_stops_the_process_naming_redis_url(process, tmp_path):
    result = run(PROCESSES[process], tmp_path, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Configuration error: REDIS_URL=" in output and "cannot be reached" in output


def test_check_services_passes_when_both_answer(tmp_path):
    env = {}
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    result = run([sys.executable, "manage.py", "check_services", "--json"], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert '"ok": true' in result.stdout
