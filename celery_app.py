"""The Celery application, configured from Django settings (namespace CELERY)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")

app = Celery("tradebot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _refuse_unreachable(**_: object) -> None:
    from apps.operations.preflight import require_services

    require_services("worker")


# The worker refuses to start (exit 2, naming DATABASE_URL or REDIS_URL) when a service cannot be reached;
# beat does the same in its scheduler (apps.operations.beat), before its first query.
signals.worker_init.connect(_refuse_unreachable, weak=False)
