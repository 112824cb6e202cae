"""Celery tasks of the Telegram bot: only the name alerts were queued under before delivery moved to
apps.notifications, so a message already in the broker at a deploy still runs (through the same code)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.notifications.delivery import MAX_RETRIES, deliver_run


@shared_task(
    bind=True, name="apps.telegram_bot.tasks.alert_deliver", max_retries=MAX_RETRIES, acks_late=True, ignore_result=True
)
def alert_deliver(self: Any, *, kind: str, text: str, key: str, severity: str = "warning") -> str:
    """The old name of notifications.deliver for the Telegram channel."""
    return deliver_run(self, channel="telegram", kind=kind, text=text, key=key, severity=severity)
