"""The clock the time-keeping components take from outside (the circuit breaker, the leases), so a test moves
time forward instead of sleeping through it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time, aware, UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals within one process)."""
        ...


class SystemClock:
    """The real clocks: datetime.now(UTC) and time.monotonic()."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told (`advance`): both readings move together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._monotonic = 1_000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds


SYSTEM_CLOCK = SystemClock()
