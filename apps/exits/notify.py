"""Alerts and metrics of protective exits. Both are optional parts of an installation: never raise from here."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def alert(*, kind: str, text: str, key: str | None = None, severity: str = "warning") -> None:
    """Telegram alert (queued on commit by the telegram app); logged in any case."""
    level = logging.ERROR if severity in ("error", "critical") else logging.WARNING
    if severity == "info":
        level = logging.INFO
    log.log(level, "exit alert %s: %s", kind, text)
    try:
        from apps.telegram_bot.alerts import alert_send
    except ImportError:
        return
    try:
        alert_send(kind=kind, text=text, key=key, severity=severity)
    except Exception:  # an alert must never break an exit
        log.exception("exit alert %s not sent", kind)


def _family(name: str):
    try:
        from apps.monitoring import metrics
    except ImportError:
        return None
    return getattr(metrics, name, None)


def count_triggered(reason: str) -> None:
    counter = _family("EXITS_TRIGGERED")
    if counter is not None:
        counter.labels(reason=reason).inc()


def count_failed(reason: str) -> None:
    counter = _family("EXITS_FAILED")
    if counter is not None:
        counter.labels(reason=reason).inc()


def set_gauges(*, armed: int, stuck: int) -> None:
    for name, value in (("EXITS_ARMED", armed), ("EXITS_STUCK", stuck)):
        gauge = _family(name)
        if gauge is not None:
            gauge.set(value)


def observe_pass(seconds: float) -> None:
    histogram = _family("EXITS_CHECK_DURATION")
    if histogram is not None:
        histogram.observe(seconds)
