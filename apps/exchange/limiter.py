"""One request budget shared by every process that talks to the exchange.

A sliding window with reservations: each call atomically reserves the earliest moment at which it keeps
the window (at most `calls` requests in any `period` seconds) and then sleeps until that moment. So callers
queue fairly instead of spinning, a wait is known before it starts, and a wait longer than the bound is
refused at once (RateLimitWaitExceeded, nothing reserved) instead of queueing forever.

Where the window lives:
- Redis (REDIS_URL set): one Lua script per call, the clock is Redis's TIME, so processes on several
  machines share one budget.
- Embedded default: a small ring-buffer file under DATA_DIR/ratelimit, updated under an exclusive fcntl
  lock, so web + worker + beat on one machine share it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis
from django.conf import settings

from apps.exchange.broker import RateLimitWaitExceeded
from apps.monitoring import metrics
from apps.operations.shutdown import check_interruptible, stop_requested


class LimiterUnavailable(RateLimitWaitExceeded):
    """The limiter's shared window could not be read (Redis down): the call was not sent."""


log = logging.getLogger(__name__)

# Reserve a little after the oldest call leaves the window, so a request that crosses the network faster
# than the one before it still lands outside the exchange's window.
MARGIN_SEC = 0.002
# The longest wait for a slot once the worker was asked to stop (it has 30 s in all).
STOPPING_MAX_WAIT_SEC = 2.0


@dataclass(frozen=True)
class Budget:
    calls: int
    period: float  # seconds


class WindowStore(Protocol):
    def reserve(self, key: str, budget: Budget, max_wait: float) -> float:
        """Reserve a slot; return the seconds to wait before using it, or raise RateLimitWaitExceeded."""


# --- counters (per process; apps.monitoring turns them into Prometheus metrics) --------------------

_counter_lock = threading.Lock()
COUNTERS: dict[str, dict[str, float]] = defaultdict(lambda: {"calls": 0, "waits": 0, "wait_seconds": 0.0, "refused": 0})


def _count(bucket: str, wait: float, refused: bool = False) -> None:
    with _counter_lock:
        c = COUNTERS[bucket]
        if refused:
            c["refused"] += 1
            return
        c["calls"] += 1
        if wait > 0:
            c["waits"] += 1
            c["wait_seconds"] += wait


def limiter_stats() -> dict[str, dict[str, float]]:
    """Per bucket: calls let through, calls that had to wait, seconds waited, calls refused (this process)."""
    with _counter_lock:
        return {k: dict(v) for k, v in COUNTERS.items()}


# --- Redis ---------------------------------------------------------------------------------------

_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local n = redis.call('LLEN', KEYS[1])
local slot = now
if n > 0 then
  local last = tonumber(redis.call('LINDEX', KEYS[1], -1))
  if last > slot then slot = last end
end
if n >= limit then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], -limit))
  if oldest + period > slot then slot = oldest + period end
