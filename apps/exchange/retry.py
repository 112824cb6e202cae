"""Retries in one place: only reads, only transient failures, exponential backoff with jitter.

What is retried: network errors, timeouts, 5xx and 429 (TransientExchangeError), waiting at least what a
429's Retry-After asked for. What is never retried: business errors (the exchange said no and will say no
again), an open circuit (CircuitOpen: retrying would defeat it), our own limiter refusing a wait, and any
write whose outcome is unknown. `create_order` never goes through here: a lost answer to an order is
resolved by looking it up (apps.trading.submission.order_submit), not by sending it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, nap, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from apps.exchange.broker import OutcomeUnknown, RateLimited, RateLimitWaitExceeded, TransientExchangeError
from apps.operations.shutdown import stop_requested

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 4
MAX_DELAY_SEC = 20.0
RETRY_AFTER_CAP_SEC = 30.0


def is_retryable(exc: BaseException) -> bool:
    """True for failures a safe read may be repeated after."""
    if isinstance(exc, OutcomeUnknown | RateLimitWaitExceeded):
        return False
    return isinstance(exc, TransientExchangeError)


class _BackoffOrRetryAfter:
    """Exponential backoff with full jitter, but never shorter than a 429's Retry-After."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.backoff = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)

    def __call__(self, state: RetryCallState) -> float:
        delay = self.backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after:
            delay = max(delay, min(float(exc.retry_after), RETRY_AFTER_CAP_SEC))
        return delay


class _StopRequested(stop_base):
    """A worker asked to stop does not wait to retry: the next run reads again."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        return stop_requested()


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.info(
        "retrying %s after %s (attempt %d, next in %.2fs)",
        getattr(state.fn, "__name__", "call"),
        exc,
        state.attempt_number,
        state.next_action.sleep if state.next_action else 0.0,
    )


def call_read(
    fn: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    initial: float = 0.2,
    maximum: float = 5.0,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Call a safe read, retrying transient failures; the last failure is raised as is."""
    retrying = Retrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(attempts) | stop_after_delay(MAX_DELAY_SEC) | _StopRequested(),
        wait=_BackoffOrRetryAfter(initial, maximum),
        before_sleep=_log_retry,
        reraise=True,
        sleep=sleep or nap.sleep,  # tenacity's own default
    )
    return retrying(fn)
