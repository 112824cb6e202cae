"""The periodic reconciliation task, a singleton on the beat schedule (see apps.operations.schedule)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.audit.actors import Actor
from apps.exchange import services as exchange_services
from apps.operations.periodic import run_periodic
from apps.reconciliation.selectors import run_summary
from apps.reconciliation.services import reconcile


@shared_task(name="reconciliation.reconcile", acks_late=True)
def reconcile_task(trigger: str = "schedule") -> dict[str, Any] | None:
    """One pass with the process's broker, once at a time across workers; returns the run's summary."""

    run = run_periodic(
        "reconciliation.reconcile",
        lambda: reconcile(broker=exchange_services.get_broker(), actor=Actor.system("reconciliation"), trigger=trigger),
    )
    return None if run is None else run_summary(run)
