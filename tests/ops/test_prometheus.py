"""ops/prometheus: the alert rules pass promtool's checks and unit tests, every metric they read is defined,
and the scrape configuration is valid (issue 17, items 2 and 3)."""

from __future__ import annotations

import shutil

import yaml

from tests.ops.promql import PROMETHEUS_DIR, alert_rules, metric_names, run_promtool, undefined

# The original product README's alerts with their durations (shared/seed, "Alerts (Prometheus)").
SEED_ALERTS = {
    "TradingSystemDown": "1m",
    "OrderReconciliationFailed": "2m",
    "ProtectiveExitStuck": "5m",
    "DrawdownLimitExceeded": "1m",
    "HighOrderLatency": "5m",
    "CircuitBreakerOpen": "1m",
    "PositionSyncLost": "10m",
}


def test_promtool_check_rules_passes():
    result = run_promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass():
    tests = sorted(p.name for p in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests, "no promtool test files"
    result = run_promtool("test", "rules", *(f"tests/{name}" for name in tests))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def test_at_least_twenty_rules_each_with_severity_summary_and_runbook():
    rules = alert_rules()
    assert len(rules) >= 20
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"].get(key, "").strip(), (rule["alert"], key)


def test_the_seed_alerts_exist_with_their_durations():
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    assert {name: by_name[name].get("for") for name in SEED_ALERTS} == SEED_ALERTS


def test_each_seed_alert_is_unit_tested_before_and_after_its_duration():
    tests = yaml.safe_load((PROMETHEUS_DIR / "tests" / "named_alerts.yml").read_text())["tests"]
    for name in SEED_ALERTS:
        checks = [c for test in tests for c in test["alert_rule_test"] if c["alertname"] == name]
        assert any(c["exp_alerts"] == [] for c in checks), f"{name}: no check that it is quiet before its duration"
        assert any(c["exp_alerts"] for c in checks), f"{name}: no check that it fires"


def test_every_rule_is_unit_tested_firing():
    fired = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            fired |= {c["alertname"] for c in test.get("alert_rule_test", []) if c["exp_alerts"]}
    assert {rule["alert"] for rule in alert_rules()} <= fired


def test_the_issue_areas_have_rules():
    used = set()
    for rule in alert_rules():
        used |= metric_names(rule["expr"])
    for metric in (
        "reconciliation_last_success_timestamp_seconds",  # reconciliation freshness
        "protective_exits_stuck",
        "equity_drawdown_pct",  # drawdown stop
        "circuit_breaker_state",
        "celery_beat_lag_seconds",
        "celery_task_last_success_timestamp_seconds",  # worker missing
        "orders_rejected_total",
        "order_resends_total",  # lost-answer re-sends
        "rate_limiter_waits_total",
        "performance_budget_exceeded_total",
        "backup_last_success_timestamp_seconds",
        "health_component_status",
        "telegram_alerts_total",
    ):
        assert metric in used, metric


def test_every_metric_a_rule_reads_is_defined():
    missing = {rule["alert"]: undefined(metric_names(rule["expr"])) for rule in alert_rules()}
    assert {name: names for name, names in missing.items() if names} == {}


def test_metric_name_extraction_sees_through_promql():
    expr = 'sum by (le) (rate(x_bucket{le="1", a=~"b|c"}[5m])) > on() max(y{component="order"}) and time() - z'
    assert metric_names(expr) == {"x_bucket", "y", "z"}
    assert undefined({"orders_fail_total", "latency_order_execution_seconds_bucket", "up", "nope_total"}) == {
        "nope_total"
    }


def test_prometheus_config_is_valid_and_scrapes_web_with_the_token(tmp_path):
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "tradebot"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    assert job["static_configs"][0]["targets"] == ["web:8000"]
    assert config["rule_files"] == ["alerts.yml"]
    # promtool checks that the credentials file exists: check a copy with a token beside it
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(PROMETHEUS_DIR / name, tmp_path / name)
    (tmp_path / job["authorization"]["credentials_file"]).write_text("metrics-token\n")
    result = run_promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_explains_every_alert():
    readme = (PROMETHEUS_DIR.parents[1] / "README.md").read_text()
    section = readme.split("\n## Monitoring and alerting\n", 1)[1].split("\n## ", 1)[0]
    for rule in alert_rules():
        row = next((line for line in section.splitlines() if line.startswith(f"| `{rule['alert']}` |")), None)
        assert row is not None, rule["alert"]
        assert rule["labels"]["severity"] in row, rule["alert"]
        if rule.get("for"):
            assert f"{rule['labels']['severity']}, {rule['for']}" in row, rule["alert"]
