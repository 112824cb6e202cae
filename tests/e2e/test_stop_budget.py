"""Issue 11, row "SIGTERM to a busy worker": a real worker stops within 30 s, whatever periodic task it is in.

Celery's warm shutdown waits for the running task without bound (the 25 s soft-shutdown setting only acts on
a cold shutdown), so each task must end by itself well inside the budget: exchange calls have timeouts,
retries and limiter waits stop once a stop is requested, and reconciliation ends at its next exchange request.
Every exchange answer here takes seconds (simulator latency): a reconciliation of two symbols needs more than
30 s of them, and used to run to its end.
"""

from __future__ import annotations

import os
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
    from apps.trading.venues import Venue

    entry = sim.price(SYMBOL)
    position = Position.objects.create(
        venue=Venue.LIVE,  # the workers trade MODE=live
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


# task -> (run record name, kwargs, set-up)
TASKS = {
    "trading.cycle": (f"trading.cycle:{SYMBOL}", {"symbol": SYMBOL, "timeframe": "1m"}, None),
    "exits.check": ("exits.check", {}, _armed_exit_below_its_stop),
    "reconciliation.reconcile": ("reconciliation.reconcile", {}, None),
    "risk.drawdown_check": ("risk.drawdown_check", {}, None),
    "monitoring.health_check": ("monitoring.health_check", {}, None),
    "operations.backup_db": ("operations.backup_db", {}, None),
}
LATENCY_MS = 6000  # every exchange answer: two symbols' reconciliation needs more than 30 s of them


def test_sigterm_in_the_middle_of_each_periodic_task_stops_its_worker_within_30s(
    require_postgres, e2e_env, producer, workers, tmp_path
):
    """One worker per task, all SIGTERMed at once while each is in its task (PostgreSQL run only: the
    stop path does not depend on the database flavour)."""
    sim, _clock = uptrend_simulator()
    server = SimulatorServer(sim, port=0).start()
    try:
        env = e2e_env(
            server,
            SYMBOLS=f"{SYMBOL},ETH/USDT",
            DATA_DIR=str(tmp_path / "data"),
            DB_BACKUP_DIR=str(tmp_path / "backups"),
        )
        for _, _, set_up in TASKS.values():
            if set_up is not None:
                set_up(sim)
        started = {task: workers(env, queues=f"stop-{task}", wait=False) for task in TASKS}
        for worker in started.values():
            worker.wait_ready()
        sim.faults.set("*", latency_ms=LATENCY_MS)
        app = producer(env)
        for task, (_, kwargs, _) in TASKS.items():
            app.send_task(task, kwargs=kwargs, queue=f"stop-{task}")
        names = [name for name, _, _ in TASKS.values()]
        slow = [name for name in names if name != "operations.backup_db"]  # a backup may be done in a second
        wait_for(
            lambda: (
                TaskRun.objects.filter(name__in=slow, last_status="running").count() == len(slow)
                and TaskRun.objects.filter(name="operations.backup_db", last_started_at__isnull=False).exists()
            ),
            timeout=90,
            what="every task running",
        )
        time.sleep(1.5)  # well inside their exchange calls

        signalled = time.monotonic()
        for worker in started.values():
            os.kill(worker.proc.pid, signal.SIGTERM)
        took: dict[str, float] = {}
        while len(took) < len(started) and time.monotonic() - signalled < 90:
            for task, worker in started.items():
                if task not in took and worker.proc.poll() is not None:
                    took[task] = time.monotonic() - signalled
            time.sleep(0.1)
        for task in sorted(took):
            print(f"{task}: worker stopped {took[task]:.1f} s after SIGTERM")
        assert set(took) == set(TASKS), f"still running after 90 s: {set(TASKS) - set(took)}"
        assert all(seconds < BUDGET_SEC for seconds in took.values()), took
        assert TaskRun.objects.get(name="exits.check").last_status in ("ok", "interrupted")
        for name in names:
            record = TaskRun.objects.get(name=name)
            assert record.last_status in ("ok", "interrupted"), (name, record.last_status, record.last_error)
    finally:
        server.stop()
