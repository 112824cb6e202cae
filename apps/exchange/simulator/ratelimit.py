"""Gate.io's request budgets, as its announcement of 2024-01-22 and the API v4 docs set them:

- every endpoint its own budget: 200 requests / 10 s, per IP (public) or per UID (private);
- order placement (POST /spot/orders): 10 requests / s per UID and market, instead of the endpoint budget;
- cancellation (DELETE /spot/orders/{id}): 200 requests / s per UID.
Every answer carries X-Gate-RateLimit-Requests-Remain / X-Gate-RateLimit-Limit for the budget that applied, and
the reset timestamp in milliseconds (the docs spell it X-Gat-RateLimit-Reset-Timestamp; both spellings are sent).
"""

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


ORDER_ROUTES = {"create_order"}
CANCEL_ROUTES = {"cancel_order"}


class GateRateLimits:
    """The three kinds of budget above; `hit(who, route, pair)` takes one request from the one that applies."""

    def __init__(
        self,
        limit: int = 200,
        window_sec: float = 10.0,
        *,
        order_limit: int = 10,
        order_window_sec: float = 1.0,
        cancel_limit: int = 200,
        cancel_window_sec: float = 1.0,
    ) -> None:
        self.endpoint = RollingWindowLimiter(limit, window_sec)
        self.orders = RollingWindowLimiter(order_limit, order_window_sec)
        self.cancels = RollingWindowLimiter(cancel_limit, cancel_window_sec)

    @property
    def limit(self) -> int:
        return self.endpoint.limit

    @property
    def window_sec(self) -> float:
        return self.endpoint.window_sec

    def hit(self, who: str, route: str = "", pair: str = "", now: float | None = None) -> LimitState:
        if route in ORDER_ROUTES:
            return self.orders.hit(f"{who}:{pair}", now)
        if route in CANCEL_ROUTES:
            return self.cancels.hit(who, now)
        return self.endpoint.hit(f"{who}:{route}", now)

    @property
    def rejected(self) -> int:
        return self.endpoint.rejected + self.orders.rejected + self.cancels.rejected

    def reset(self) -> None:
        for limiter in (self.endpoint, self.orders, self.cancels):
            limiter.reset()


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
