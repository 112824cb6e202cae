"""The periodic equity check for the drawdown stop (on the beat schedule, see apps.operations.schedule)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from apps.exchange import services as exchange_services
from apps.operations.periodic import run_periodic
from apps.operations.shutdown import interruptible
from apps.risk.services import drawdown_check


@shared_task(name="risk.drawdown_check", acks_late=True)
def drawdown_check_task() -> dict[str, Any]:
    """Measure equity with the process's broker and update the drawdown stop; returns the state."""

    def work():
        with interruptible():  # equity is read before anything is written: a stopping worker may cut it
            return drawdown_check(broker=exchange_services.get_broker(), now=timezone.now())

    state = run_periodic("risk.drawdown_check", work)
    if state is None:
        return {"skipped": True}
    return {k: str(v) for k, v in state.details().items()} | {
        "breached": state.breached,
        "halted_now": state.halted_now,
    }
