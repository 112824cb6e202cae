"""The README's run command (`bash scripts/run`) as a newcomer runs it: real processes on a fresh DATA_DIR.

Each test starts the whole product (web, worker, beat and the bundled simulator) on ports of its own, on the
embedded default (SQLite in the data dir, the filesystem broker), with TIMEFRAME=1m, and reads what happened
from the product's database and the simulator's control endpoint. They take a minute or two each, so they run
in the PostgreSQL pass of CI only (the command itself uses its own SQLite database either way).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.processes import ROOT, free_port

# pytest's timeout above every budget below, so a run that misses its bound fails with its own message (the
# decisions made, the simulator's regimes and the logs), not a bare timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

START_BUDGET = 240  # seconds for the command to start everything on a loaded machine
TRADE_BUDGET = 600  # the bound: a signal order filled within 10 minutes (it takes 1-2 here)


class Run:
    """`bash scripts/run` in its own session, its output in a file."""

    def __init__(self, tmp: Path, **extra: str) -> None:
        self.data = tmp / "data"
        self.web_port = free_port()
        self.sim_port = free_port()
        self.out = tmp / "run.out"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATA_DIR": str(self.data),
            "DATABASE_URL": f"sqlite:///{self.data / 'tradebot.sqlite3'}",
            "REDIS_URL": "",
            "GUNICORN_BIND": f"127.0.0.1:{self.web_port}",
            "SIMULATOR_PORT": str(self.sim_port),
            "TIMEFRAME": "1m",
            "SYMBOLS": "BTC/USDT",
            "ADMIN_PASSWORD": "e2e-operator-pass-123",
            "WEB_CONCURRENCY": "1",
            "CELERY_CONCURRENCY": "1",
        }
        self.env.update(extra)
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> Run:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            ["bash", "scripts/run"],
            cwd=ROOT,
            env=self.env,
            stdout=self.out.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_running(self) -> float:
        """Seconds until the command says it is running."""
        assert self.proc is not None
        deadline = time.monotonic() + START_BUDGET
        while time.monotonic() < deadline:
            if "tradebot is running" in self.output():
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                raise AssertionError(f"scripts/run exited {self.proc.returncode}:\n{self.output()[-4000:]}")
            time.sleep(0.5)
        raise AssertionError(f"scripts/run did not start in {START_BUDGET} s:\n{self.output()[-4000:]}{self.logs()}")

    def logs(self) -> str:
        parts = []
        for log in sorted((self.data / "logs").glob("*.log")):
            parts.append(f"\n--- {log.name}\n{log.read_text(errors='replace')[-2500:]}")
        return "".join(parts)

    def query(self, sql: str) -> list[tuple]:
        db = self.data / "tradebot.sqlite3"
        if not db.exists():
            return []
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # not migrated yet, or busy
            return []
        finally:
            conn.close()

    def simulator_state(self) -> dict:
        url = f"http://127.0.0.1:{self.sim_port}/_control/state"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def wait_for(self, predicate, what: str, timeout: float = TRADE_BUDGET):
        assert self.proc is not None
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"scripts/run exited while waiting for {what}:\n{self.output()[-4000:]}")
            time.sleep(1)
        raise AssertionError(
            f"no {what} within {timeout} s:\n{self.output()[-3000:]}\n--- decisions\n{self.decisions()}\n"
            f"--- simulator regimes: {self._regimes()}{self.logs()}"
        )

    def decisions(self) -> str:
        rows = self.query("SELECT created_at, symbol, action, score, rule, regime, executed FROM signals_decision")
        return "\n".join(" ".join(str(value) for value in row) for row in rows) or "(none)"

    def _regimes(self) -> object:
        try:
            return self.simulator_state().get("regimes")
        except OSError as exc:
            return f"unreadable ({exc})"

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)  # the script only, as Ctrl-C (SIGINT) or systemd / kill (SIGTERM) do
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """Whatever is left of the command's session (its children included) gets SIGKILL."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(10)


@pytest.fixture
def run_command(tmp_path, require_postgres):
    runs: list[Run] = []

    def make(**extra: str) -> Run:
        run = Run(tmp_path / f"run{len(runs)}", **extra)
        run.data.parent.mkdir(parents=True, exist_ok=True)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.kill()


