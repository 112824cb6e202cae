"""What a Telegram alert looks like (kinds, titles, icons) and its gate's settings; used by the Telegram
channel (apps.telegram_bot.alerts)."""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings

from apps.notifications.delivery import dedupe_key

DEFAULT_DEDUPE_SEC = 600
DEFAULT_RATE_PER_MIN = 20


class AlertKind(StrEnum):
    DRAWDOWN_STOP = "drawdown_stop"
    EXIT_TRIGGERED = "exit_triggered"
    EXIT_FILLED = "exit_filled"
    RECONCILIATION_DISCREPANCY = "reconciliation_discrepancy"
    BREAKER_OPENED = "breaker_opened"
    BREAKER_CLOSED = "breaker_closed"
    HEALTH_DOWN = "health_down"
    HEALTH_UP = "health_up"


TITLES: dict[str, str] = {  # AlertKind members are str: a kind looks its title up by its value
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
ICONS = {"info": "ℹ️", "warning": "⚠️", "error": "❗", "critical": "🚨"}  # apps.notifications.SEVERITIES


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
    return dedupe_key(kind=kind, text=text, key=key)
