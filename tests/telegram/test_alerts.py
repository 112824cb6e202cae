"""alert_send enqueues; the task (apps.notifications.delivery) de-duplicates, rate-limits (database or Redis)
and delivers with retries."""

from __future__ import annotations

import pytest

from apps.notifications.delivery import deliver as notification_deliver
from apps.notifications.delivery import deliver_direct
from apps.telegram_bot.alerts import AlertKind, alert_send, telegram_channel
from tests.telegram.conftest import ALERT_CHAT

# The task runs in the test's thread, so the test transaction is enough; on_commit callbacks are captured.
pytestmark = pytest.mark.django_db


def deliver(**kwargs) -> str:
    return notification_deliver.apply(kwargs={"channel": "telegram", **kwargs}).get()


def test_alert_is_delivered_to_the_alert_chat(tg, eager):
    with eager():
        sent = alert_send(kind=AlertKind.DRAWDOWN_STOP, text="equity 9400 is 6% below peak 10000", severity="critical")
    assert sent
    [call] = tg.sent("sendMessage")
    assert call.params["chat_id"] == ALERT_CHAT
    assert call.params["text"] == "🚨 Drawdown stop: trading halted\nequity 9400 is 6% below peak 10000"


def test_a_stuck_exit_escalation_reaches_telegram_as_an_error(tg, eager):
    """apps.exits escalates a stuck exit with severity "error": Telegram shows it as such, not as a warning."""
    from apps.exits import notify as exits_notify

    with eager():
        exits_notify.alert(kind="exit_stuck", text="exit #3 not filled after attempt 2", key="s:3:2", severity="error")
        exits_notify.alert(kind="exit_stuck", text="exit #3 not filled after attempt 1", key="s:3:1")
    first, second = tg.sent("sendMessage")
    assert first.params["text"] == "❗ Protective exit stuck\nexit #3 not filled after attempt 2"
    assert second.params["text"].startswith("⚠️ Protective exit stuck\n")


def test_alert_send_is_a_no_op_without_an_alert_chat(tg, eager, settings):
    settings.ALERT_TELEGRAM_CHAT_ID = None
    with eager():
        assert alert_send(kind="health_down", text="database down") is False
    assert tg.replies() == []


def test_an_alert_the_broker_refuses_is_sent_directly_and_still_deduplicated(
    tg, monkeypatch, django_capture_on_commit_callbacks
):
    """Issue 11, Deliver 3: alerts have a path that does not depend on the Celery broker."""

    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(notification_deliver, "apply_async", broken)
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_send(kind="health_down", text="broker: ok → down", key="health:broker:down") is True
        assert alert_send(kind="health_down", text="broker: ok → down", key="health:broker:down") is True
    [call] = tg.sent("sendMessage")
    assert call.params["chat_id"] == ALERT_CHAT and "broker: ok → down" in call.params["text"]


def test_a_direct_alert_that_fails_counts_in_alerts_failed_total(tg, monkeypatch, django_capture_on_commit_callbacks):
    from apps.monitoring import metrics

    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(notification_deliver, "apply_async", broken)
    tg.fail_next("sendMessage", 400)
    before = metrics.ALERTS_FAILED.labels(channel="telegram")._value.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_send(kind="breaker_opened", text="gateio private") is True  # never raises
    assert metrics.ALERTS_FAILED.labels(channel="telegram")._value.get() == before + 1


