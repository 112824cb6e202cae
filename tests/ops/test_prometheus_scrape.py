"""ops/prometheus/prometheus.yml against a real Prometheus and a real web process (issue 17, item 3): with
METRICS_TOKEN set, Prometheus authenticates with the token file, scrapes every family and loads the rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.monitoring.test_first_scrape import fresh_env, manage, stop
from tests.ops.promql import PROMETHEUS_DIR, alert_rules

pytestmark = pytest.mark.slow
TOKEN = "prometheus-scrape-token-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(base: str, promql: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())["data"]["result"]


def rules(base: str) -> dict[str, dict]:
    with urllib.request.urlopen(f"{base}/api/v1/rules?type=alert", timeout=10) as response:
        groups = json.loads(response.read())["data"]["groups"]
    return {rule["name"]: rule for group in groups for rule in group["rules"]}


def test_prometheus_scrapes_web_with_the_token_and_loads_the_rules(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("prometheus is missing: apt-get install prometheus")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    web_port, prom_port = free_port(), free_port()
    env = fresh_env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{web_port}", WEB_CONCURRENCY="1", METRICS_TOKEN=TOKEN)
    assert manage(env, "migrate", "--noinput", "-v0").returncode == 0

    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    (job,) = config["scrape_configs"]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{web_port}"]
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(PROMETHEUS_DIR / "alerts.yml", folder / "alerts.yml")
    (folder / job["authorization"]["credentials_file"]).write_text(TOKEN + "\n")

    web_log, prom_log = (tmp_path / "web.log").open("w"), (tmp_path / "prometheus.log").open("w")
    web = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "tradebot.wsgi"],
        cwd=PROMETHEUS_DIR.parents[1],
        env=env,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    prometheus = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=prom_log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{prom_port}"
    try:
        deadline = time.monotonic() + 120
        up: list[dict] = []
        while not (up and up[0]["value"][1] == "1"):
            assert prometheus.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, (up, (tmp_path / "prometheus.log").read_text()[-2000:])
            time.sleep(1)
            try:
                up = query(base, 'up{job="tradebot"}')
            except OSError:
                up = []
        # the endpoint does need the token: Prometheus got in with the credentials file
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=10)
        assert refused.value.code == 401
        # every family, zero or not, reached Prometheus through the token-protected endpoint
        assert query(base, 'risk_blocks_total{rule="max_drawdown"}')[0]["value"][1] == "0"
        assert query(base, 'circuit_breaker_state{name="gateio:public",state="open"}')
        assert query(base, 'performance_budget_seconds{component="order"}')[0]["value"][1] == "3"
        loaded = rules(base)
        assert set(loaded) == {rule["alert"] for rule in alert_rules()}
        # pending while web was starting; inactive once the scrapes succeed
        deadline = time.monotonic() + 60
        while rules(base)["TradingSystemDown"]["state"] != "inactive":
            assert time.monotonic() < deadline, rules(base)["TradingSystemDown"]
            time.sleep(1)
    finally:
        stop(prometheus)
        stop(web)
        web_log.close()
        prom_log.close()
