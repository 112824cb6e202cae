"""The conformance module pointed at another server (GATEIO_CONFORMANCE_URL): it passes against a server that
keeps Gate.io's rules and names the rule a lenient server breaks.

The "other server" is the simulator run as its own process (`manage.py simulate_exchange`), once as shipped and
once with the open-orders limit silently clamped to 100, the leniency issue 10 started from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_conformance_against(*switches: str) -> subprocess.CompletedProcess[str]:
    server = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_exchange", "--port", "0", "--tick-sec", "0", "--json"]
        + ["--balance", "USDT=10000,BTC=1", "--api-key", "other-key", "--api-secret", "other-secret"]
        + [arg for switch in switches for arg in ("--set", switch)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = json.loads(server.stdout.readline())["url"]
        env = {
            **os.environ,
            "GATEIO_CONFORMANCE_URL": url,
            "GATEIO_CONFORMANCE_KEY": "other-key",
            "GATEIO_CONFORMANCE_SECRET": "other-secret",
        }
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/exchange/test_conformance.py"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
def test_conformance_passes_against_a_server_that_keeps_the_rules():
    result = _run_conformance_against()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 skipped" in result.stdout  # the test that seeds history needs the bundled simulator


@pytest.mark.slow
def test_conformance_names_the_rule_a_clamping_server_breaks():
    result = _run_conformance_against("open_limit_over_max=clamp")
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "test_open_list_refuses_a_limit_over_100" in failed[0], result.stdout[-3000:]
