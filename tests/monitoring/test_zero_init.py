"""The declared label values behind "every family from the first scrape" (issue 17, item 1): every family
declares them, they match the code that writes the labels, and zeroing never hides a real value."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import Counter

from apps.monitoring import metrics

ROOT = Path(__file__).resolve().parents[2]


def test_every_family_declares_its_label_values():
    assert metrics.families() == sorted(metrics.declared())


def test_declare_refuses_a_label_without_values():
    with pytest.raises(ValueError, match="exactly its labels"):
        metrics.declare(Counter("zz_test_undeclared", "x", ["side", "symbol"]), side=metrics.SIDES)


def test_every_labelled_family_has_values_to_start_with():
    empty = {name: labels for name, labels in metrics.declared().items() if any(not v for v in labels.values())}
    assert empty == {}


def test_the_agreed_new_families_exist():
    # COMMON.md: names agreed between the engineers of this session
    for name in (
        "order_resends_total",
        "admin_login_failures_total",
        "alerts_failed_total",
        "backup_last_success_timestamp_seconds",
    ):
        assert metrics.family(name) is not None, name
    assert metrics.declared()["order_resends"] == {"symbol": list(metrics._symbols())}
    assert metrics.declared()["alerts_failed"] == {"channel": ["telegram"]}


def test_declared_values_match_the_code():
    from apps.exchange.breaker import ENDPOINT_CLASSES
    from apps.exits.models import ProtectiveExit
    from apps.monitoring.health import CHECKS
    from apps.reconciliation.models import Discrepancy, ReconciliationRun
    from apps.risk.rules import DEFAULT_RULES
    from apps.risk.services import DRAWDOWN_RULE
    from apps.telegram_bot.alerts import AlertKind
    from apps.telegram_bot.parsing import USAGE
    from apps.trading.models import Origin

    assert set(metrics.RISK_RULES) == {rule.name for rule in DEFAULT_RULES} | {DRAWDOWN_RULE}
    assert metrics.HEALTH_COMPONENTS == tuple(CHECKS)
    assert metrics.ENDPOINT_CLASSES == tuple(ENDPOINT_CLASSES)
    assert set(metrics.ORIGINS) == set(Origin.values)
    assert set(metrics.EXIT_REASONS) == set(ProtectiveExit.Reason.values)
    assert set(metrics.DISCREPANCY_KINDS) == set(Discrepancy.Kind.values)
    assert set(metrics.DISCREPANCY_SEVERITIES) == set(Discrepancy.Severity.values)
    assert set(metrics.RECONCILIATION_STATUSES) == set(ReconciliationRun.Status.values) - {"running"}
    assert set(metrics.ALERT_KINDS) == {kind.value for kind in AlertKind}
    assert set(metrics.TELEGRAM_COMMAND_NAMES) == set(USAGE)


def test_declared_task_names_are_the_registered_tasks():
    from celery_app import app

    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == set(metrics.TASKS)


def test_beat_lag_is_declared_for_every_schedule_entry():
    from apps.operations.schedule import schedule_entries

    assert metrics.declared()["celery_beat_lag_seconds"]["task"] == [e.name for e in schedule_entries()]


_WRITER = """
import sys
from apps.monitoring import metrics
metrics.set_breaker_state("gateio:public", "open")
metrics.EQUITY_DRAWDOWN_PCT.set(4.5)
print("written")
"""
_STARTER = """
from apps.monitoring import metrics
print(metrics.init_zero())
"""
_READER = """
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
r = CollectorRegistry(); multiprocess.MultiProcessCollector(r); print(generate_latest(r).decode())
"""


def test_a_process_starting_later_never_hides_a_value_another_wrote(tmp_path):
    """mostrecent gauges keep the newest write: init_zero's zeros carry the epoch's timestamp, so they lose
    to any real value (a fresh web worker must not report an open breaker as closed)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for script in (_WRITER, _STARTER):
        subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True, capture_output=True)
    text = subprocess.run([sys.executable, "-c", _READER], env=env, capture_output=True, text=True, check=True).stdout
    assert 'circuit_breaker_state{name="gateio:public",state="open"} 1.0' in text
    assert 'circuit_breaker_state{name="gateio:private_orders",state="open"} 0.0' in text
    assert "equity_drawdown_pct 4.5" in text
    assert "protective_exits_stuck 0.0" in text  # zeroed, and exported


