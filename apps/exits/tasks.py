"""The protective-exit pass on Celery beat (every EXITS_CHECK_INTERVAL_SEC, see apps.operations.schedule)."""

from celery import shared_task

from apps.audit.actors import Actor
from apps.exchange import services as exchange_services
from apps.exits.services import exits_check
from apps.operations.periodic import run_periodic


@shared_task(name="exits.check", acks_late=True)
def exits_check_task() -> dict | None:
    result = run_periodic(
        "exits.check", lambda: exits_check(broker=exchange_services.get_broker(), actor=Actor.system("exits"))
    )
    return None if result is None else result.as_dict()