FILLED_ENTRY = (
    "SELECT o.id, o.status, o.exchange_order_id FROM trading_order o "
    "WHERE o.intent LIKE 'entry:%' AND o.status = 'filled' AND o.filled > 0"
)
SIGNAL_BUY = "SELECT id FROM signals_decision WHERE action = 'buy' AND executed"


def test_the_run_command_in_paper_mode_makes_a_signal_trade_on_a_fresh_data_dir(run_command):
    run = run_command(ENABLE_TRADING="true").start()
    up = run.wait_running()
    assert "MODE=paper, ENABLE_TRADING=true" in run.output()
    filled = run.wait_for(lambda: run.query(FILLED_ENTRY), "filled signal order (paper)")
    took = time.monotonic() - run.started
    print(f"\npaper: running after {up:.0f} s, first signal order filled after {took:.0f} s")
    assert run.query(SIGNAL_BUY), "the filled entry came from a buy decision"
    assert filled[0][2].startswith("paper-")  # the paper venue filled it, not the simulator
    assert run.simulator_state()["orders"] == 0  # in paper mode the simulator only serves prices

    assert run.stop(signal.SIGINT) == 0  # Ctrl-C
    out = run.output()
    assert out.rstrip().endswith("tradebot stopped.")
    assert "exited unexpectedly" not in out and "a tradebot process exited" not in out
    assert "schedule entries written: none" not in out


def test_the_run_command_in_live_mode_places_real_orders_on_the_bundled_simulator_and_names_a_process_that_dies(
    run_command,
):
    run = run_command(MODE="live", ENABLE_TRADING="true").start()
    up = run.wait_running()
    out = run.output()
    assert "MODE=live" in out and "live orders go there, not to Gate.io" in out
    assert "SECRET_KEY is not set: using a development key kept in" in out
    assert len((run.data / ".secret_key").read_text().strip()) >= 50

    def placed():
        return [o for o in run.simulator_state()["recent_orders"] if o["side"] == "buy" and o["text"].startswith("t-")]

    orders = run.wait_for(placed, "order placed on the simulator (live)")
    took = time.monotonic() - run.started
    print(f"\nlive: running after {up:.0f} s, first order on the simulator after {took:.0f} s: {orders[0]}")
    exchange_id = orders[0]["id"]
    row = run.wait_for(
        lambda: run.query(f"SELECT status FROM trading_order WHERE exchange_order_id = '{exchange_id}'"),
        "the simulator's order in tradebot's books",
    )
    assert row[0][0] in ("open", "partially_filled", "filled")

    # The simulator dies under the running product: the command names it, shows its log and stops the rest.
    os.kill(_pid_of(f"simulate_exchange --port {run.sim_port}"), signal.SIGKILL)
    assert run.proc is not None and run.proc.wait(90) == 1
    out = run.output()
    assert "the simulator process exited unexpectedly (exit code 137)" in out
    assert "Gate.io simulator serving" in out  # the tail of simulator.log
    assert "tradebot stopped after the simulator process failed" in out


def test_a_busy_port_is_reported_before_anything_starts_naming_the_variable(run_command):
    import socket

    run = run_command()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", run.web_port))
        taken.listen()
        run.start()
        assert run.proc is not None and run.proc.wait(180) == 1
    out = run.output()
    assert f"GUNICORN_BIND=127.0.0.1:{run.web_port} cannot be used" in out
    assert f"GUNICORN_BIND=127.0.0.1:{run.web_port + 1} bash scripts/run" in out
    assert "tradebot is running" not in out
    assert not (run.data / "tradebot.sqlite3").exists()  # nothing started, nothing written

    run = run_command()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", run.sim_port))
        taken.listen()
        run.start()
        assert run.proc is not None and run.proc.wait(180) == 1
    out = run.output()
    assert f"SIMULATOR_PORT={run.sim_port} cannot be used" in out and "tradebot is running" not in out


def _pid_of(needle: str) -> int:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline and "bash" not in cmdline.split(" ")[0]:
            return int(proc.name)
    raise AssertionError(f"no process runs {needle!r}")
