"""Notifications: the one way the core tells people something (`notify(kind, text, key=, severity=)`).
Kinds are plain names (drawdown_stop, exit_failed, order_resent …); a channel titles them as it likes.

The core publishes here and never imports an interface: every channel (Telegram today, see
apps.telegram_bot.apps) registers itself at start-up with `channel_register`. A channel is usually a
`delivery.QueuedChannel`: it says whether it is configured, its de-duplication window and rate, and how one
message is sent; the gate, the queued task with its retries and the direct path when the broker is down are
apps.notifications.delivery's (counters in apps.notifications.throttle). Any callable taking the same
arguments is a channel too (tests capture notifications that way).
`notify` never raises: a channel failing must not break the order, exit or check that called it.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "error", "critical")


class Channel(Protocol):
    """One way of reaching people; True when the notification was accepted (queued or sent)."""

    def __call__(self, *, kind: str, text: str, key: str | None, severity: str) -> bool: ...


_channels: dict[str, Channel] = {}


def channel_register(name: str, channel: Channel) -> None:
    """Add (or replace) the channel called `name`; called from an AppConfig.ready()."""
    _channels[name] = channel


def channel_names() -> list[str]:
    return sorted(_channels)


def channel_get(name: str) -> Channel | None:
    """The channel registered as `name` (a queued delivery finds its channel by name), or None."""
    return _channels.get(name)


def notify(kind: str, text: str, *, key: str | None = None, severity: str = "warning") -> bool:
    """Give `text` to every registered channel; True when at least one accepted it. Never raises.

    `key` de-duplicates (the same kind and key within a channel's window is sent once); inside a database
    transaction the channels deliver when it commits, so a rolled-back change notifies nobody."""
    kind, text = str(kind), str(text)
    if severity not in SEVERITIES:
        severity = "warning"
    accepted = False
    for name, channel in list(_channels.items()):
        try:
            accepted = bool(channel(kind=kind, text=text, key=key, severity=severity)) or accepted
        except Exception:  # a channel must never break the caller
            log.exception("notification %s not given to channel %s", kind, name)
    if not _channels:
        log.info("notification %s: no channel registered: %s", kind, text)
    return accepted


__all__ = ["SEVERITIES", "Channel", "channel_get", "channel_names", "channel_register", "notify"]
