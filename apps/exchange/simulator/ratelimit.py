"""Gate.io's request budget: N calls per rolling window per key (private) or IP (public)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class LimitState:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when one more call becomes possible
    retry_after: float


class RollingWindowLimiter:
    def __init__(self, limit: int = 300, window_sec: float = 10.0) -> None:
        self.limit = limit
        self.window_sec = window_sec
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.rejected = 0  # 429s served because the budget was exceeded

    def hit(self, who: str, now: float | None = None) -> LimitState:
        now = time.time() if now is None else now
        with self._lock:
            calls = self._calls.setdefault(who, deque())
            while calls and calls[0] <= now - self.window_sec:
                calls.popleft()
            if len(calls) >= self.limit:
                self.rejected += 1
                reset_at = calls[0] + self.window_sec
                return LimitState(False, self.limit, 0, reset_at, max(reset_at - now, 0.0))
            calls.append(now)
            reset_at = calls[0] + self.window_sec
            return LimitState(True, self.limit, self.limit - len(calls), reset_at, 0.0)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self.rejected = 0


def rate_limit_headers(state: LimitState) -> dict[str, str]:
    headers = {
        "X-Gate-RateLimit-Requests-Remain": str(state.remaining),
        "X-Gate-RateLimit-Limit": str(state.limit),
        # Gate.io's documentation spells this one "X-Gat-"; send both spellings.
        "X-Gat-RateLimit-Reset-Timestamp": str(int(state.reset_at * 1000)),
        "X-Gate-RateLimit-Reset-Timestamp": str(int(state.reset_at * 1000)),
    }
    if not state.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(state.retry_after)))
    return headers
