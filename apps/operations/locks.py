"""Singleton leases for periodic tasks: Redis `SET NX PX` when REDIS_URL is set, a database row otherwise.

A lease is short (LEASE_TTL_SEC) and renewed by a heartbeat thread while its holder works, so it follows
its holder: a worker killed with -9 stops renewing and its lease lapses within seconds, not after the
longest run time. The holder's token is checked on renewal and release, so a holder whose lease lapsed
(it was frozen longer than the TTL) cannot extend or release someone else's; it learns so from `lost`.
When Redis cannot be reached the database lease is used instead, so a Redis outage does not stop the
protective tasks that can still run (exits, health).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta

import redis
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from apps.common.clock import SYSTEM_CLOCK, Clock
from apps.common.redis_clients import redis_client
from apps.operations.models import TaskLock

log = logging.getLogger(__name__)

# Time to live of a lease, and how often the heartbeat renews it. A killed holder's lease lapses within
# LEASE_TTL_SEC; three renewals fit in one TTL so a loaded machine missing one does not lose the lease.
LEASE_TTL_SEC = 15.0
HEARTBEAT_SEC = 5.0

# The Redis lease's value is "<token> <expires ms>"; "now" is Redis's TIME (every machine agrees) unless the
# lease was given a clock (tests), which the scripts then read from their last argument. PX removes the key of
# a holder that died; the expiry in the value is what decides.
_LUA_NOW = """
local now
if ARGV[#ARGV] ~= '' then now = tonumber(ARGV[#ARGV]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local v = redis.call('GET', KEYS[1])
local holder, expires = nil, 0
if v then
  local at = string.find(v, ' ', 1, true)
  if at then holder = string.sub(v, 1, at - 1); expires = tonumber(string.sub(v, at + 1)) or 0 end
end
local live = v and expires > now
"""
# ARGV: token, ttl ms, now
_ACQUIRE_LUA = (
    _LUA_NOW
    + """
if live then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. (now + tonumber(ARGV[2])), 'PX', ARGV[2])
return 1
"""
)
_RENEW_LUA = (
    _LUA_NOW
    + """
if not live or holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. (now + tonumber(ARGV[2])), 'PX', ARGV[2])
return 1
"""
)
# ARGV: token, now
_RELEASE_LUA = (
    _LUA_NOW
    + """
if holder == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)
# ARGV: now
_HELD_LUA = (
    _LUA_NOW
    + """
if live then return 1 end
return 0
"""
)


def _redis_down(exc: Exception) -> bool:
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError)


class Lease:
    """A named lease with expiry. `clock` gives it its notion of now: the database lease always reads it, the
    Redis lease only when given one (otherwise Redis's TIME decides, so machines agree); tests advance it."""

    def __init__(
        self,
        name: str,
        ttl_seconds: float = LEASE_TTL_SEC,
        *,
        redis_url: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.ttl = ttl_seconds
        self.token = secrets.token_hex(16)
        self.redis_url = settings.REDIS_URL if redis_url is None else redis_url
        self.clock = clock or SYSTEM_CLOCK
        self._redis_now = clock is not None  # the Redis scripts read "now" from this clock, not Redis's TIME
        self.backend = "redis" if self.redis_url else "database"
        self.lost = False

    @property
    def key(self) -> str:
        return f"tradebot:lock:{self.name}"

    def _script(self, script: str, *args: str | int) -> int:
        now = str(int(self.clock.now().timestamp() * 1000)) if self._redis_now else ""
        return int(redis_client(self.redis_url).eval(script, 1, self.key, *args, now))

    def acquire(self) -> bool:
        if self.backend == "redis":
            try:
                return bool(self._script(_ACQUIRE_LUA, self.token, int(self.ttl * 1000)))
            except Exception as exc:
                if not _redis_down(exc):
                    raise
                log.warning("lease %s: Redis unreachable (%s), using the database lease", self.name, exc)
                self.backend = "database"
        return self._acquire_db()

    def renew(self) -> bool:
        """Extend the lease by one TTL; False (and `lost` set) when it is no longer ours."""
        if self.backend == "redis":
            try:
                ok = bool(self._script(_RENEW_LUA, self.token, int(self.ttl * 1000)))
            except Exception as exc:
                if not _redis_down(exc):
                    raise
                log.warning("lease %s: Redis unreachable on renewal (%s)", self.name, exc)
                return True  # nobody can take it from us while Redis is down; renewed when it is back
        else:
            expires = self.clock.now() + timedelta(seconds=self.ttl)
            ok = bool(TaskLock.objects.filter(name=self.name, owner=self.token).update(expires_at=expires))
        if not ok and not self.lost:
            self.lost = True
            log.error("lease %s lost: it lapsed and may be held by another worker", self.name)
        return ok

    def release(self) -> None:
        if self.backend == "redis":
            try:
                self._script(_RELEASE_LUA, self.token)
            except Exception as exc:
                if not _redis_down(exc):
                    raise
                log.warning("lease %s not released (Redis unreachable): it lapses by itself", self.name)
            return
        TaskLock.objects.filter(name=self.name, owner=self.token).delete()

    def is_free(self) -> bool:
        """True when nobody holds a live lease under this name (its holder finished or died)."""
        if self.backend == "redis":
            try:
                return not self._script(_HELD_LUA)
            except Exception as exc:
                if not _redis_down(exc):
                    raise
                self.backend = "database"
        return not TaskLock.objects.filter(name=self.name, expires_at__gt=self.clock.now()).exists()

    def _acquire_db(self) -> bool:
        now = self.clock.now()
        expires = now + timedelta(seconds=self.ttl)
        # Take over an expired lease with a conditional update; exactly one contender's update matches.
        taken = TaskLock.objects.filter(name=self.name, expires_at__lte=now).update(
            owner=self.token, expires_at=expires, acquired_at=now
        )
        if taken:
            return True
        try:
            with transaction.atomic():
                TaskLock.objects.create(name=self.name, owner=self.token, expires_at=expires, acquired_at=now)
        except IntegrityError:
            return False  # someone holds a live lease
        return True


class Heartbeat:
    """Renews a lease every `every` seconds from a daemon thread until stopped."""

    def __init__(self, lease: Lease, every: float = HEARTBEAT_SEC) -> None:
        self.lease = lease
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.name}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        # A renewal in progress finishes by itself; the holder does not wait on a slow store to go on.
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    self.lease.renew()
                except Exception:  # a store hiccup: the next beat tries again, the TTL leaves room for two
                    log.warning("lease %s: renewal failed", self.lease.name, exc_info=True)
        finally:
            if self.lease.backend == "database":
                connection.close()  # this thread's own connection


@contextlib.contextmanager
def singleton(
    name: str, ttl_seconds: float = LEASE_TTL_SEC, *, heartbeat: float = HEARTBEAT_SEC, clock: Clock | None = None
) -> Iterator[Lease | None]:
    """`with singleton("exits.check") as lease:` — lease is None when another worker holds it.

    While the body runs the lease is renewed every `heartbeat` seconds; `lease.lost` turns True if it
    lapsed anyway (the body may then stop early)."""
    lease = Lease(name, ttl_seconds, clock=clock)
    if not lease.acquire():
        yield None
        return
    beat = Heartbeat(lease, heartbeat).start()
    try:
        yield lease
    finally:
        beat.stop()
        lease.release()


def lease_free(name: str) -> bool:
    """True when no live lease named `name` is held (used to tell an abandoned `running` row)."""
    return Lease(name).is_free()
