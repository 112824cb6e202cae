"""Django error pages and error e-mails with our secrets hidden (DEFAULT_EXCEPTION_REPORTER_FILTER)."""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

from apps.common.redact import redact_text


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error pages and error e-mails: hide our secret settings, headers and values by name and by content."""

    hidden_settings = re.compile(
        r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|DSN|DATABASE_URL|REDIS_URL|BROKER_URL",
        flags=re.IGNORECASE,
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return redact_text(cleansed) if isinstance(cleansed, str) else cleansed
