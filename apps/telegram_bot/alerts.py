"""Alerts from the core to the operators' Telegram chat (ALERT_TELEGRAM_CHAT_ID).

`alert_send` enqueues a Celery task and returns; the task de-duplicates (same key within
TELEGRAM_ALERT_DEDUPE_SEC), rate-limits (TELEGRAM_ALERT_RATE_PER_MIN for all processes together) and sends
with retries. A trading task calling `alert_send` is never failed by Telegram. When the broker refuses the
task (Redis down — the very outage to alert about), the alert is sent directly from the calling process
through the same gate, bounded to a few seconds; a failure counts in alerts_failed_total{channel}.
"""

from __future__ import annotations

import hashlib
import logging
from enum import StrEnum

from django.conf import settings
from django.db import transaction

from apps.telegram_bot.metrics import metric_inc

logger = logging.getLogger(__name__)

DEFAULT_DEDUPE_SEC = 600
DEFAULT_RATE_PER_MIN = 20
SEVERITIES = ("info", "warning", "critical")


class AlertKind(StrEnum):
    DRAWDOWN_STOP = "drawdown_stop"
    EXIT_TRIGGERED = "exit_triggered"
    EXIT_FILLED = "exit_filled"
    RECONCILIATION_DISCREPANCY = "reconciliation_discrepancy"
    BREAKER_OPENED = "breaker_opened"
    BREAKER_CLOSED = "breaker_closed"
    HEALTH_DOWN = "health_down"
    HEALTH_UP = "health_up"


TITLES = {
    AlertKind.DRAWDOWN_STOP: "Drawdown stop: trading halted",
    AlertKind.EXIT_TRIGGERED: "Protective exit triggered",
    AlertKind.EXIT_FILLED: "Protective exit filled",
    AlertKind.RECONCILIATION_DISCREPANCY: "Reconciliation discrepancies",
    AlertKind.BREAKER_OPENED: "Circuit breaker opened",
    AlertKind.BREAKER_CLOSED: "Circuit breaker closed",
    AlertKind.HEALTH_DOWN: "Health: DOWN",
    AlertKind.HEALTH_UP: "Health: back up",
}
# Kinds the core sends beyond the list above get a title too; any other kind shows as its own name.
TITLES.update(
    {
        "reconciliation_failed": "Reconciliation failed",
        "exit_failed": "Protective exit failed",
        "exit_stuck": "Protective exit stuck",
        "exit_stop_gone": "Exchange-side stop missing",
        "exit_stop_fired_late": "Exchange-side stop fired",
    }
)
ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


def alert_dedupe_seconds() -> int:
    return int(getattr(settings, "TELEGRAM_ALERT_DEDUPE_SEC", DEFAULT_DEDUPE_SEC))


def alert_rate_per_minute() -> int:
    return int(getattr(settings, "TELEGRAM_ALERT_RATE_PER_MIN", DEFAULT_RATE_PER_MIN))


def alert_text(*, kind: str, text: str, severity: str) -> str:
    """The message as the chat sees it: icon, title, then the caller's text."""
    title = TITLES.get(kind, kind.replace("_", " ").capitalize())
    return f"{ICONS.get(severity, ICONS['warning'])} {title}\n{text}"[:4096]


def alert_key(*, kind: str, text: str, key: str | None) -> str:
    """The de-duplication key: the caller's, or the kind plus a digest of the text."""
    if key:
        return f"{kind}:{key}"
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def _enqueue(payload: dict) -> None:
    try:
        from apps.telegram_bot.tasks import alert_deliver

        # retry=False: a broker that is down must not hold the caller in publish retries.
        alert_deliver.apply_async(kwargs=payload, retry=False)
    except Exception as exc:
        # The broker is down: the alert must not ride on it. Sent from here, through the same gate
        # (de-duplication and rate limit, in the database while Redis is away), one bounded attempt.
        logger.warning("telegram alert not enqueued (%s): sending it directly", type(exc).__name__)
        metric_inc("telegram_alerts_total", kind=payload["kind"], outcome="enqueue_failed")
        try:
            from apps.telegram_bot.tasks import alert_deliver_direct

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
