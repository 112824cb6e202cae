"""Retries only for safe reads and transient failures; Retry-After honoured; writes never retried."""

from __future__ import annotations

import pytest

from apps.exchange.broker import (
    BusinessError,
    CircuitOpen,
    InsufficientFunds,
    OutcomeUnknown,
    RateLimited,
    RateLimitWaitExceeded,
    TransientExchangeError,
)
from apps.exchange.retry import call_read


def flaky(errors):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return fn, calls


def test_transient_failures_are_retried_until_success():
    fn, calls = flaky([TransientExchangeError("502"), TransientExchangeError("timeout")])
    assert call_read(fn, sleep=lambda s: None) == "ok"
    assert len(calls) == 3


@pytest.mark.parametrize(
    "error",
    [BusinessError("no"), InsufficientFunds("x"), CircuitOpen("open"), OutcomeUnknown("?"), RateLimitWaitExceeded("w")],
)
def test_business_errors_open_circuits_and_unknown_outcomes_are_not_retried(error):
    fn, calls = flaky([error])
    with pytest.raises(type(error)):
        call_read(fn, sleep=lambda s: None)
    assert len(calls) == 1


def test_retry_after_is_honoured():
    slept = []
    fn, _ = flaky([RateLimited("429", retry_after=3.0)])
    call_read(fn, sleep=slept.append)
    assert slept and slept[0] >= 3.0


def test_gives_up_after_the_attempts():
    fn, calls = flaky([TransientExchangeError("502")] * 10)
    with pytest.raises(TransientExchangeError):
        call_read(fn, attempts=3, sleep=lambda s: None)
    assert len(calls) == 3
