from __future__ import annotations

import pytest
from django.test import override_settings


@pytest.fixture(autouse=True)
def _hosts():
    with override_settings(ALLOWED_HOSTS=["testserver", "localhost", "127.0.0.1"]):
        yield


@pytest.fixture(autouse=True)
def _fresh_exchange_probe():
    from apps.monitoring.health import reset_exchange_cache

    reset_exchange_cache()
    yield
    reset_exchange_cache()


@pytest.fixture
def broker(monkeypatch):
    from apps.exchange import services
    from tests.api.fakes import paper_broker

    fake = paper_broker()
    monkeypatch.setattr(services, "_broker", fake)
    return fake
