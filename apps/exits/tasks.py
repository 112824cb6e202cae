"""The protective-exit pass on Celery beat (every EXITS_CHECK_INTERVAL_SEC, see apps.operations.schedule)."""

from celery import shared_task

from apps.audit.actors import Actor


@shared_task(name="exits.check", acks_late=True)
def exits_check_task() -> dict:
    from apps.exchange.services import get_broker
    from apps.exits.services import exits_check

    return exits_check(broker=get_broker(), actor=Actor.system("exits")).as_dict()
