"""The generic delivery of apps.notifications, through a fake channel registered beside Telegram: the gate
(de-duplication by key within the channel's window, then its rate), the queued task retrying "retry later" and
dropping "failed", and the direct path when the broker refuses the task."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

import apps.notifications as notifications
from apps.monitoring import metrics
from apps.notifications import delivery, notify
from apps.notifications.delivery import MAX_RETRIES, Attempt, Failed, QueuedChannel, RetryLater, Sent, deliver

pytestmark = pytest.mark.django_db


class FakeChannel(QueuedChannel):
    """Answers each send with the next of `answers` (then Sent); records what it was asked and counted."""

    def __init__(self, name: str = "fake", answers: list[Attempt] | None = None) -> None:
        self.name = name
        self.answers = list(answers or [])
        self.on, self.window, self.rate, self.delay = True, 600, 20, 0.0
        self.sent: list[tuple[str, str, str]] = []
        self.attempts = 0
        self.counted: list[tuple[str, str]] = []
        self.dropped: list[str] = []

    def configured(self) -> bool:
        return self.on

    def dedupe_seconds(self) -> int:
        return self.window

    def rate_per_minute(self) -> int:
        return self.rate

    def send(self, *, kind: str, text: str, severity: str, timeout: float | None) -> Attempt:
        self.attempts += 1
        time.sleep(self.delay)
        answer = self.answers.pop(0) if self.answers else Sent()
        if isinstance(answer, Sent):
            self.sent.append((kind, text, severity))
        return answer

    def count(self, *, kind: str, outcome: str) -> None:
        self.counted.append((kind, outcome))

    def count_dropped(self, *, reason: str) -> None:
        self.dropped.append(reason)

    def outcomes(self) -> list[str]:
        return [outcome for _, outcome in self.counted]


@pytest.fixture
def fake(monkeypatch, settings) -> FakeChannel:
    """A second channel, registered beside the others; counters in the database (REDIS_URL unset)."""
    settings.REDIS_URL = ""
    channel = FakeChannel()
    monkeypatch.setitem(notifications._channels, channel.name, channel)
    return channel


def failed_count(channel: str) -> float:
    return metrics.ALERTS_FAILED.labels(channel=channel)._value.get()


@dataclass
class FakeTask:
    """A bound task as deliver_run sees it: its retry count, and retry() recording the countdown."""

    retries: int = 0
    countdowns: list[float] = field(default_factory=list)

    class Retry(Exception):
        pass

    @property
    def request(self):
        return self

    def retry(self, *, countdown: float):
        self.countdowns.append(countdown)
        return self.Retry()


def run_like_celery(channel: str, **message: str) -> tuple[str, list[float]]:
    """deliver_run retried the way Celery does it (each retry a new run with retries + 1)."""
    task = FakeTask()
    while True:
        try:
            return delivery.deliver_run(task, channel=channel, **message), task.countdowns
        except FakeTask.Retry:
            task.retries += 1


def test_notify_reaches_the_second_channel_through_the_queued_task(fake, eager):
    with eager():
        assert notify("health_down", "database down", key="db", severity="critical") is True
    assert fake.sent == [("health_down", "database down", "critical")]
    assert fake.counted == [("health_down", "sent")]


def test_an_unknown_severity_is_delivered_as_a_warning(fake, eager):
    with eager():
        notify("health_down", "x", severity="loud")
    assert fake.sent == [("health_down", "x", "warning")]


def test_a_channel_not_configured_is_given_nothing(fake, eager):
    fake.on = False
    with eager():
        assert delivery.enqueue(fake, kind="health_down", text="x") is False
    assert fake.attempts == 0 and fake.counted == []


def test_the_same_key_is_delivered_once_within_the_channel_window(fake, eager):
    with eager():
        for _ in range(3):
            notify("reconciliation_discrepancy", "2 orders unknown", key="run-7")
        notify("reconciliation_discrepancy", "other run", key="run-8")
    assert [text for _, text, _ in fake.sent] == ["2 orders unknown", "other run"]
    assert fake.outcomes().count("deduplicated") == 2 and fake.dropped == ["deduplicated", "deduplicated"]


def test_a_duplicate_after_the_window_is_delivered_again(fake, eager):
    from apps.notifications.models import NotificationThrottle

    with eager():
        notify("health_up", "ok", key="k")
    # The fake channel's counters are scoped by its name; Telegram's keep their names of before the move.
    assert NotificationThrottle.objects.filter(name="fake:dedupe:health_up:k").update(expires_at=timezone.now()) == 1
    with eager():
        notify("health_up", "ok", key="k")
    assert len(fake.sent) == 2


def test_the_rate_limit_drops_messages_past_the_channel_budget(fake, eager):
    fake.rate = 2
    with eager():
        for i in range(4):
            notify("exit_filled", f"exit {i}", key=f"exit-{i}")
    assert [text for _, text, _ in fake.sent] == ["exit 0", "exit 1"]
    assert fake.outcomes() == ["sent", "sent", "rate_limited", "rate_limited"]
    assert fake.dropped == ["rate_limited", "rate_limited"]


def test_each_channel_has_its_own_gate(fake, monkeypatch, eager):
    other = FakeChannel("other")
    monkeypatch.setitem(notifications._channels, other.name, other)
    with eager():
        notify("health_down", "x", key="same")
        notify("health_down", "x", key="same")
    assert len(fake.sent) == 1 and len(other.sent) == 1


def test_retry_later_is_retried_with_backoff_or_the_channel_s_delay_then_sent(fake):
    fake.answers = [RetryLater("network"), RetryLater("flood control", after_seconds=7), RetryLater("network")]
    outcome, countdowns = run_like_celery("fake", kind="breaker_closed", text="gateio public", key="breaker_closed:r1")
    assert outcome == "sent" and fake.attempts == 4
    assert countdowns == [2.0, 7.0, 8.0]  # backoff 2 s, 4 s, 8 s …; the channel's own delay when it knows one
    assert fake.outcomes() == ["sent"]  # the gate ran once: a retry is not taken for a duplicate


def test_retry_later_through_the_celery_task_is_sent(fake):
    fake.answers = [RetryLater("network"), RetryLater("network")]
    result = deliver.apply(kwargs={"channel": "fake", "kind": "health_up", "text": "ok", "key": "health_up:1"})
    assert result.get() == "sent" and fake.attempts == 3


def test_retry_later_past_the_last_retry_fails_and_counts(fake):
    fake.answers = [RetryLater("network")] * (MAX_RETRIES + 1)
    before = failed_count("fake")
    outcome, countdowns = run_like_celery("fake", kind="health_down", text="x", key="health_down:1")
    assert outcome == "failed" and fake.attempts == MAX_RETRIES + 1 and len(countdowns) == MAX_RETRIES
    assert countdowns[-1] <= delivery.BACKOFF_MAX_SEC
    assert fake.outcomes() == ["failed"] and failed_count("fake") == before + 1


def test_failed_is_dropped_after_one_attempt(fake):
    fake.answers = [Failed("unknown recipient")]
    before = failed_count("fake")
    outcome, countdowns = run_like_celery("fake", kind="health_down", text="x", key="health_down:2")
    assert (outcome, countdowns, fake.attempts) == ("failed", [], 1)
    assert fake.outcomes() == ["failed"] and failed_count("fake") == before + 1


def test_a_send_that_raises_fails_without_a_retry(fake, monkeypatch):
    def broken(**_):
        raise RuntimeError("bug in the channel")

    monkeypatch.setattr(fake, "send", broken)
    outcome, countdowns = run_like_celery("fake", kind="health_down", text="x", key="health_down:3")
    assert (outcome, countdowns) == ("failed", [])


def test_a_task_for_a_channel_not_registered_here_is_skipped(fake):
    result = deliver.apply(kwargs={"channel": "nowhere", "kind": "health_down", "text": "x", "key": "k"})
    assert result.get() == "skipped" and fake.attempts == 0


def _broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(deliver, "apply_async", refuse)


def test_a_message_the_broker_refuses_is_sent_directly_through_the_same_gate(
    fake, monkeypatch, django_capture_on_commit_callbacks
):
    _broker_down(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        assert notify("health_down", "broker: ok → down", key="health:broker:down") is True
        assert notify("health_down", "broker: ok → down", key="health:broker:down") is True
    assert fake.sent == [("health_down", "broker: ok → down", "warning")]
    assert fake.outcomes() == ["enqueue_failed", "sent", "enqueue_failed", "deduplicated"]


def test_the_direct_path_is_one_bounded_attempt(fake, monkeypatch, django_capture_on_commit_callbacks):
    _broker_down(monkeypatch)
    monkeypatch.setattr(delivery, "DIRECT_TIMEOUT_SEC", 0.2)
    fake.delay = 3.0  # a channel that hangs
    before = failed_count("fake")
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        assert notify("breaker_opened", "gateio private", key="b1") is True  # never raises
    assert time.monotonic() - started < 2.0
    assert fake.outcomes() == ["enqueue_failed", "failed"] and failed_count("fake") == before + 1


def test_retry_later_on_the_direct_path_is_not_retried(fake, monkeypatch, django_capture_on_commit_callbacks):
    _broker_down(monkeypatch)
    fake.answers = [RetryLater("network")]
    with django_capture_on_commit_callbacks(execute=True):
        notify("breaker_opened", "gateio private", key="b2")
    assert fake.attempts == 1 and fake.outcomes() == ["enqueue_failed", "failed"]


def test_a_direct_path_that_breaks_drops_the_message_and_counts_it(
    fake, monkeypatch, django_capture_on_commit_callbacks
):
    _broker_down(monkeypatch)

    def broken() -> int:
        raise RuntimeError("the gate's database is gone too")

    monkeypatch.setattr(fake, "dedupe_seconds", broken)
    before = failed_count("fake")
    with django_capture_on_commit_callbacks(execute=True):
        assert notify("health_down", "everything down", key="all") is True  # never raises
    assert fake.attempts == 0 and fake.dropped == ["enqueue_failed"]
    assert fake.outcomes() == ["enqueue_failed"] and failed_count("fake") == before + 1
