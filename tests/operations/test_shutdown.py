"""Issue 11, Deliver 5: once a worker is asked to stop, nothing in flight may wait past the 30 s budget:
retries stop, limiter waits are cut short, and interruptible work (reads) ends at its next request."""

from __future__ import annotations

import pytest

from apps.exchange.broker import RateLimitWaitExceeded, TransientExchangeError
from apps.exchange.limiter import STOPPING_MAX_WAIT_SEC, Budget, FileWindow, RateLimiter
from apps.exchange.retry import call_read
from apps.operations import shutdown


@pytest.fixture
def stopping():
    shutdown.request_stop()
    yield
    shutdown.reset()


def test_reads_are_not_retried_once_the_worker_is_stopping(stopping):
    calls = []

    def flaky():
        calls.append(1)
        raise TransientExchangeError("timeout")

    with pytest.raises(TransientExchangeError):
        call_read(flaky, sleep=lambda seconds: None)
    assert len(calls) == 1


def test_reads_are_retried_while_the_worker_runs():
    shutdown.reset()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientExchangeError("timeout")
        return "ok"

    assert call_read(flaky, sleep=lambda seconds: None) == "ok" and len(calls) == 3


def test_a_stopping_worker_waits_at_most_two_seconds_for_the_limiter(stopping, tmp_path):
    limiter = RateLimiter(FileWindow(tmp_path), {"gateio": Budget(1, 30.0)}, max_wait=20.0)
    limiter.acquire("gateio")  # the budget's only slot: the next would wait ~30 s
    with pytest.raises(RateLimitWaitExceeded):
        limiter.acquire("gateio")
    assert STOPPING_MAX_WAIT_SEC < 20.0


def test_interruptible_work_ends_at_its_next_request(stopping, tmp_path):
    limiter = RateLimiter(FileWindow(tmp_path), {"gateio": Budget(100, 1.0)}, max_wait=1.0)
    limiter.acquire("gateio")  # outside interruptible(): an order being sent is never cut
    with shutdown.interruptible(), pytest.raises(shutdown.ShutdownRequested):
        limiter.acquire("gateio")
