"""Delivery of notifications: the gate, the queued task with its retries, and the direct path.

A channel (`QueuedChannel`; Telegram's is apps.telegram_bot.alerts) states only what is its own: whether it is
configured, its de-duplication window and rate per minute, and one send attempt that answers `Sent`,
`RetryLater` (after N s, or the backoff) or `Failed` (for good); it counts in its own metrics through `count`
and `count_dropped`. The rest is here:
- calling the channel (what `notify` does) queues the task `deliver` when the caller's transaction commits;
- `deliver` runs the gate on its first attempt — de-duplication by key within the channel's window, then the
  rate shared by every process (apps.notifications.throttle) — sends, retries "retry later" with backoff up
  to MAX_RETRIES and drops "failed";
- when the broker refuses the task (Redis down: the very outage to alert about) the message is sent from the
  calling process through the same gate, one attempt bounded by DIRECT_TIMEOUT_SEC.
A message that is not delivered counts in alerts_failed_total{channel}.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction

import apps.notifications as notifications
from apps.monitoring import metrics
from apps.notifications.throttle import throttle_hit, throttle_prune

log = logging.getLogger(__name__)

TASK_NAME = "notifications.deliver"
MAX_RETRIES = 5
BACKOFF_MAX_SEC = 120.0
# The direct path (broker down) makes one attempt in the caller's process: it must not hold a trading task.
DIRECT_TIMEOUT_SEC = 5.0


@dataclass(frozen=True)
class Sent:
    """The channel took the message."""


@dataclass(frozen=True)
class RetryLater:
    """Not sent, worth another attempt: after `after_seconds` when the channel was told when, else the backoff."""

    reason: str
    after_seconds: float | None = None


@dataclass(frozen=True)
class Failed:
    """Not sent, and another attempt would not help (bad credentials, unknown recipient, a refused message)."""

    reason: str


Attempt = Sent | RetryLater | Failed


def dedupe_key(*, kind: str, text: str, key: str | None) -> str:
    """The de-duplication key: the caller's, or the kind plus a digest of the text."""
    if key:
        return f"{kind}:{key}"
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:24]}"


class QueuedChannel:
    """A channel delivered by the task `deliver` behind the gate; a subclass says what is the channel's own."""

    name: str = ""
    # The gate's counters are f"{scope}dedupe:{key}" and f"{scope}rate"; None means the scope "<name>:".
    throttle_scope: str | None = None

    def configured(self) -> bool:
        raise NotImplementedError

    def dedupe_seconds(self) -> int:
        raise NotImplementedError

    def rate_per_minute(self) -> int:
        raise NotImplementedError

    def send(self, *, kind: str, text: str, severity: str, timeout: float | None) -> Attempt:
        """One attempt at sending (formatted as the channel likes); `timeout` bounds it on the direct path."""
        raise NotImplementedError

    def count(self, *, kind: str, outcome: str) -> None:
        """One message's outcome: sent, deduplicated, rate_limited, failed or enqueue_failed."""

    def count_dropped(self, *, reason: str) -> None:
        """A message dropped before it was sent: deduplicated, rate_limited or enqueue_failed (not sent at all)."""

    def key(self, *, kind: str, text: str, key: str | None) -> str:
        return dedupe_key(kind=kind, text=text, key=key)

    @property
    def scope(self) -> str:
        return f"{self.name}:" if self.throttle_scope is None else self.throttle_scope

    def __call__(self, *, kind: str, text: str, key: str | None, severity: str) -> bool:
        return enqueue(self, kind=kind, text=text, key=key, severity=severity)


def _safely(count: Callable[..., None], **labels: str) -> None:
    try:
        count(**labels)
    except Exception:  # a metric must never break a notification
        log.debug("notification metric not counted", exc_info=True)


def _failed(channel: QueuedChannel, *, kind: str, key: str, why: str) -> str:
    log.error("%s notification failed: %s", channel.name, why, extra={"kind": kind, "key": key})
    _safely(channel.count, kind=kind, outcome="failed")
    _safely(lambda: metrics.ALERTS_FAILED.labels(channel=channel.name).inc())
    return "failed"


def _refusal(channel: QueuedChannel, *, kind: str, key: str) -> str | None:
    """Why this message is dropped, or None to send it.

    De-duplication comes first, so a duplicate does not use up the rate shared by all processes."""
    if not throttle_hit(f"{channel.scope}dedupe:{key}", limit=1, ttl_seconds=channel.dedupe_seconds()):
        log.info("%s notification de-duplicated", channel.name, extra={"kind": kind, "key": key})
        outcome = "deduplicated"
    elif not throttle_hit(f"{channel.scope}rate", limit=channel.rate_per_minute(), ttl_seconds=60):
        log.warning("%s notification dropped by the rate limit", channel.name, extra={"kind": kind, "key": key})
        outcome = "rate_limited"
    else:
        return None
    _safely(channel.count, kind=kind, outcome=outcome)
    _safely(channel.count_dropped, reason=outcome)
    return outcome


def _queued(name: str) -> QueuedChannel | None:
    channel = notifications.channel_get(name)
    return channel if isinstance(channel, QueuedChannel) else None


