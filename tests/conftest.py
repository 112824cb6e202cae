"""Shared fixtures. Services are real: PostgreSQL and Redis when configured (CI), SQLite otherwise.

Set TEST_REQUIRE_SERVICES=1 (as .ci/run does) to make a missing Redis or PostgreSQL a failure
instead of a skip.
"""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from django.db import connection

from apps.audit.actors import Actor
from tests.support.side_effects import side_effects  # noqa: F401 - the fixture, for every test

REQUIRE_SERVICES = os.environ.get("TEST_REQUIRE_SERVICES") == "1"


def _need(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    """A real Redis for tests of locks, limiter, breakers and the broker, flushed around each test.

    TEST_REDIS_URL is used as given; otherwise database 15 of REDIS_URL's server."""
    url = os.environ.get("TEST_REDIS_URL") or ""
    if not url:
        base = os.environ.get("REDIS_URL") or ""
        if not base:
            _need("set REDIS_URL or TEST_REDIS_URL to run Redis tests")
        url = base.rsplit("/", 1)[0] + "/15" if base.count("/") >= 3 else base + "/15"
    import redis

    test_url = url
    client = redis.Redis.from_url(test_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        _need(f"Redis at {test_url} is not reachable: {exc}")
    client.flushdb()
    yield test_url
    client.flushdb()


@pytest.fixture
def require_postgres(django_db_blocker) -> None:
    if connection.vendor != "postgresql":
        _need("this test needs PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", "operator-pass-123")


@pytest.fixture
def operator_actor(operator) -> Actor:
    return Actor.user(operator)


@pytest.fixture
def make_order(db):
    from apps.audit.actors import SYSTEM
    from apps.trading.services import order_create

    def make(**kwargs):
        params = {
            "symbol": "BTC/USDT",
            "side": "buy",
            "type": "limit",
            "amount": Decimal("0.01"),
            "price": Decimal("50000"),
        }
        params.update(kwargs)
        return order_create(actor=SYSTEM, **params)

    return make


@pytest.fixture(autouse=True)
def _fresh_shared_state(settings):
    """State that outlives a test's database transaction — breaker and limiter windows, leases and the
    cache in Redis, the process's cached broker and breakers — is cleared before every test, so one test's
    5xx storm cannot leave the next one facing an open breaker."""
    from django.core.cache import cache

    from apps.exchange import breaker, limiter, services

    breaker.reset_registry()
    services.reset_broker()
    limiter._default = None
    if not settings.REDIS_URL:
        cache.clear()  # the per-process memory cache; Redis keys are removed below
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            for pattern in ("tb:*", "tradebot:*", ":1:*"):
                keys = list(client.scan_iter(pattern, count=1000))
                if keys:
                    client.delete(*keys)
        except redis.RedisError:
            pass  # tests that need Redis say so themselves
        finally:
            client.close()
    yield


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """`with eager():` — what was queued on commit inside the block is sent when it ends, and Celery runs the
    task in place (notifications, alerts)."""
    from contextlib import contextmanager

    from celery_app import app

    @contextmanager
    def block():
        app.conf.task_always_eager = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield
        finally:
            app.conf.task_always_eager = False

    return block