@pytest.mark.django_db
def test_order_transitions_count_in_the_order_families(make_order, django_capture_on_commit_callbacks):
    from apps.trading.services import order_transition

    def value(family, **labels):
        return family.labels(**labels)._value.get() if labels else family._value.get()

    before = {
        "submitted": value(metrics.ORDERS_SUBMITTED, side="buy", type="limit"),
        "success": value(metrics.ORDERS_SUCCESS, side="buy", origin="signal"),
        "filled": value(metrics.ORDERS_FILLED, side="buy", origin="signal"),
        "rejected": value(metrics.ORDERS_REJECTED, reason="not_sent"),
        "fail": value(metrics.ORDERS_FAIL, reason="rejected"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(origin="signal")
        order = order_transition(order_id=order.pk, to="submitted")
        order = order_transition(order_id=order.pk, to="open")
        order_transition(order_id=order.pk, to="filled", filled=Decimal("0.01"))
        refused = make_order(origin="signal", client_order_id="t-tb-refused-before-send-01")
        order_transition(order_id=refused.pk, to="rejected")
    assert value(metrics.ORDERS_SUBMITTED, side="buy", type="limit") == before["submitted"] + 1
    assert value(metrics.ORDERS_SUCCESS, side="buy", origin="signal") == before["success"] + 1
    assert value(metrics.ORDERS_FILLED, side="buy", origin="signal") == before["filled"] + 1
    assert value(metrics.ORDERS_REJECTED, reason="not_sent") == before["rejected"] + 1
    assert value(metrics.ORDERS_FAIL, reason="rejected") == before["fail"] + 1


def test_metric_files_are_named_by_pid_and_host():
    """Containers sharing the metrics folder number their processes from 1: the host keeps the files apart."""
    from apps.monitoring import multiproc

    metrics.ADMIN_LOGIN_FAILURES.inc(0)
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert (folder / f"counter_{multiproc.identifier()}.db").exists()
    assert "_" not in multiproc.identifier()  # prometheus_client splits file names on "_"


def test_cleaning_leaves_other_hosts_files_alone(tmp_path):
    from apps.monitoring.multiproc import clean_dead, host_tag

    mine_dead = tmp_path / f"counter_999999-{host_tag()}.db"
    mine_alive = tmp_path / f"counter_{os.getpid()}-{host_tag()}.db"
    other_host = tmp_path / "counter_999999-worker-container-2.db"
    for path in (mine_dead, mine_alive, other_host):
        path.write_bytes(b"")
    assert clean_dead(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine_alive.name, other_host.name])


def test_limiter_counters_reach_their_families():
    """The limiter counts per process; sync_limiter_counters moves the deltas into the Prometheus families
    (calls let through give the dashboard's rate-limit usage against the budget)."""
    from apps.exchange import limiter

    family = metrics.RATE_LIMITER_CALLS.labels(bucket="gateio")
    limiter.sync_limiter_counters()
    before = family._value.get()
    limiter._count("gateio", 0.0)
    limiter._count("gateio", 0.25)
    limiter.sync_limiter_counters()
    limiter.sync_limiter_counters()  # a second sync adds nothing
    assert family._value.get() == before + 2


def test_declared_telegram_command_outcomes_are_the_ones_the_handlers_produce():
    """No zero-initialised outcome that no code writes (a "not_available" series that never moves)."""
    import ast

    tree = ast.parse((ROOT / "apps/telegram_bot/handlers.py").read_text())
    written = {
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "outcome" for t in node.targets)
        and isinstance(node.value, ast.Constant)
    }
    assert set(metrics.TELEGRAM_COMMAND_OUTCOMES) == written