end
local wait = slot - now
if wait > max_wait then return {0, wait} end
redis.call('RPUSH', KEYS[1], slot)
if n + 1 > limit then redis.call('LTRIM', KEYS[1], -limit, -1) end
redis.call('PEXPIRE', KEYS[1], math.floor((period + wait) / 1000) + 1000)
return {1, wait}
"""


class RedisWindow:
    """The window as a Redis list of reserved slot times (microseconds, Redis clock)."""

    def __init__(self, url: str, prefix: str = "tb:ratelimit:") -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.prefix = prefix
        self.script = self.client.register_script(_LUA)

    def reserve(self, key: str, budget: Budget, max_wait: float) -> float:
        period_us = int((budget.period + MARGIN_SEC) * 1_000_000)
        ok, wait_us = self.script(keys=[self.prefix + key], args=[budget.calls, period_us, int(max_wait * 1_000_000)])
        wait = int(wait_us) / 1_000_000
        if not int(ok):
            raise RateLimitWaitExceeded(f"rate limit {key}: would wait {wait:.2f}s > {max_wait}s", retry_after=wait)
        return wait


class FallbackWindow:
    """Redis first; while Redis cannot be reached, this machine's file ring. The budget is then shared by the
    processes of one machine only — better than no exchange call at all while the exits must still run."""

    def __init__(self, primary: RedisWindow, fallback: WindowStore) -> None:
        self.primary = primary
        self.fallback = fallback
        self._warned = 0.0

    def reserve(self, key: str, budget: Budget, max_wait: float) -> float:
        try:
            return self.primary.reserve(key, budget, max_wait)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                log.warning("rate limiter: Redis unreachable (%s), counting on this machine only", exc)
            return self.fallback.reserve(key, budget, max_wait)


# --- embedded: a ring of slot times in a file, under fcntl.flock ---------------------------------

_HEADER = struct.Struct("<qqq")  # capacity, head (index of the oldest), count
_SLOT = struct.Struct("<d")


class FileWindow:
    """The window in DIR/<key>.ring: header then `calls` float64 slot times (time.time() seconds)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fds: dict[str, tuple[int, int]] = {}  # key -> (pid, fd); reopened after fork
        self._lock = threading.Lock()

    def _fd(self, key: str) -> int:
        pid = os.getpid()
        entry = self._fds.get(key)
        if entry is not None and entry[0] == pid:
            return entry[1]
        # A descriptor inherited through fork shares its flock with the parent: open our own.
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
        fd = os.open(self.directory / f"{safe}.ring", os.O_RDWR | os.O_CREAT, 0o600)
        self._fds[key] = (pid, fd)
        return fd

    def reserve(self, key: str, budget: Budget, max_wait: float) -> float:
        capacity = budget.calls
        slot_size = _SLOT.size
        with self._lock:
            fd = self._fd(key)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, _HEADER.size, 0)
                stored_capacity, head, count = _HEADER.unpack(raw) if len(raw) == _HEADER.size else (0, 0, 0)
                if stored_capacity != capacity:  # new file, or the budget changed: start an empty window
                    os.ftruncate(fd, _HEADER.size + capacity * slot_size)
                    head, count = 0, 0

                def slot_at(index: int) -> float:
                    return _SLOT.unpack(os.pread(fd, slot_size, _HEADER.size + index * slot_size))[0]

                now = time.time()
                slot = now
                if count:
                    slot = max(slot, slot_at((head + count - 1) % capacity))  # the newest reservation
                if count >= capacity:
                    slot = max(slot, slot_at(head) + budget.period + MARGIN_SEC)  # the oldest leaves the window
                wait = slot - now
                if wait > max_wait:
                    raise RateLimitWaitExceeded(
                        f"rate limit {key}: would wait {wait:.2f}s > {max_wait}s", retry_after=wait
                    )
                if count >= capacity:
                    index, head = head, (head + 1) % capacity
                else:
                    index, count = (head + count) % capacity, count + 1
                os.pwrite(fd, _SLOT.pack(slot), _HEADER.size + index * slot_size)
                os.pwrite(fd, _HEADER.pack(capacity, head, count), 0)
                return max(wait, 0.0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


# --- the limiter ---------------------------------------------------------------------------------


class RateLimiter:
    """Named budgets over one store. `acquire(bucket)` blocks until the call may go out."""

    def __init__(self, store: WindowStore, budgets: dict[str, Budget], max_wait: float) -> None:
        self.store = store
        self.budgets = budgets
        self.max_wait = max_wait

    def acquire(self, bucket: str, *, budget: Budget | None = None, max_wait: float | None = None) -> float:
        """Wait for a slot in `bucket`; returns the seconds waited. Raises RateLimitWaitExceeded when the wait
        would be longer than `max_wait` (RATE_LIMIT_MAX_WAIT_SEC by default); then nothing is reserved."""
        chosen = budget or self.budgets[bucket.split(":", 1)[0]]
        bound = self.max_wait if max_wait is None else max_wait
        check_interruptible(f"before a call in {bucket}")
        if stop_requested():  # the worker is stopping: no long wait may eat its 30 s
            bound = min(bound, STOPPING_MAX_WAIT_SEC)
        try:
            wait = self.store.reserve(bucket, chosen, bound)
        except RateLimitWaitExceeded:
            _count(bucket, 0.0, refused=True)
            log.warning("rate limiter refused a call in %s: wait above %.1fs", bucket, bound)
            raise
        except Exception as exc:
            # The shared window (Redis) cannot be read: the call is not made, which callers know is safe to
            # report as "not sent" (an order ends rejected, not unknown). Failing open would let every
            # process burst past Gate.io's budget at once.
            _count(bucket, 0.0, refused=True)
            log.warning("rate limiter unavailable for %s: %s: %s", bucket, type(exc).__name__, exc)
            raise LimiterUnavailable(f"rate limiter unavailable ({type(exc).__name__}: {exc}); call not sent") from exc
        _count(bucket, wait)
        if wait > 0:
            time.sleep(wait)
        return wait


_default: RateLimiter | None = None
_default_lock = threading.Lock()


def build_limiter(*, redis_url: str = "", data_dir: Path | None = None) -> RateLimiter:
    """A limiter from settings: Redis when REDIS_URL is set, the file ring otherwise."""

    url = redis_url if redis_url else settings.REDIS_URL
    files = FileWindow((data_dir or settings.DATA_DIR) / "ratelimit")
    store: WindowStore = FallbackWindow(RedisWindow(url), files) if url else files
    return RateLimiter(store, budgets_configured(), float(settings.RATE_LIMIT_MAX_WAIT_SEC))


def budgets_configured() -> dict[str, Budget]:
    """The budgets from settings, by bucket (also published as metrics for the smoke test and dashboards)."""

    return {
        # Everything we send to Gate.io shares one budget (the seed's 300 / 10 s, less headroom).
        "gateio": Budget(settings.RATE_LIMIT_CALLS, float(settings.RATE_LIMIT_PERIOD_SEC)),
        # Gate.io also limits order placement to 10 / s per market; keep under it.
        "gateio_orders": Budget(9, 1.0),
    }


def get_limiter() -> RateLimiter:
    """The process-wide limiter built from settings."""
    global _default
    with _default_lock:
        if _default is None:
            _default = build_limiter()
        return _default


_limiter_seen: dict[str, dict[str, float]] = {}


def sync_limiter_counters() -> None:
    """Move the exchange limiter's per-process counters into the Prometheus families (by delta), so they
    reach the multiprocess files. Called after each Celery task and before each scrape."""
    for bucket, stats in limiter_stats().items():
        seen = _limiter_seen.setdefault(bucket, {"calls": 0, "waits": 0, "wait_seconds": 0.0, "refused": 0})
        calls = stats.get("calls", 0) - seen["calls"]
        waits = stats.get("waits", 0) - seen["waits"]
        seconds = stats.get("wait_seconds", 0.0) - seen["wait_seconds"]
        refused = stats.get("refused", 0) - seen["refused"]
        if calls > 0:
            metrics.RATE_LIMITER_CALLS.labels(bucket=bucket).inc(calls)
        if waits > 0:
            metrics.RATE_LIMITER_WAITS.labels(bucket=bucket).inc(waits)
            # one observation of the average wait per waiting call keeps the histogram's count right
            for _ in range(int(waits)):
                metrics.RATE_LIMITER_WAIT_SECONDS.labels(bucket=bucket).observe(seconds / waits)
        if refused > 0:
            metrics.RATE_LIMITER_REJECTED.labels(bucket=bucket).inc(refused)
        _limiter_seen[bucket] = {k: stats.get(k, 0) for k in ("calls", "waits", "wait_seconds", "refused")}
