"""Issue 11, row "SIGTERM to a busy worker": a real worker stops within 30 s, whatever periodic task it is in.

Celery's warm shutdown waits for the running task without bound (the 25 s soft-shutdown setting only acts on
a cold shutdown), so each task must end by itself well inside the budget: exchange calls have timeouts,
retries and limiter waits stop once a stop is requested, and reconciliation ends at its next exchange request.
Every exchange answer here takes seconds (simulator latency): a reconciliation of two symbols needs more than
30 s of them, and used to run to its end.
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.exchange.simulator import SimulatorServer
from apps.operations.models import TaskRun
from tests.e2e.conftest import SYMBOL, uptrend_simulator, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
BUDGET_SEC = 30


def _armed_exit_below_its_stop(sim) -> None:
    from apps.exits.models import ProtectiveExit
    from apps.trading.models import Position

    entry = sim.price(SYMBOL)
    position = Position.objects.create(
        symbol=SYMBOL,
        status=Position.Status.OPEN,
        amount=Decimal("0.01"),
        average_entry_price=entry,
        cost_basis=Decimal("0.01") * entry,
        opened_at=timezone.now() - timedelta(hours=1),
    )
    ProtectiveExit.objects.create(
        position=position,
        symbol=SYMBOL,
        entry_price=entry,
        stop_loss_price=entry * Decimal("0.98"),
        take_profit_price=entry * Decimal("1.04"),
        armed_at=timezone.now(),
    )
    sim.set_balance("BTC", Decimal("0.01"))
    sim.set_price(SYMBOL, (entry * Decimal("0.97")).quantize(Decimal("0.1")))


# task -> (run record name, kwargs, simulator latency on every endpoint in ms, set-up)
TASKS = {
    "trading.cycle": (f"trading.cycle:{SYMBOL}", {"symbol": SYMBOL, "timeframe": "1m"}, 4000, None),
    "exits.check": ("exits.check", {}, 5000, _armed_exit_below_its_stop),
    "reconciliation.reconcile": ("reconciliation.reconcile", {}, 6000, None),
    "risk.drawdown_check": ("risk.drawdown_check", {}, 6000, None),
    "monitoring.health_check": ("monitoring.health_check", {}, 6000, None),
    "operations.backup_db": ("operations.backup_db", {}, 0, None),
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_sigterm_in_the_middle_of_each_periodic_task_stops_the_worker_within_30s(
    task, e2e_env, producer, workers, tmp_path
):
    run_name, kwargs, latency_ms, set_up = TASKS[task]
    sim, _clock = uptrend_simulator()
    server = SimulatorServer(sim, port=0).start()
    try:
        env = e2e_env(
            server,
            SYMBOLS=f"{SYMBOL},ETH/USDT",
            DATA_DIR=str(tmp_path / "data"),
            DB_BACKUP_DIR=str(tmp_path / "backups"),
        )
        if set_up is not None:
            set_up(sim)
        worker = workers(env)
        if latency_ms:
            sim.faults.set("*", latency_ms=latency_ms)
        producer(env).send_task(task, kwargs=kwargs)
        wait_for(
            lambda: TaskRun.objects.filter(name=run_name, last_status="running").exists(),
            timeout=60,
            what=f"{task} running",
        )
        time.sleep(1.5)  # well inside its first exchange call
        took = worker.stop(signal.SIGTERM, timeout=60)
        print(f"{task}: worker stopped {took:.1f} s after SIGTERM")
        assert took < BUDGET_SEC
        record = TaskRun.objects.get(name=run_name)
        assert record.last_status in ("ok", "interrupted"), (record.last_status, record.last_error)
    finally:
        server.stop()
