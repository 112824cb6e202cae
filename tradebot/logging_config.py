"""Structured logs: context (request id, Celery task id, client order id), redaction, JSON, Sentry.

`build_logging()` returns the LOGGING dict settings use; `log_context(client_order_id=…)` adds a value
to every record logged inside it; `init_sentry()` starts Sentry when SENTRY_DSN is set.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pythonjsonlogger.json import JsonFormatter

from apps.common.redact import MASK, SECRET_KEYS, redact, redact_text

if TYPE_CHECKING:  # sentry_sdk itself is imported only when a DSN is configured
    from sentry_sdk.types import Event, Hint

CONTEXT_FIELDS = ("request_id", "task_id", "task_name", "client_order_id")
_vars: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(name, default=None) for name in CONTEXT_FIELDS
}
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", *CONTEXT_FIELDS}


def context_get(name: str) -> str | None:
    return _vars[name].get()


def context_set(**values: str | None) -> dict[str, contextvars.Token]:
    """Set context values; returns tokens for `context_reset`."""
    return {name: _vars[name].set(value) for name, value in values.items()}


def context_reset(tokens: dict[str, contextvars.Token]) -> None:
    for name, token in tokens.items():
        try:
            _vars[name].reset(token)
        except ValueError:  # set in another context (e.g. a Celery signal in another thread)
            _vars[name].set(None)


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """`with log_context(client_order_id=order.client_order_id): …` — the value is on every record inside."""
    tokens = context_set(**values)
    try:
        yield
    finally:
        context_reset(tokens)


class ContextFilter(logging.Filter):
    """Adds request_id, task_id, task_name, client_order_id (None when not known) and a short `context`."""

    def filter(self, record: logging.LogRecord) -> bool:
        parts = []
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None) or _vars[name].get()
            setattr(record, name, value)
            if value:
                parts.append(f"{name}={value}")
        record.context = (" [" + " ".join(parts) + "]") if parts else ""
        return True


class RedactFilter(logging.Filter):
    """Masks secrets in the message, its arguments and any extra field, before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we have
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = ()
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD or key == "context":
                continue
            if SECRET_KEYS.search(key) and value:
                setattr(record, key, MASK)
            elif isinstance(value, (str, dict, list, tuple)):
                setattr(record, key, redact(value))
        return True


class ConsoleFormatter(logging.Formatter):
    """Plain text; tracebacks redacted too."""

    def formatException(self, ei: Any) -> str:
        return redact_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact_text(super().formatStack(stack_info))


def _redact_lines(text: str | list[str]) -> str | list[str]:
    """python-json-logger gives a traceback as one text, or as lines with `exc_info_as_array`."""
    return redact_text(text) if isinstance(text, str) else [redact_text(line) for line in text]


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line (python-json-logger); tracebacks redacted."""

    def formatException(self, ei: Any) -> str | list[str]:  # type: ignore[override]  # as JsonFormatter's own
        return _redact_lines(super().formatException(ei))

    def formatStack(self, stack_info: Any) -> str | list[str]:  # type: ignore[override]  # as JsonFormatter's own
        return _redact_lines(super().formatStack(stack_info))


def build_logging(log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING dict: one stderr handler with context and redaction filters, console or JSON."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": log_format,
        "filters": ["context", "redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "tradebot.logging_config.ContextFilter"},
            "redact": {"()": "tradebot.logging_config.RedactFilter"},
        },
        "formatters": {
            "console": {
                "()": "tradebot.logging_config.ConsoleFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s%(context)s %(message)s",
            },
            "json": {
                "()": "tradebot.logging_config.JsonLogFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s %(task_name)s "
                "%(client_order_id)s",
                "rename_fields": {"levelname": "level", "name": "logger", "asctime": "time"},
            },
        },
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Django's own handlers bypass the root one; route them through ours (filters included).
            "django.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "django": {"handlers": [], "level": level, "propagate": True},
        },
    }


def sentry_before_send(event: Event, hint: Hint) -> Event:
    """Sentry events leave with secrets masked (keys that look secret, known secret values, bearer tokens)."""
    cleaned: Event = redact(event)
    return cleaned


def init_sentry(dsn: str, *, environment: str, release: str = "") -> bool:
    """Start Sentry when a DSN is configured; returns whether it was started."""
    if not dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        send_default_pii=False,
        before_send=sentry_before_send,
        before_send_transaction=sentry_before_send,
        traces_sample_rate=0.0,
    )
    return True
