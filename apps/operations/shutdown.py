"""Graceful worker shutdown: SIGTERM lets in-flight tasks (and their exchange calls) finish, then exits.

Celery's warm shutdown (SIGTERM) waits for running tasks without any bound: CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT
only applies to a cold shutdown. So the bound comes from the tasks themselves: the worker's main process
sets a flag shared with its pool processes (`stop_requested()`), and long work checks it between steps —
reconciliation between symbols and order batches, exits and the cycle before sending anything new, retries
and limiter waits before waiting again — then ends cleanly, leaving the rest to the next run. Tasks are
acknowledged late, so one cut short by a SIGKILL is redelivered and re-run idempotently. The time from the
signal to exit is recorded as graceful_shutdown_duration_seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from celery.signals import worker_init, worker_shutdown, worker_shutting_down
from django.conf import settings

from apps.monitoring import metrics

log = logging.getLogger(__name__)
_started: dict[str, float] = {}
# Created in the worker's main process before the pool forks, so every pool process shares it.
_flag: Any = None


class ShutdownRequested(BaseException):
    """Raised by work that noticed a stop was requested and ended early (the next run does the rest).

    A BaseException, like KeyboardInterrupt: the exchange layer's `except Exception` wrappers must not turn
    it into an exchange error (which would be retried and counted by the breakers)."""


def stop_requested() -> bool:
    """True once this worker was asked to stop (always False outside a worker)."""
    return _flag is not None and _flag.is_set()


def raise_if_stopping(where: str = "") -> None:
    if stop_requested():
        raise ShutdownRequested(f"worker stopping{': ' + where if where else ''}")


_interruptible = threading.local()


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Work inside may be cut short at its next exchange request once a stop is requested (reads only:
    reconciliation uses it; an order being sent is never cut)."""
    depth = getattr(_interruptible, "depth", 0)
    _interruptible.depth = depth + 1
    try:
        yield
    finally:
        _interruptible.depth = depth


def check_interruptible(where: str = "") -> None:
    """Called before each exchange request (the limiter): raises inside `interruptible()` when stopping."""
    if getattr(_interruptible, "depth", 0) and stop_requested():
        raise ShutdownRequested(f"worker stopping{': ' + where if where else ''}")


def request_stop() -> None:
    """Set the flag (the worker's SIGTERM handler does; tests of the cut-short paths call it)."""
    global _flag
    if _flag is None:
        _flag = multiprocessing.Event()
    _flag.set()


def reset() -> None:
    """Clear the flag (tests)."""
    if _flag is not None:
        _flag.clear()


@worker_init.connect
def _on_worker_init(**kwargs: Any) -> None:
    global _flag
    _flag = multiprocessing.Event()


def _record_file() -> Path:
    return Path(settings.DATA_DIR) / "last_worker_shutdown.json"


@worker_shutting_down.connect
def _on_shutting_down(sig: str = "", how: str = "", exitcode: int = 0, **kwargs) -> None:
    _started["at"] = time.monotonic()
    if _flag is not None:
        _flag.set()
    log.warning("worker shutting down (%s, %s): finishing in-flight tasks", sig, how)


@worker_shutdown.connect
def _on_shutdown(**kwargs) -> None:
    started = _started.get("at")
    if started is None:
        return
    duration = time.monotonic() - started
    log.warning("worker stopped gracefully in %.2f s", duration)
    try:
        metrics.GRACEFUL_SHUTDOWN.labels(process="worker").observe(duration)
        metrics.SHUTDOWNS.labels(process="worker", outcome="graceful" if duration <= 30 else "slow").inc()
    except Exception:  # metrics must never stand in the way of exiting
        log.exception("could not record the shutdown metric")
    try:
        _record_file().write_text(json.dumps({"duration_seconds": round(duration, 3), "at": time.time()}))
    except OSError:
        pass
