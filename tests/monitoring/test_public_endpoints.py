"""Issue 12 item 4: what anyone who reaches the port may read. /health open; /health/ready status alone
without an API token; /metrics behind METRICS_TOKEN when set; the OpenAPI schema says nothing secret."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "m" * 32


def test_health_stays_open():
    assert Client().get("/health").json() == {"status": "ok"}


def test_readiness_without_a_token_gives_the_status_alone(broker):
    response = Client().get("/health/ready")
    assert response.status_code in (200, 503)
    assert set(response.json()) == {"status"}


def test_readiness_with_a_wrong_or_revoked_token_gives_the_status_alone(broker):
    from apps.api.models import ApiToken

    raw = ApiToken.generate()
    token = ApiToken(name="old", scope=ApiToken.Scope.READ, revoked=True)
    token.set_token(raw)
    token.save()
    for value in (raw, "not-a-token"):
        assert set(Client(HTTP_AUTHORIZATION=f"Bearer {value}").get("/health/ready").json()) == {"status"}


def test_readiness_down_is_503_for_anonymous_callers_too(broker, monkeypatch):
    from apps.monitoring import health

    def broken():
        raise RuntimeError("connection refused to db.internal:5432")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = Client().get("/health/ready")
    assert response.status_code == 503 and response.json() == {"status": "down"}
    assert b"db.internal" not in response.content


def test_readiness_with_a_valid_token_shows_the_components(broker, token_client):
    body = token_client.get("/health/ready").json()
    assert "database" in body["components"]


@override_settings(METRICS_TOKEN=METRICS_TOKEN)
def test_metrics_without_the_token_is_401_when_metrics_token_is_set():
    response = Client().get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"orders_success" not in response.content
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/metrics").status_code == 401


@override_settings(METRICS_TOKEN=METRICS_TOKEN)
def test_metrics_with_the_token_is_served():
    response = Client(HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").get("/metrics")
    assert response.status_code == 200 and b"admin_login_failures_total" in response.content


def test_metrics_stay_open_while_metrics_token_is_empty():
    assert Client().get("/metrics").status_code == 200


def test_the_openapi_schema_reveals_nothing_beyond_the_readme():
    text = Client().get("/api/openapi.json").content.decode()
    for secret_ish in ("GATEIO_API", "SECRET_KEY", "sim-key", "127.0.0.1", "postgres", "redis://", "METRICS_TOKEN"):
        assert secret_ish not in text
