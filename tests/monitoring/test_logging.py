from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client, RequestFactory, override_settings

from tradebot.logging_config import ContextFilter, JsonLogFormatter, RedactFilter, log_context, sentry_before_send

SECRET = "s3cr3t-api-secret-value"


def _json_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(
        JsonLogFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s %(client_order_id)s"
        )
    )
    logger = logging.getLogger("tests.structured")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger, stream


@override_settings(GATEIO_API_SECRET=SECRET, TELEGRAM_BOT_TOKEN="123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ra")
def test_secrets_are_redacted_in_message_extras_and_tracebacks():
    logger, stream = _json_logger()
    try:
        raise ValueError(f"signing failed with {SECRET}")
    except ValueError:
        logger.exception(
            "calling https://api.telegram.org/bot123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ra/sendMessage %s",
            "Authorization: Bearer abcdefghijklmnop",
            extra={"api_key": "visible-key", "payload": {"token": "t0ken"}},
        )
    text = stream.getvalue()
    assert SECRET not in text and "AAEhBOweik6ad9r" not in text and "abcdefghijklmnop" not in text
    assert "visible-key" not in text and "t0ken" not in text
    record = json.loads(text)
    assert record["levelname"] == "ERROR" and "***" in record["message"]


def test_context_values_are_on_records():
    logger, stream = _json_logger()
    with log_context(client_order_id="t-tb-abc", task_id="task-1"):
        logger.info("placing")
    logger.info("outside")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["client_order_id"] == "t-tb-abc" and inside["task_id"] == "task-1"
    assert outside["client_order_id"] is None


@pytest.mark.django_db
def test_request_id_comes_in_and_goes_out():
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        echoed = Client().get("/health", HTTP_X_REQUEST_ID="abc-123")
        made = Client().get("/health", HTTP_X_REQUEST_ID="bad id with spaces")
    assert echoed["X-Request-ID"] == "abc-123"
    assert made["X-Request-ID"] != "bad id with spaces" and len(made["X-Request-ID"]) == 32


@override_settings(GATEIO_API_KEY="key-1234567890", DEBUG=False)
def test_error_pages_hide_our_secret_settings():
    from apps.monitoring.errors import SecretsExceptionReporterFilter

    request = RequestFactory().get("/", HTTP_AUTHORIZATION="Bearer tb_secret_value")
    reporter = SecretsExceptionReporterFilter()
    safe = reporter.get_safe_settings()
    for name in ("GATEIO_API_KEY", "GATEIO_API_SECRET", "TELEGRAM_BOT_TOKEN", "SENTRY_DSN", "DATABASE_URL"):
        assert safe[name] == reporter.cleansed_substitute, name
    assert reporter.get_safe_request_meta(request)["HTTP_AUTHORIZATION"] == reporter.cleansed_substitute


def test_sentry_events_are_redacted():
    event = {
        "extra": {"api_key": "abc", "note": "Bearer abcdefghijklmnop"},
        "request": {"headers": {"Authorization": "x"}},
    }
    cleaned = sentry_before_send(event, {})
    assert cleaned["extra"]["api_key"] == "***" and "abcdefghijklmnop" not in cleaned["extra"]["note"]
    assert cleaned["request"]["headers"]["Authorization"] == "***"


def test_sentry_is_started_only_with_a_dsn(monkeypatch):
    import sentry_sdk

    from tradebot.logging_config import init_sentry

    calls = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **kw: calls.append(kw))
    assert init_sentry("", environment="paper") is False
    assert init_sentry("https://key@sentry.example/1", environment="paper") is True
    assert calls[0]["before_send"] is sentry_before_send and calls[0]["send_default_pii"] is False
