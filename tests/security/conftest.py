from __future__ import annotations

import pytest
from django.test import override_settings


@pytest.fixture(autouse=True)
def _hosts():
    with override_settings(ALLOWED_HOSTS=["testserver", "localhost", "127.0.0.1"]):
        yield


@pytest.fixture
def live_mode():
    with override_settings(MODE="live"):
        yield


PASSWORD = "operator-pass-123"
