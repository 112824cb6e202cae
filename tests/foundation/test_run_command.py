"""The README's run command (`bash scripts/run`) brings up simulator, worker, beat and web on the embedded
default, serves the admin and the API, and stops everything on SIGTERM."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_run_command_serves_the_admin_and_stops_cleanly(tmp_path):
    web, sim = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tradebot.sqlite3'}",
        "GUNICORN_BIND": f"127.0.0.1:{web}",
        "SIMULATOR_PORT": str(sim),
        "ADMIN_PASSWORD": "run-test-password-1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(
        ["bash", "scripts/run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while "tradebot is running" not in (tmp_path / "run.log").read_text():
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        output = (tmp_path / "run.log").read_text()
        assert f"http://127.0.0.1:{web}/admin/" in output
        assert "operator 'admin' created" in output

        for _ in range(60):
            try:
                status, page = get(f"http://127.0.0.1:{web}/admin/login/")
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200 and "tradebot" in page
        status, body = get(f"http://127.0.0.1:{web}/health")
        assert status == 200 and '"ok"' in body
        status, body = get(f"http://127.0.0.1:{web}/api/orders")
        assert status == 401
        status, body = get(f"http://127.0.0.1:{sim}/_control/state")
        assert status == 200
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        log.close()
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{web}/health")