def deliver_run(task: Any, *, channel: str, kind: str, text: str, key: str, severity: str = "warning") -> str:
    """The body of the task `deliver` (`task` is the bound task). Returns the outcome: sent, deduplicated,
    rate_limited, failed or skipped (the channel is not registered here, or not configured).

    The gate runs on the first attempt only, so a retry of an admitted message is not taken for a duplicate."""
    found = _queued(channel)
    if found is None or not found.configured():
        return "skipped"
    retries = task.request.retries or 0
    if retries == 0:
        refusal = _refusal(found, kind=kind, key=key)
        if refusal:
            return refusal
        if not settings.REDIS_URL:
            throttle_prune()
    try:
        attempt = found.send(kind=kind, text=text, severity=severity, timeout=None)
    except Exception as exc:
        log.exception("%s notification raised", found.name, extra={"kind": kind, "key": key})
        attempt = Failed(f"{type(exc).__name__}: {exc}")
    if isinstance(attempt, RetryLater):
        if retries >= MAX_RETRIES:
            return _failed(found, kind=kind, key=key, why=f"still {attempt.reason} after {retries} retries")
        if attempt.after_seconds is not None:  # the channel was told when to come back
            countdown = max(float(attempt.after_seconds), 1.0)
        else:
            countdown = min(2.0**retries * 2, BACKOFF_MAX_SEC)
        log.info("%s notification retried in %.0f s: %s", found.name, countdown, attempt.reason)
        raise task.retry(countdown=countdown)
    if isinstance(attempt, Failed):
        return _failed(found, kind=kind, key=key, why=attempt.reason)
    _safely(found.count, kind=kind, outcome="sent")
    return "sent"


@shared_task(bind=True, name=TASK_NAME, max_retries=MAX_RETRIES, acks_late=True, ignore_result=True)
def deliver(self: Any, *, channel: str, kind: str, text: str, key: str, severity: str = "warning") -> str:
    """Deliver one notification through the channel registered as `channel` (see deliver_run)."""
    return deliver_run(self, channel=channel, kind=kind, text=text, key=key, severity=severity)


def deliver_direct(channel: QueuedChannel, *, kind: str, text: str, key: str, severity: str = "warning") -> str:
    """Send one message now, in this process, when the broker refused the task: the same gate as the task, one
    attempt bounded by DIRECT_TIMEOUT_SEC (run in its own thread, so a caller inside an event loop works too).
    Returns sent, deduplicated, rate_limited, skipped or failed."""
    if not channel.configured():
        return "skipped"
    refusal = _refusal(channel, kind=kind, key=key)
    if refusal:
        return refusal
    answers: list[Attempt] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            answers.append(channel.send(kind=kind, text=text, severity=severity, timeout=DIRECT_TIMEOUT_SEC))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=attempt, name="notification-direct", daemon=True)
    thread.start()
    thread.join(DIRECT_TIMEOUT_SEC + 1)
    if thread.is_alive():
        why = "timed out"
    elif errors:
        why = f"{type(errors[0]).__name__}: {errors[0]}"
    elif not isinstance(answers[0], Sent):
        why = answers[0].reason
    else:
        log.warning("%s notification sent directly (broker unavailable)", channel.name, extra={"kind": kind})
        _safely(channel.count, kind=kind, outcome="sent")
        return "sent"
    return _failed(channel, kind=kind, key=key, why=f"on the direct path: {why}")


def _publish(channel: QueuedChannel, payload: dict[str, str]) -> None:
    try:
        # retry=False: a broker that is down must not hold the caller in publish retries.
        deliver.apply_async(kwargs=payload, retry=False)
    except Exception as exc:
        # The broker is down: the message must not ride on it. Sent from here, through the same gate
        # (de-duplication and rate limit, in the database while Redis is away), one bounded attempt.
        kind = payload["kind"]
        log.warning("%s notification not enqueued (%s): sending it directly", channel.name, type(exc).__name__)
        _safely(channel.count, kind=kind, outcome="enqueue_failed")
        try:
            deliver_direct(channel, kind=kind, text=payload["text"], key=payload["key"], severity=payload["severity"])
        except Exception:
            log.exception("%s notification dropped: not enqueued and not sent", channel.name, extra={"kind": kind})
            _safely(lambda: metrics.ALERTS_FAILED.labels(channel=channel.name).inc())
            _safely(channel.count_dropped, reason="enqueue_failed")


def enqueue(channel: QueuedChannel, *, kind: str, text: str, key: str | None = None, severity: str = "warning") -> bool:
    """Queue one message for `channel`; False when the channel is not configured. Never raises.

    Inside a database transaction the task is queued when it commits, so a rolled-back change notifies nobody."""
    try:
        if not channel.configured():
            log.debug("%s notification not sent (channel not configured): %s", channel.name, kind)
            return False
        kind, text = str(kind), str(text)
        if severity not in notifications.SEVERITIES:
            severity = "warning"
        payload = {
            "channel": channel.name,
            "kind": kind,
            "text": text,
            "key": channel.key(kind=kind, text=text, key=key),
            "severity": severity,
        }
        transaction.on_commit(lambda: _publish(channel, payload), robust=True)
        return True
    except Exception:
        log.exception("%s notification dropped", channel.name, extra={"kind": str(kind)})
        return False


__all__ = [
    "DIRECT_TIMEOUT_SEC",
    "MAX_RETRIES",
    "Attempt",
    "Failed",
    "QueuedChannel",
    "RetryLater",
    "Sent",
    "dedupe_key",
    "deliver",
    "deliver_direct",
    "deliver_run",
    "enqueue",
]
