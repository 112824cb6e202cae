"""The Telegram channel of apps.notifications: alerts to the operators' chat (ALERT_TELEGRAM_CHAT_ID).

Only what is Telegram's is here: configured when TELEGRAM_BOT_TOKEN and ALERT_TELEGRAM_CHAT_ID are set, its
window (TELEGRAM_ALERT_DEDUPE_SEC) and rate (TELEGRAM_ALERT_RATE_PER_MIN), the message's look (alert_format),
one send through the Bot API, and its metrics (telegram_alerts_total, telegram_alerts_dropped_total). The gate,
the queued task, its retries and the direct path when the broker is down are apps.notifications.delivery's.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from apps.notifications.delivery import Attempt, Failed, QueuedChannel, RetryLater, Sent
from apps.telegram_bot.alert_format import (
    TITLES,
    AlertKind,
    alert_dedupe_seconds,
    alert_key,
    alert_rate_per_minute,
    alert_text,
)
from apps.telegram_bot.application import bot_create
from apps.telegram_bot.metrics import metric_inc

logger = logging.getLogger(__name__)


async def _send(chat_id: int, text: str, timeout: float | None) -> None:
    async def once() -> None:
        async with bot_create() as bot:
            await bot.send_message(chat_id=chat_id, text=text, disable_web_page_preview=True)

    await (once() if timeout is None else asyncio.wait_for(once(), timeout))


class TelegramChannel(QueuedChannel):
    name = "telegram"
    # The gate's counters keep the names they had before delivery moved to apps.notifications ("dedupe:<key>",
    # "rate"), so windows open at a deploy carry over.
    throttle_scope = ""

    def configured(self) -> bool:
        return bool(settings.TELEGRAM_BOT_TOKEN) and settings.ALERT_TELEGRAM_CHAT_ID is not None

    def dedupe_seconds(self) -> int:
        return alert_dedupe_seconds()

    def rate_per_minute(self) -> int:
        return alert_rate_per_minute()

    def key(self, *, kind: str, text: str, key: str | None) -> str:
        return alert_key(kind=kind, text=text, key=key)

    def send(self, *, kind: str, text: str, severity: str, timeout: float | None) -> Attempt:
        message, chat_id = alert_text(kind=kind, text=text, severity=severity), settings.ALERT_TELEGRAM_CHAT_ID
        if chat_id is None:
            return Failed("ALERT_TELEGRAM_CHAT_ID is not set")
        try:
            asyncio.run(_send(chat_id, message, timeout))
        except RetryAfter as exc:  # Telegram's flood control says when to come back
            wait = exc.retry_after
            seconds = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
            return RetryLater("flood control", after_seconds=seconds)
        except BadRequest as exc:  # a NetworkError subclass in PTB, but retrying a bad request never helps
            return Failed(f"refused by Telegram: {exc}")
        except (TimedOut, NetworkError, TimeoutError) as exc:
            return RetryLater(f"{type(exc).__name__}: {exc}")
        return Sent()

    def count(self, *, kind: str, outcome: str) -> None:
        metric_inc("telegram_alerts_total", kind=kind, outcome=outcome)

    def count_dropped(self, *, reason: str) -> None:
        metric_inc("telegram_alerts_dropped_total", reason=reason)


telegram_channel = TelegramChannel()  # registered into apps.notifications by TelegramBotConfig.ready


def alert_send(*, kind: str, text: str, key: str | None = None, severity: str = "warning") -> bool:
    """Queue an alert for ALERT_TELEGRAM_CHAT_ID (this channel only; `notify` reaches every channel). Returns
    False when alerts are not configured. Never raises; queued when the caller's transaction commits."""
    return telegram_channel(kind=kind, text=text, key=key, severity=severity)


__all__ = [
    "TITLES",
    "AlertKind",
    "TelegramChannel",
    "alert_dedupe_seconds",
    "alert_key",
    "alert_rate_per_minute",
    "alert_send",
    "alert_text",
    "telegram_channel",
]
