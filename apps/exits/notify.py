"""Alerts and metrics of protective exits: never raise from here (an alert or a metric must not break an exit)."""

from __future__ import annotations

import logging
from typing import Any

from apps.monitoring import metrics
from apps.notifications import notify

log = logging.getLogger(__name__)


def alert(*, kind: str, text: str, key: str | None = None, severity: str = "warning") -> None:
    """A notification (apps.notifications, delivered when the transaction commits); logged in any case."""
    level = logging.ERROR if severity in ("error", "critical") else logging.WARNING
    if severity == "info":
        level = logging.INFO
    log.log(level, "exit alert %s: %s", kind, text)
    notify(kind, text, key=key, severity=severity)


def _family(name: str) -> Any:
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
