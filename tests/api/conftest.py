"""API fixtures: tokens of each scope, an authenticated client, a paper broker over static market data."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from apps.api.models import ApiToken
from tests.api.fakes import paper_broker


def _token(name: str, scope: str, revoked: bool = False) -> tuple[ApiToken, str]:
    raw = ApiToken.generate()
    token = ApiToken(name=name, scope=scope, revoked=revoked)
    token.set_token(raw)
    token.save()
    return token, raw


@pytest.fixture(autouse=True)
def _hosts():
    with override_settings(ALLOWED_HOSTS=["testserver", "localhost", "127.0.0.1"]):
        yield


@pytest.fixture
def read_token(db) -> tuple[ApiToken, str]:
    return _token("reader", ApiToken.Scope.READ)


@pytest.fixture
def trade_token(db) -> tuple[ApiToken, str]:
    return _token("trader", ApiToken.Scope.TRADE)


@pytest.fixture
def revoked_token(db) -> tuple[ApiToken, str]:
    return _token("gone", ApiToken.Scope.TRADE, revoked=True)


@pytest.fixture
def reader(read_token) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {read_token[1]}")


@pytest.fixture
def trader(trade_token) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {trade_token[1]}")


@pytest.fixture
def broker(monkeypatch):
    """The process broker replaced by a paper broker over static candles and prices (no network)."""
    from apps.exchange import services

    fake = paper_broker()
    monkeypatch.setattr(services, "_broker", fake)
    return fake


@pytest.fixture
def trading_on(settings):
    """Through pytest-django's `settings`, like every other override: an override_settings block here would
    unwind before a test's own `settings.X = …` and leave ENABLE_TRADING on for the tests after it."""
    settings.ENABLE_TRADING, settings.MODE = True, "paper"
