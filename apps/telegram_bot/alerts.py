"""The Telegram channel of apps.notifications: alerts to the operators' chat (ALERT_TELEGRAM_CHAT_ID).

`alert_send` enqueues a Celery task and returns; the task de-duplicates (same key within
TELEGRAM_ALERT_DEDUPE_SEC), rate-limits (TELEGRAM_ALERT_RATE_PER_MIN for all processes together) and sends
with retries. A trading task calling `alert_send` is never failed by Telegram. When the broker refuses the
task (Redis down — the very outage to alert about), the alert is sent directly from the calling process
through the same gate, bounded to a few seconds; a failure counts in alerts_failed_total{channel}.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from apps.notifications import SEVERITIES
from apps.telegram_bot.alert_format import (
    TITLES,
    AlertKind,
    alert_dedupe_seconds,
    alert_key,
    alert_rate_per_minute,
    alert_text,
)
from apps.telegram_bot.metrics import metric_inc
from apps.telegram_bot.tasks import alert_deliver, alert_deliver_direct

logger = logging.getLogger(__name__)


def _enqueue(payload: dict) -> None:
    try:
        # retry=False: a broker that is down must not hold the caller in publish retries.
        alert_deliver.apply_async(kwargs=payload, retry=False)
    except Exception as exc:
        # The broker is down: the alert must not ride on it. Sent from here, through the same gate
        # (de-duplication and rate limit, in the database while Redis is away), one bounded attempt.
        logger.warning("telegram alert not enqueued (%s): sending it directly", type(exc).__name__)
        metric_inc("telegram_alerts_total", kind=payload["kind"], outcome="enqueue_failed")
        try:
            alert_deliver_direct(**payload)
        except Exception:
            logger.exception("telegram alert dropped: not enqueued and not sent", extra={"kind": payload["kind"]})
            metric_inc("alerts_failed_total", channel="telegram")
            metric_inc("telegram_alerts_dropped_total", reason="enqueue_failed")


def alert_send(*, kind: str, text: str, key: str | None = None, severity: str = "warning") -> bool:
    """Queue an alert for ALERT_TELEGRAM_CHAT_ID. Returns False when alerts are not configured. Never raises.

    Inside a database transaction the task is queued when it commits, so a rolled-back change alerts nobody.
    """
    try:
        if not settings.TELEGRAM_BOT_TOKEN or settings.ALERT_TELEGRAM_CHAT_ID is None:
            logger.debug("telegram alert not sent (TELEGRAM_BOT_TOKEN / ALERT_TELEGRAM_CHAT_ID unset): %s", kind)
            return False
        kind = str(kind)
        if severity not in SEVERITIES:
            severity = "warning"
        payload = {
            "kind": kind,
            "text": str(text),
            "key": alert_key(kind=kind, text=str(text), key=key),
            "severity": severity,
        }
        transaction.on_commit(lambda: _enqueue(payload), robust=True)
        return True
    except Exception:
        logger.exception("telegram alert dropped", extra={"kind": str(kind)})
        return False


def telegram_channel(*, kind: str, text: str, key: str | None, severity: str) -> bool:
    """The channel registered into apps.notifications (looked up here at each call, so tests can replace
    `alert_send`)."""
    return alert_send(kind=kind, text=text, key=key, severity=severity)


__all__ = [
    "TITLES",
    "AlertKind",
    "alert_dedupe_seconds",
    "alert_key",
    "alert_rate_per_minute",
    "alert_send",
    "alert_text",
    "telegram_channel",
]
