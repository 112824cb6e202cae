"""Counters that expire, shared by every process: Redis when REDIS_URL is set, the database otherwise.

`throttle_hit(name, limit=, ttl_seconds=)` admits at most `limit` hits per window of `ttl_seconds` that starts
with the first hit. De-duplication is `limit=1`; a rate limit is `limit=N`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.common.redis_clients import redis_client
from apps.notifications.models import NotificationThrottle

logger = logging.getLogger(__name__)

# The prefix of before the move from the Telegram app: counters open at a deploy carry over.
REDIS_PREFIX = "tradebot:telegram:throttle:"


def _redis_hit(url: str, name: str, limit: int, ttl_seconds: int) -> bool:
    key = REDIS_PREFIX + name
    pipe = redis_client(url).pipeline()
    pipe.set(key, 0, ex=ttl_seconds, nx=True)  # starts the window on the first hit only
    pipe.incr(key)
    _, count = pipe.execute()
    return int(count) <= limit


def _db_hit(name: str, limit: int, ttl_seconds: int) -> bool:
    now = timezone.now()
    expires = now + timedelta(seconds=ttl_seconds)
    name = name[:200]
    with transaction.atomic():
        try:
            with transaction.atomic():
                NotificationThrottle.objects.create(name=name, count=1, expires_at=expires)
            return True
        except IntegrityError:
            pass  # the row exists: restart it if expired, else count this hit if there is room
        if NotificationThrottle.objects.filter(name=name, expires_at__lte=now).update(count=1, expires_at=expires):
            return True
        counting = NotificationThrottle.objects.filter(name=name, expires_at__gt=now, count__lt=limit)
        return bool(counting.update(count=F("count") + 1))


def throttle_hit(name: str, *, limit: int, ttl_seconds: int) -> bool:
    """Count one hit on `name`; True when it is within `limit` for the current window."""
    url = getattr(settings, "REDIS_URL", "")
    if url:
        try:
            return _redis_hit(url, name, limit, ttl_seconds)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Redis down (the outage being alerted about): the database counters keep de-duplicating.
            logger.warning("throttle %s: Redis unreachable (%s), counting in the database", name, type(exc).__name__)
    return _db_hit(name, limit, ttl_seconds)


def throttle_prune(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete database counters that expired long ago (Redis expires its keys itself)."""
    deleted, _ = NotificationThrottle.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted
