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


@pytest.fixture
def token_client(db):
    """A client with a valid API token: /health/ready shows the components only to such callers (issue 12)."""
    from django.test import Client

    from apps.api.models import ApiToken

    raw = ApiToken.generate()
    token = ApiToken(name="probe", scope=ApiToken.Scope.READ)
    token.set_token(raw)
    token.save()
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
