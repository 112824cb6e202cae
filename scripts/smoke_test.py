"""The pre-deployment checklist as one command, against a running deployment (scripts/smoke_test.sh).

One line per check (`ok`, `FAIL` or `skip` and what was seen); exit 0 only when every check holds.
Standard library only, so it runs from any machine that can reach BASE_URL.

Settings (environment):
  SMOKE_API_TOKEN      a trade-scope API token; when empty, one is created with `manage.py create_api_token`
                       (works on the deployment's own machine, with its environment)
  METRICS_TOKEN        sent to /metrics when set
  SMOKE_SIMULATOR_URL  the simulator's control base (default: from GATEIO_API_URL, else http://127.0.0.1:8765);
                       when it answers, the protective exit is triggered by moving its price below the stop
  SMOKE_QUOTE          quote spent on the test entry (default 20)
  SMOKE_TIMEOUT        seconds to wait for the exit to be triggered by the worker (default 60)
  SMOKE_WORKER_MAX_AGE seconds since the worker last finished exits.check (default 120)
  SMOKE_SKIP_EXIT=1    do not place the test entry (a live deployment on real money)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The families the README lists under "Health, metrics and logs" (the seed's monitoring section)
README_FAMILIES = (
    "orders_success_total",
    "orders_fail_total",
    "position_sync_drift_seconds",
    "protective_exits_triggered_total",
    "slippage_actual_bps",
    "slippage_expected_bps",
    "pnl_calculated_vs_exchange_difference",
    "reconciliation_errors_total",
    "circuit_breaker_state",
    "graceful_shutdown_duration_seconds",
    "risk_blocks_total",
    "latency_decision_seconds",
    "latency_order_execution_seconds",
    "performance_budget_exceeded_total",
)
GATEIO_CALLS_PER_SEC = 30  # Gate.io spot: 300 calls / 10 s


class CheckFailed(Exception):
    pass


class Skip(Exception):
    pass


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, timeout: float = 30
    ) -> tuple[int, Any]:
        url = path if path.startswith("http") else self.base + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        bearer = self.token if token is None else token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except OSError as exc:
            raise CheckFailed(f"{method} {url}: {exc}") from exc
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


def api_token() -> str:
    token = os.environ.get("SMOKE_API_TOKEN", "").strip()
    if token:
        return token
    python = ROOT / ".venv" / "bin" / "python"
    command = [str(python if python.exists() else sys.executable), "manage.py", "create_api_token"]
    name = f"smoke-test-{time.strftime('%Y%m%d-%H%M%S')}"
    done = subprocess.run(
        [*command, name, "--scope", "trade", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"FAIL api token: set SMOKE_API_TOKEN (create_api_token failed: {done.stderr.strip()})")
    return json.loads(done.stdout)["token"]


def simulator_base() -> str:
    explicit = os.environ.get("SMOKE_SIMULATOR_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    url = os.environ.get("GATEIO_API_URL", "").strip()
    if url:
        return re.sub(r"/api/v4/?$", "", url.rstrip("/"))
    return f"http://127.0.0.1:{os.environ.get('SIMULATOR_PORT', '8765')}"


def parse_metrics(text: str) -> dict[str, list[tuple[str, float]]]:
    """Exposition text → family name (as exported) → [(labels, value)]; TYPE lines give the families."""
    families: dict[str, list[tuple[str, float]]] = {}
    kinds: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            kinds[name] = kind
            families.setdefault(name, [])
        elif line and not line.startswith("#"):
            match = re.match(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not match:
                continue
            sample, labels, value = match.group(1), match.group(2) or "", float(match.group(3))
            family = sample
            for suffix in ("_total", "_bucket", "_count", "_sum", "_created"):
                if sample.endswith(suffix) and sample[: -len(suffix)] in kinds:
                    family = sample[: -len(suffix)]
            families.setdefault(family, []).append((labels, value))
            if sample.endswith("_total"):
                families.setdefault(sample, []).append((labels, value))
    return families


class Smoke:
    def __init__(self, base: str) -> None:
        self.base = base
        self.client = Client(base, "")
        self.metrics: dict[str, list[tuple[str, float]]] = {}
        self.failed: list[str] = []
        self.worker_acted: str = ""  # set when the worker was seen doing something (the exit check)

    def check(self, name: str, run) -> None:
        try:
            detail = run()
        except Skip as exc:
            print(f"skip {name}: {exc}", flush=True)
            return
        except CheckFailed as exc:
            self.failed.append(name)
            print(f"FAIL {name}: {exc}", flush=True)
            return
        print(f"ok   {name}: {detail}", flush=True)

    # --- the checks --------------------------------------------------------------------------------------
    def health(self) -> str:
        status, body = self.client.call("GET", "/health", token="")
        if status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
            raise CheckFailed(f"GET /health answered {status} {body!r:.200}")
        return "GET /health 200 ok"

    def reconciliation(self) -> str:
        status, body = self.client.call("POST", "/api/reconcile", timeout=120)
        if status != 200 or not isinstance(body, dict):
            detail = body.get("error") or body.get("detail") if isinstance(body, dict) else body
            raise CheckFailed(f"POST /api/reconcile answered {status}: {detail!s:.300}")
        if body.get("status") not in ("ok", "discrepancies"):
            raise CheckFailed(f"run {body.get('id')} ended {body.get('status')}: {body.get('error')}")
        return (
            f"run {body['id']} {body['status']}: {body['checked']} checked, {body['fixed']} fixed, "
            f"{body['exchange_calls']} exchange calls"
        )

    def readiness(self) -> str:
        status, body = self.client.call("GET", "/health/ready")
        if not isinstance(body, dict) or "status" not in body:
            raise CheckFailed(f"GET /health/ready answered {status} {body!r:.200}")
        components = body.get("components") or {}
        bad = {name: c for name, c in components.items() if c.get("status") != "ok"}
        if status != 200 or body["status"] != "ok":
            notes = "; ".join(f"{name} {c.get('status')}: {c.get('detail')}" for name, c in bad.items())
            raise CheckFailed(f"{status} {body['status']}: {notes or 'no component detail (token?)'}")
        return f"status ok, {len(components)} components ok"

    def metrics_families(self) -> str:
        token = os.environ.get("METRICS_TOKEN", "")
        status, text = self.client.call("GET", "/metrics", token=token)
        if status != 200 or not isinstance(text, str):
            raise CheckFailed(f"GET /metrics answered {status} (METRICS_TOKEN set here?)")
        self.metrics = parse_metrics(text)
        with_samples = [name for name, samples in self.metrics.items() if samples]
        missing = [name for name in README_FAMILIES if not self.metrics.get(name)]
        if missing:
            raise CheckFailed(f"missing families: {', '.join(missing)}")
        if len(with_samples) < 50:
            raise CheckFailed(f"only {len(with_samples)} families exported (expected 50 or more)")
        return f"{len(with_samples)} families exported, every README family present"

    def _gauge(self, family: str, labels: str) -> float | None:
        for found, value in self.metrics.get(family, []):
            if labels in found:
                return value
        return None

    def rate_limits(self) -> str:
        calls = self._gauge("rate_limit_budget_calls", 'bucket="gateio"')
        period = self._gauge("rate_limit_budget_period_seconds", 'bucket="gateio"')
        if not calls or not period:
            raise CheckFailed("rate_limit_budget_calls / _period_seconds not exported")
        per_sec = calls / period
        if per_sec > GATEIO_CALLS_PER_SEC:
            raise CheckFailed(f"{calls:.0f} calls / {period:.0f} s is over Gate.io's 300 / 10 s")
        refused = sum(value for _, value in self.metrics.get("rate_limiter_rejected_total", []))
        if refused:
            raise CheckFailed(f"the limiter has refused {refused:.0f} calls (rate_limiter_rejected_total)")
        return f"gateio {calls:.0f} calls / {period:.0f} s shared by every process, no call refused"

    def graceful_shutdown(self) -> str:
        slow = sum(value for labels, value in self.metrics.get("graceful_shutdowns_total", []) if "slow" in labels)
        stops = sum(value for _, value in self.metrics.get("graceful_shutdowns_total", []))
        if slow:
            raise CheckFailed(f"{slow:.0f} of {stops:.0f} worker stops took longer than 30 s")
        return f"{stops:.0f} worker stops recorded, none over 30 s"

    def alert_rules(self) -> str:
        promtool = shutil.which("promtool")
        if promtool is None:
            raise CheckFailed("promtool not found (apt-get install prometheus)")
        done = subprocess.run(
            [promtool, "check", "rules", str(ROOT / "ops" / "prometheus" / "alerts.yml")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        found = re.search(r"SUCCESS: (\d+) rules found", done.stdout)
        if done.returncode != 0 or not found:
            raise CheckFailed((done.stdout + done.stderr).strip()[-300:])
        prometheus = os.environ.get("PROMETHEUS_URL", "").strip().rstrip("/")
        if not prometheus:
            return f"promtool: {found.group(1)} rules valid"
        status, body = self.client.call("GET", f"{prometheus}/api/v1/rules?type=alert", token="")
        loaded = {
            rule["name"]
            for group in (body.get("data", {}).get("groups", []) if isinstance(body, dict) else [])
            for rule in group["rules"]
        }
        if status != 200 or "TradingSystemDown" not in loaded:
            raise CheckFailed(f"{prometheus} has not loaded ops/prometheus/alerts.yml ({len(loaded)} alert rules)")
        return f"promtool: {found.group(1)} rules valid; {len(loaded)} loaded in {prometheus}"

    def protective_exit(self) -> str:
        if os.environ.get("SMOKE_SKIP_EXIT") == "1":
            raise Skip("SMOKE_SKIP_EXIT=1: no test entry placed")
        status, trading = self.client.call("GET", "/api/trading")
        if status != 200:
            raise CheckFailed(f"GET /api/trading answered {status}")
        simulator = simulator_base()
        on_simulator = self._simulator_state(simulator) is not None
        if trading.get("mode") == "live" and not on_simulator:
            raise CheckFailed("live on a real exchange: run this on paper or the simulator, or SMOKE_SKIP_EXIT=1")
        if not trading.get("entries_allowed"):
            raise CheckFailed(f"entries are refused ({trading.get('why')}): start with ENABLE_TRADING=true")
        symbol = (os.environ.get("SMOKE_SYMBOL") or "BTC/USDT").strip()
        quote = os.environ.get("SMOKE_QUOTE", "20")
        status, order = self.client.call(
            "POST", "/api/orders", {"symbol": symbol, "side": "buy", "type": "market", "quote_amount": quote}
        )
        if status not in (200, 201) or order.get("status") != "filled" or not order.get("position_id"):
            raise CheckFailed(f"test entry not filled: {status} {order!s:.300}")
        position = order["position_id"]
        exit_ = self._wait_exit(position, lambda e: e["status"] in ("armed", "triggered", "filled"), 15)
        if exit_ is None:
            raise CheckFailed(f"no protective exit armed for position {position}")
        if not on_simulator:
            status, closed = self.client.call("POST", f"/api/positions/{position}/close")
            if status not in (200, 201, 202):
                raise CheckFailed(f"POST /api/positions/{position}/close answered {status} {closed!s:.200}")
            done = self._wait_exit(position, lambda e: e["status"] in ("triggered", "filled"), 30)
            if done is None:
                raise CheckFailed(f"exit {exit_['id']} not triggered by the close")
            return f"exit {exit_['id']} armed and triggered ({done['trigger_reason']}, paper)"
        stop, entry = Decimal(exit_["stop_loss_price"]), Decimal(exit_["entry_price"])
        self._set_price(simulator, symbol, stop * Decimal("0.97"))
        try:
            timeout = float(os.environ.get("SMOKE_TIMEOUT", "60"))
            done = self._wait_exit(position, lambda e: e["status"] in ("triggered", "filled"), timeout)
        finally:
            self._set_price(simulator, symbol, entry)
        if done is None:
            raise CheckFailed(
                f"exit {exit_['id']} armed but not triggered {timeout:.0f} s after the price crossed its stop "
                "(is the Celery worker running?)"
            )
        self.worker_acted = f"it triggered exit {exit_['id']}"
        return f"exit {exit_['id']} armed at stop {stop}, triggered by the worker ({done['trigger_reason']})"

    def worker(self) -> str:
        token = os.environ.get("METRICS_TOKEN", "")
        status, text = self.client.call("GET", "/metrics", token=token)
        if status != 200 or not isinstance(text, str):
            raise CheckFailed(f"GET /metrics answered {status}")
        last = self._gauge_in(parse_metrics(text), "celery_task_last_success_timestamp_seconds", 'task="exits.check"')
        if not last and self.worker_acted:
            # its metric files are not shared with web (e.g. a platform without a shared DATA_DIR)
            return f"the worker's metrics are not in /metrics, but {self.worker_acted}"
        if not last:
            raise CheckFailed("no worker has finished exits.check yet")
        age = time.time() - last
        limit = float(os.environ.get("SMOKE_WORKER_MAX_AGE", "120"))
        if age > limit:
            raise CheckFailed(f"exits.check last finished {age:.0f} s ago (over {limit:.0f} s)")
        return f"exits.check finished {age:.0f} s ago"

    # --- helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _gauge_in(families: dict, family: str, labels: str) -> float | None:
        for found, value in families.get(family, []):
            if labels in found:
                return value
        return None

    def _simulator_state(self, base: str) -> Any:
        try:
            status, body = self.client.call("GET", f"{base}/_control/state", token="", timeout=5)
        except CheckFailed:
            return None
        return body if status == 200 else None

    def _set_price(self, base: str, symbol: str, price: Decimal) -> None:
        status, body = self.client.call(
            "POST", f"{base}/_control/price", {"symbol": symbol, "price": str(price)}, token=""
        )
        if status != 200:
            raise CheckFailed(f"simulator refused the price move: {status} {body!s:.200}")

    def _wait_exit(self, position: int, done, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            status, page = self.client.call("GET", "/api/exits?limit=200")
            if status == 200:
                for item in page.get("items", []):
                    if item["position_id"] == position and done(item):
                        return item
            if time.monotonic() > deadline:
                return None
            time.sleep(1)

    def run(self) -> int:
        print(f"smoke test of {self.base}", flush=True)
        self.check("health", self.health)
        self.client.token = api_token()
        self.check("reconciliation", self.reconciliation)
        self.check("readiness", self.readiness)
        self.check("metrics", self.metrics_families)
        self.check("rate limits", self.rate_limits)
        self.check("graceful shutdown", self.graceful_shutdown)
        self.check("alert rules", self.alert_rules)
        self.check("protective exit", self.protective_exit)
        self.check("worker", self.worker)
        if self.failed:
            print(f"FAILED: {', '.join(self.failed)}", flush=True)
            return 1
        print("all checks passed", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(Smoke(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000").run())
