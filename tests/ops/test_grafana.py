"""ops/grafana: the dashboard's panels cover what the issue lists and every query reads defined metrics and is
valid PromQL (issue 17, item 3)."""

from __future__ import annotations

import json

import yaml

from tests.ops.promql import ROOT, metric_names, run_promtool, undefined

DASHBOARD = ROOT / "ops" / "grafana" / "dashboards" / "tradebot.json"


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def queries() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]


def test_every_panel_has_a_query():
    assert panels()
    for panel in panels():
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]


def test_every_query_reads_defined_metrics():
    missing = {title: undefined(metric_names(expr)) for title, expr in queries()}
    assert {title: names for title, names in missing.items() if names} == {}


def test_every_query_is_valid_promql(tmp_path):
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries())]
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", "queries.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_covers_the_issue_areas():
    used = set()
    for _, expr in queries():
        used |= metric_names(expr)
    areas = {
        "orders": "orders_submitted_total",
        "fills": "fills_recorded_total",
        "pnl": "pnl_realized_quote",
        "exits": "protective_exits_triggered_total",
        "reconciliation": "reconciliation_runs_total",
        "breakers": "circuit_breaker_state",
        "latency": "latency_order_execution_seconds_bucket",
        "budgets": "performance_budget_seconds",
        "rate limits": "rate_limiter_waits_total",
        "rate-limit usage": "rate_limiter_calls_total",
        "rate-limit budget": "rate_limit_budget_calls",
    }
    assert {area: metric for area, metric in areas.items() if metric not in used} == {}


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards():
    provisioning = ROOT / "ops" / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards" / "tradebot.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
