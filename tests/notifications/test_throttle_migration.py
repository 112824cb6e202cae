"""The throttle moved from the Telegram app to apps.notifications without a new table: a database at
telegram_bot 0002 with counters in telegram_bot_alertthrottle migrates forward and the counters are read (and
still gate) through NotificationThrottle; a fresh database gets the table once (telegram_bot 0001)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("telegram_bot", "0002_webhook_update"), ("notifications", None)]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps  # (app, None): not applied


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def before_the_move():
    apps = _migrate(BEFORE)
    yield apps
    _migrate(_leaves())


def test_counters_written_before_the_move_are_read_and_still_gate_after_it(before_the_move, settings):
    from apps.notifications.models import NotificationThrottle
    from apps.notifications.throttle import throttle_hit

    assert "telegram_bot_alertthrottle" in connection.introspection.table_names()
    old = before_the_move.get_model("telegram_bot", "AlertThrottle")
    later = timezone.now() + timedelta(minutes=5)
    old.objects.create(name="dedupe:health_down:broker", count=1, expires_at=later)
    old.objects.create(name="rate", count=3, expires_at=later)

    _migrate(_leaves())

    rows = {row.name: row.count for row in NotificationThrottle.objects.all()}
    assert rows == {"dedupe:health_down:broker": 1, "rate": 3}
    assert NotificationThrottle._meta.db_table == "telegram_bot_alertthrottle"
    # The window opened before the deploy still de-duplicates after it (counted in the database without Redis).
    settings.REDIS_URL = ""
    assert throttle_hit("dedupe:health_down:broker", limit=1, ttl_seconds=600) is False
    assert throttle_hit("dedupe:health_down:other", limit=1, ttl_seconds=600) is True


def test_the_move_touches_no_table_in_either_direction(before_the_move):
    tables = set(connection.introspection.table_names())
    _migrate(_leaves())
    assert set(connection.introspection.table_names()) == tables
    _migrate(BEFORE)
    assert set(connection.introspection.table_names()) == tables


def test_a_fresh_database_has_one_throttle_table_owned_by_notifications():
    """The test database is made by a fresh `migrate`: the model is the notifications app's, over the table
    telegram_bot 0001 created, and the Telegram app's state no longer has it."""
    from django.apps import apps

    from apps.notifications.models import NotificationThrottle

    state = MigrationExecutor(connection).loader.project_state().apps
    assert state.get_model("notifications", "NotificationThrottle")._meta.db_table == "telegram_bot_alertthrottle"
    with pytest.raises(LookupError):
        state.get_model("telegram_bot", "AlertThrottle")
    assert apps.get_model("notifications", "NotificationThrottle") is NotificationThrottle
    tables = connection.introspection.table_names()
    assert [t for t in tables if t.endswith("throttle")] == ["telegram_bot_alertthrottle"]
    NotificationThrottle.objects.create(name="x", count=1, expires_at=timezone.now())
    assert NotificationThrottle.objects.count() == 1
