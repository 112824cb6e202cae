"""Secret redaction for logs, audit rows, admin and error pages."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

SECRET_KEYS = re.compile(r"(secret|token|password|api_key|apikey|passwd|authorization|sign|dsn)", re.I)
# Telegram bot tokens (123456:ABC...) and bearer tokens in free text.
SECRET_TEXT = [
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|secret|token|password)\s*[=:]\s*)[^\s,;&]+"),
]
MASK = "***"


def _configured_secrets() -> list[str]:
    try:
        values = [
            settings.GATEIO_API_KEY,
            settings.GATEIO_API_SECRET,
            settings.TELEGRAM_BOT_TOKEN,
            settings.TELEGRAM_WEBHOOK_SECRET,
        ]
    except Exception:  # settings not configured (early start-up)
        return []
    return [v for v in values if v and len(v) >= 6]


def redact_text(text: str) -> str:
    for value in _configured_secrets():
        text = text.replace(value, MASK)
    for pattern in SECRET_TEXT:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text


def redact(value: Any) -> Any:
    """Return a copy of value with secret-looking keys masked and known secrets removed from text."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and SECRET_KEYS.search(k) and v else redact(v)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
