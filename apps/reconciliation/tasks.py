"""The periodic reconciliation task (the operations app wraps it as a singleton on the beat schedule)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.audit.actors import Actor


@shared_task(name="reconciliation.reconcile", acks_late=True)
def reconcile_task(trigger: str = "schedule") -> dict[str, Any]:
    """One pass with the process's broker; returns the run's summary."""
    from apps.exchange.services import get_broker
    from apps.reconciliation.selectors import run_summary
    from apps.reconciliation.services import reconcile

    return run_summary(reconcile(broker=get_broker(), actor=Actor.system("reconciliation"), trigger=trigger))
