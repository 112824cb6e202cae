"""Celery tasks of the Telegram bot: delivering alerts."""

from __future__ import annotations

import asyncio
import logging
import threading

from celery import shared_task
from django.conf import settings
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from apps.telegram_bot.alert_format import alert_dedupe_seconds, alert_rate_per_minute, alert_text
from apps.telegram_bot.application import bot_create
from apps.telegram_bot.metrics import metric_inc
from apps.telegram_bot.throttle import throttle_hit, throttle_prune

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
# The direct path (broker down) makes one attempt in the caller's process: it must not hold a trading task.
DIRECT_TIMEOUT_SEC = 5.0


async def _send(chat_id: int, text: str) -> None:
    async with bot_create() as bot:
        await bot.send_message(chat_id=chat_id, text=text, disable_web_page_preview=True)


def _refusal(*, kind: str, key: str) -> str | None:
    """Why this alert is dropped, or None to send it.

    De-duplication comes first, so a duplicate does not use up the rate shared by all processes."""
    if not throttle_hit(f"dedupe:{key}", limit=1, ttl_seconds=alert_dedupe_seconds()):
        logger.info("telegram alert de-duplicated", extra={"kind": kind, "key": key})
        outcome = "deduplicated"
    elif not throttle_hit("rate", limit=alert_rate_per_minute(), ttl_seconds=60):
        logger.warning("telegram alert dropped by the rate limit", extra={"kind": kind, "key": key})
        outcome = "rate_limited"
    else:
        return None
    metric_inc("telegram_alerts_total", kind=kind, outcome=outcome)
    metric_inc("telegram_alerts_dropped_total", reason=outcome)
    return outcome


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True, ignore_result=True)
def alert_deliver(self, *, kind: str, text: str, key: str, severity: str = "warning") -> str:
    """Send one alert to ALERT_TELEGRAM_CHAT_ID. Returns the outcome: sent, deduplicated, rate_limited, skipped.

    The gate runs on the first attempt only, so a retry of an admitted alert is not taken for a duplicate.
    Network errors and Telegram's flood control are retried with exponential backoff; anything else
    (bad token, unknown chat) is logged and dropped, since retrying would not help.
    """
    chat_id = settings.ALERT_TELEGRAM_CHAT_ID
    if not settings.TELEGRAM_BOT_TOKEN or chat_id is None:
        return "skipped"
    if self.request.retries == 0:
        refusal = _refusal(kind=kind, key=key)
        if refusal:
            return refusal
        if not settings.REDIS_URL:
            throttle_prune()
    try:
        asyncio.run(_send(chat_id, alert_text(kind=kind, text=text, severity=severity)))
    except RetryAfter as exc:  # Telegram's flood control says when to come back
        wait = exc.retry_after
        countdown = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
        raise self.retry(exc=exc, countdown=max(countdown, 1.0)) from exc
    except BadRequest:  # a NetworkError subclass in PTB, but retrying a bad request never helps
        metric_inc("telegram_alerts_total", kind=kind, outcome="failed")
        metric_inc("alerts_failed_total", channel="telegram")
        logger.exception("telegram alert refused by Telegram", extra={"kind": kind, "key": key})
        return "failed"
    except (TimedOut, NetworkError) as exc:
        if self.request.retries >= MAX_RETRIES:
            metric_inc("telegram_alerts_total", kind=kind, outcome="failed")
            metric_inc("alerts_failed_total", channel="telegram")
            logger.error("telegram alert failed after retries", extra={"kind": kind, "key": key})
            return "failed"
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 2, 120)) from exc
    except Exception:
        metric_inc("telegram_alerts_total", kind=kind, outcome="failed")
        metric_inc("alerts_failed_total", channel="telegram")
        logger.exception("telegram alert failed", extra={"kind": kind, "key": key})
        return "failed"
    metric_inc("telegram_alerts_total", kind=kind, outcome="sent")
    return "sent"


def alert_deliver_direct(*, kind: str, text: str, key: str, severity: str = "warning") -> str:
    """Send one alert now, in this process, when the broker refused the task: the same gate as the task, one
    attempt bounded by DIRECT_TIMEOUT_SEC (run in its own thread, so a caller inside an event loop works too).
    Returns sent, deduplicated, rate_limited, skipped or failed."""
    chat_id = settings.ALERT_TELEGRAM_CHAT_ID
    if not settings.TELEGRAM_BOT_TOKEN or chat_id is None:
        return "skipped"
    refusal = _refusal(kind=kind, key=key)
    if refusal:
        return refusal
    errors: list[BaseException] = []

    def send() -> None:
        try:
            message = alert_text(kind=kind, text=text, severity=severity)
            asyncio.run(asyncio.wait_for(_send(chat_id, message), DIRECT_TIMEOUT_SEC))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=send, name="alert-direct", daemon=True)
    thread.start()
    thread.join(DIRECT_TIMEOUT_SEC + 1)
    if thread.is_alive() or errors:
        reason = "timed out" if thread.is_alive() else f"{type(errors[0]).__name__}: {errors[0]}"
        logger.error("telegram alert failed on the direct path: %s", reason, extra={"kind": kind, "key": key})
        metric_inc("telegram_alerts_total", kind=kind, outcome="failed")
        metric_inc("alerts_failed_total", channel="telegram")
        return "failed"
    logger.warning("telegram alert sent directly (broker unavailable)", extra={"kind": kind, "key": key})
    metric_inc("telegram_alerts_total", kind=kind, outcome="sent")
    return "sent"
