from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from apps.monitoring import metrics

SEED_NAMES = [
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
]


def test_at_least_fifty_families():
    assert len(metrics.families()) >= 50


@pytest.mark.django_db
def test_seed_names_are_on_the_metrics_page():
    metrics.ORDERS_SUCCESS.labels(side="buy", origin="signal").inc()
    metrics.ORDERS_FAIL.labels(reason="test").inc()
    metrics.RISK_BLOCKS.labels(rule="max_positions").inc()
    metrics.set_breaker_state("gateio:public", "closed")
    metrics.PERF_BUDGET_EXCEEDED.labels(component="decision").inc(0)
    for family in (metrics.SLIPPAGE_ACTUAL, metrics.SLIPPAGE_EXPECTED):
        family.labels(side="buy").observe(1)
    for name in ("EXITS_TRIGGERED", "RECONCILIATION_ERRORS"):
        getattr(metrics, name).labels("x").inc()
    metrics.PNL_DIFF.labels(symbol="BTC/USDT").set(0)
    metrics.POSITION_SYNC_DRIFT.labels(symbol="BTC/USDT").set(1)
    metrics.GRACEFUL_SHUTDOWN.labels(process="test").observe(1)
    metrics.LATENCY_DECISION.observe(0.1)
    metrics.LATENCY_ORDER.observe(0.1)
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        text = Client().get("/metrics").content.decode()
    for name in SEED_NAMES:
        assert f"\n{name}" in text or f"# TYPE {name}" in text, name
    assert 'circuit_breaker_state{name="gateio:public",state="closed"}' in text
    assert "django_http_requests" in text  # django-prometheus' own families are served too


def test_family_lookup_by_exposed_name():
    assert metrics.family("orders_success_total") is metrics.ORDERS_SUCCESS
    assert metrics.telegram_alerts_total is metrics.TELEGRAM_ALERTS


@pytest.mark.django_db
def test_going_over_the_budget_counts_and_warns(caplog):
    before = metrics.PERF_BUDGET_EXCEEDED.labels(component="order")._value.get()
    with override_settings(PERF_BUDGET_ORDER_P99_MS=100), caplog.at_level(logging.WARNING):
        assert metrics.observe_latency("order", 0.25, breakdown={"send": 0.2, "record": 0.05}, symbol="BTC/USDT")
        assert not metrics.observe_latency("order", 0.05)
    assert metrics.PERF_BUDGET_EXCEEDED.labels(component="order")._value.get() == before + 1
    record = next(r for r in caplog.records if "over its" in r.getMessage())
    assert record.breakdown_ms == {"send": 200.0, "record": 50.0} and record.symbol == "BTC/USDT"


def test_timed_records_steps():
    with override_settings(PERF_BUDGET_DECISION_P99_MS=600000), metrics.timed("decision") as timer:
        timer.step("candles")
    assert "candles" in timer.steps and timer.exceeded is False and timer.elapsed >= 0


_CHILD = """
import os, sys
from prometheus_client import Counter, Histogram
c = Counter("orders_success", "x", ["side", "origin"])
h = Histogram("latency_decision_seconds", "x")
for _ in range(int(sys.argv[1])):
    c.labels(side="buy", origin="signal").inc()
    h.observe(0.01)
"""


def test_counts_from_two_processes_add_up(tmp_path: Path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, str(n)], env=env) for n in (7, 5)]
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    reader = (
        "from prometheus_client import CollectorRegistry, generate_latest, multiprocess\n"
        "r = CollectorRegistry(); multiprocess.MultiProcessCollector(r); print(generate_latest(r).decode())"
    )
    text = subprocess.run([sys.executable, "-c", reader], env=env, capture_output=True, text=True, check=True).stdout
    assert 'orders_success_total{origin="signal",side="buy"} 12.0' in text
    assert "latency_decision_seconds_count 12.0" in text


def test_dead_process_files_are_cleaned(tmp_path: Path):
    from apps.monitoring.multiproc import clean_dead

    (tmp_path / "counter_999999.db").write_bytes(b"")
    (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"")
    assert clean_dead(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"counter_{os.getpid()}.db"]


def test_multiprocess_mode_is_on_by_default():
    from prometheus_client import values

    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    assert values.ValueClass.__qualname__.startswith("MultiProcessValue")
