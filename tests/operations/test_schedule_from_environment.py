"""Issue 11, Deliver 8: schedule settings from the environment are applied at start unless an operator changed
that entry in the admin, and the admin shows which."""

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.operations.schedule import ensure_schedule, operator_changed

pytestmark = pytest.mark.django_db


def test_a_changed_interval_setting_is_applied_at_the_next_start(settings):
    settings.RECONCILE_INTERVAL_SEC = 60
    ensure_schedule(reset=True)
    settings.RECONCILE_INTERVAL_SEC = 15
    assert "reconciliation" in ensure_schedule()  # no --reset needed any more
    entry = PeriodicTask.objects.get(name="reconciliation")
    assert entry.interval.every == 15 and entry.interval.period == "seconds"
    assert not operator_changed(entry)


def test_an_entry_changed_in_the_admin_is_left_alone_and_marked(settings):
    settings.RECONCILE_INTERVAL_SEC = 60
    ensure_schedule(reset=True)
    entry = PeriodicTask.objects.get(name="reconciliation")
    entry.interval, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    entry.save()  # what the admin's change form does
    settings.RECONCILE_INTERVAL_SEC = 15
    assert "reconciliation" not in ensure_schedule()
    entry.refresh_from_db()
    assert entry.interval.every == 300 and operator_changed(entry)
    ensure_schedule(reset=True)  # sync_schedule --reset hands it back to the environment
    entry.refresh_from_db()
    assert entry.interval.every == 15 and not operator_changed(entry)


def test_a_dropped_symbol_comes_back_with_its_cycle(settings):
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    ensure_schedule(reset=True)
    settings.SYMBOLS = ("BTC/USDT",)
    ensure_schedule()
    assert not PeriodicTask.objects.get(name="trading cycle ETH/USDT").enabled
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    ensure_schedule()
    assert PeriodicTask.objects.get(name="trading cycle ETH/USDT").enabled


def test_the_admin_list_shows_where_each_entry_comes_from(admin_client, settings):
    settings.RECONCILE_INTERVAL_SEC = 60
    ensure_schedule(reset=True)
    PeriodicTask.objects.filter(name="drawdown check").update(enabled=False)
    page = admin_client.get("/admin/django_celery_beat/periodictask/").content.decode().lower()
    assert "schedule from" in page
    assert page.count("changed in the admin") == 1 and "environment" in page
