"""scripts/smoke_test.sh against the README's run command (issue 17, item 6): every check passes on a fresh
`ENABLE_TRADING=true bash scripts/run`, and the run fails naming the check once the Celery worker is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.foundation.test_run_command import free_port, get
from tests.ops.promql import promtool

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
CHECKS = (
    "health",
    "reconciliation",
    "readiness",
    "metrics",
    "rate limits",
    "graceful shutdown",
    "alert rules",
    "protective exit",
    "worker",
)


def descendants(pid: int) -> list[int]:
    """Processes below `pid` (from /proc), so the test signals only what it started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_smoke_test_passes_on_the_run_command_and_names_the_failed_check_without_a_worker(tmp_path):
    promtool()  # the alert-rules check needs it
    web, sim = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tradebot.sqlite3'}",
        "GUNICORN_BIND": f"127.0.0.1:{web}",
        "SIMULATOR_PORT": str(sim),
        "ADMIN_PASSWORD": "smoke-test-password-1",
        "ENABLE_TRADING": "true",
    }
    log = (tmp_path / "run.log").open("w+")
    run = subprocess.Popen(
        ["bash", "scripts/run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    stopped: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while "tradebot is running" not in (tmp_path / "run.log").read_text():
            assert run.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        for _ in range(120):
            try:
                get(f"http://127.0.0.1:{web}/health")
                break
            except OSError:
                time.sleep(0.5)
        base = f"http://127.0.0.1:{web}"

        passing = subprocess.run(
            ["bash", "scripts/smoke_test.sh", base], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400
        )
        lines = passing.stdout.splitlines()
        assert passing.returncode == 0, passing.stdout + passing.stderr
        for check in CHECKS:
            assert any(line.startswith(f"ok   {check}:") for line in lines), (check, passing.stdout)
        assert lines[-1] == "all checks passed"

        # stop the worker (SIGSTOP: it stays alive, so scripts/run keeps the rest running)
        workers = [p for p in descendants(run.pid) if "celery" in cmdline(p) and " worker" in cmdline(p)]
        assert workers, [cmdline(p) for p in descendants(run.pid)]
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        failing = subprocess.run(
            ["bash", "scripts/smoke_test.sh", base],
            cwd=ROOT,
            env={**env, "SMOKE_TIMEOUT": "25"},
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert failing.returncode == 1, failing.stdout + failing.stderr
        assert any(line.startswith("FAIL protective exit:") for line in failing.stdout.splitlines()), failing.stdout
        assert "is the Celery worker running?" in failing.stdout
        assert failing.stdout.splitlines()[-1].startswith("FAILED: ") and "protective exit" in failing.stdout
        assert "ok   health:" in failing.stdout  # the others still hold
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if run.poll() is None:
            os.kill(run.pid, signal.SIGTERM)
        try:
            run.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            raise
        log.close()
