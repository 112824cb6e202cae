"""One Redis client per URL in a process, with short timeouts: a Redis that is down answers within seconds.

Shared by the foundation's users of Redis that keep a client between calls (leases, notification throttles);
redis-py's client holds a connection pool, so one per URL is enough for every thread of the process.
"""

from __future__ import annotations

import redis

TIMEOUT_SEC = 2

_clients: dict[str, redis.Redis] = {}


def redis_client(url: str) -> redis.Redis:
    """The process's client for `url` (made on first use)."""
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SEC, socket_timeout=TIMEOUT_SEC)
        _clients[url] = client
    return client