def test_deduplication_falls_back_to_the_database_while_redis_is_down(tg, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    outcomes = [
        deliver_direct(telegram_channel, kind="health_down", text="redis down", key="health:broker:down")
        for _ in range(2)
    ]
    assert outcomes == ["sent", "deduplicated"]


def test_alert_waits_for_the_transaction_to_commit(tg, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        alert_send(kind="exit_triggered", text="BTC/USDT stop-loss at 48000")
    assert tg.replies() == [] and len(callbacks) == 1  # queued only when the transaction commits


def test_same_key_is_sent_once_within_the_window(tg, eager):
    with eager():
        for _ in range(3):
            alert_send(kind="reconciliation_discrepancy", text="2 orders unknown to the exchange", key="run-7")
        alert_send(kind="reconciliation_discrepancy", text="other run", key="run-8")
    assert len(tg.sent("sendMessage")) == 2


def test_same_text_without_key_is_deduplicated(tg):
    outcomes = [deliver(kind="health_down", text="redis down", key="health_down:x") for _ in range(2)]
    assert outcomes == ["sent", "deduplicated"]


def test_duplicate_after_the_window_is_sent_again(tg, settings):
    from django.utils import timezone

    from apps.notifications.models import NotificationThrottle

    assert deliver(kind="health_up", text="ok", key="k") == "sent"
    NotificationThrottle.objects.filter(name="dedupe:k").update(expires_at=timezone.now())
    assert deliver(kind="health_up", text="ok", key="k") == "sent"


def test_rate_limit_drops_alerts_past_the_budget(tg, settings):
    settings.TELEGRAM_ALERT_RATE_PER_MIN = 3
    outcomes = [deliver(kind="exit_filled", text=f"exit {i}", key=f"exit-{i}") for i in range(5)]
    assert outcomes == ["sent", "sent", "sent", "rate_limited", "rate_limited"]
    assert len(tg.sent("sendMessage")) == 3


@pytest.mark.redis
def test_dedupe_and_rate_limit_shared_through_redis(tg, settings, redis_url):
    from apps.notifications.models import NotificationThrottle

    settings.REDIS_URL = redis_url
    settings.TELEGRAM_ALERT_RATE_PER_MIN = 2
    outcomes = [deliver(kind="breaker_opened", text="x", key=key) for key in ("a", "a", "b", "c")]
    assert outcomes == ["sent", "deduplicated", "sent", "rate_limited"]
    assert not NotificationThrottle.objects.exists()


def test_network_failure_is_retried_then_sent(tg):
    tg.fail_next("sendMessage", 502, times=2)
    result = notification_deliver.apply(
        kwargs={"channel": "telegram", "kind": "breaker_closed", "text": "gateio public", "key": "r1"}
    )
    assert result.get() == "sent"
    assert len(tg.sent("sendMessage")) == 3  # two failures, then success; dedupe did not eat the retries


def test_bad_request_is_not_retried(tg):
    tg.fail_next("sendMessage", 400)
    assert deliver(kind="health_down", text="x", key="bad") == "failed"
    assert len(tg.sent("sendMessage")) == 1


def test_outcomes_are_counted_in_metrics(tg):
    from apps.monitoring.metrics import TELEGRAM_ALERTS, TELEGRAM_ALERTS_DROPPED

    sent = TELEGRAM_ALERTS.labels(kind="exit_filled", outcome="sent")
    duplicate = TELEGRAM_ALERTS_DROPPED.labels(reason="deduplicated")
    sent_before, duplicate_before = sent._value.get(), duplicate._value.get()
    deliver(kind="exit_filled", text="x", key="m")
    deliver(kind="exit_filled", text="x", key="m")
    assert sent._value.get() == sent_before + 1
    assert duplicate._value.get() == duplicate_before + 1


def test_an_alert_queued_under_the_old_task_name_is_still_delivered(tg):
    """Messages in the broker at a deploy were queued as apps.telegram_bot.tasks.alert_deliver (no channel)."""
    from celery_app import app

    app.loader.import_default_modules()
    old = app.tasks["apps.telegram_bot.tasks.alert_deliver"]
    kwargs = {"kind": "health_down", "text": "redis down", "key": "health_down:old", "severity": "critical"}
    assert old.apply(kwargs=kwargs).get() == "sent"
    assert old.apply(kwargs=kwargs).get() == "deduplicated"  # through the same gate as notifications.deliver
    [call] = tg.sent("sendMessage")
    assert call.params["chat_id"] == ALERT_CHAT and call.params["text"] == "🚨 Health: DOWN\nredis down"
