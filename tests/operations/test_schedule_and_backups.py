"""The beat schedule comes from one definition; backups are written, pruned and restored."""

import json

import pytest
from django.db import connection
from django_celery_beat.models import PeriodicTask

from apps.operations.backups import BackupError, backup_create, backup_restore, backups_list
from apps.operations.schedule import ensure_schedule
from apps.risk.models import RiskEvent


@pytest.mark.django_db
def test_schedule_has_every_periodic_task(settings):
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    ensure_schedule(reset=True)
    tasks = {p.name: p for p in PeriodicTask.objects.all()}
    assert tasks["trading cycle ETH/USDT"].task == "trading.cycle"
    assert json.loads(tasks["trading cycle ETH/USDT"].kwargs) == {"symbol": "ETH/USDT", "timeframe": "1m"}
    assert tasks["protective exits"].interval.every == settings.EXITS_CHECK_INTERVAL_SEC
    assert tasks["reconciliation"].interval.every == settings.RECONCILE_INTERVAL_SEC
    assert {"health monitor", "database backup", "drawdown check"} <= set(tasks)


@pytest.mark.django_db
def test_operator_edits_survive_a_sync_and_dropped_symbols_are_disabled(settings):
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    ensure_schedule(reset=True)
    PeriodicTask.objects.filter(name="protective exits").update(enabled=False)
    settings.SYMBOLS = ("BTC/USDT",)
    ensure_schedule()
    assert not PeriodicTask.objects.get(name="protective exits").enabled
    assert not PeriodicTask.objects.get(name="trading cycle ETH/USDT").enabled
    assert PeriodicTask.objects.get(name="trading cycle BTC/USDT").enabled


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_brings_the_data_back(tmp_path, settings):
    settings.DB_BACKUP_DIR = tmp_path
    RiskEvent.objects.create(rule="before_backup")
    result = backup_create()
    assert result.path.exists() and result.size_bytes > 0
    RiskEvent.objects.create(rule="after_backup")
    RiskEvent.objects.filter(rule="before_backup").delete()

    backup_restore(path=result.path)
    connection.close()
    rules = set(RiskEvent.objects.values_list("rule", flat=True))
    assert rules == {"before_backup"}


@pytest.mark.django_db(transaction=True)
def test_old_backups_are_pruned_to_keep(tmp_path, settings):
    settings.DB_BACKUP_DIR = tmp_path
    for _ in range(4):
        backup_create(keep=2)
    assert len(backups_list(tmp_path)) == 2


@pytest.mark.django_db
def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    bogus = tmp_path / "x.txt"
    bogus.write_text("nope")
    with pytest.raises(BackupError):
        backup_restore(path=bogus)
