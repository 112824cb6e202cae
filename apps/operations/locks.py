"""Singleton leases for periodic tasks: Redis `SET NX PX` when REDIS_URL is set, a database row otherwise.

A lease expires by itself, so a worker killed with -9 cannot block a task forever; the holder's token
is checked on release, so a slow holder whose lease expired cannot release someone else's.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.operations.models import TaskLock

_RELEASE_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
_redis_clients: dict[str, object] = {}


def _redis(url: str):
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        _redis_clients[url] = client
    return client


class Lease:
    def __init__(self, name: str, ttl_seconds: float, *, redis_url: str | None = None) -> None:
        self.name = name
        self.ttl = ttl_seconds
        self.token = secrets.token_hex(16)
        self.redis_url = settings.REDIS_URL if redis_url is None else redis_url

    def acquire(self) -> bool:
        if self.redis_url:
            key = f"tradebot:lock:{self.name}"
            return bool(_redis(self.redis_url).set(key, self.token, nx=True, px=int(self.ttl * 1000)))
        return self._acquire_db()

    def release(self) -> None:
        if self.redis_url:
            _redis(self.redis_url).eval(_RELEASE_LUA, 1, f"tradebot:lock:{self.name}", self.token)
            return
        TaskLock.objects.filter(name=self.name, owner=self.token).delete()

    def _acquire_db(self) -> bool:
        now = timezone.now()
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


@contextlib.contextmanager
def singleton(name: str, ttl_seconds: float) -> Iterator[bool]:
    """`with singleton("exits.check", 60) as held:` — held is False when another worker has the lease."""
    lease = Lease(name, ttl_seconds)
    held = lease.acquire()
    try:
        yield held
    finally:
        if held:
            lease.release()
