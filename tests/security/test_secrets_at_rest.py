"""Issue 12 item 6: API tokens stay hashed; the exchange key never leaves the process environment — not in
the database, the admin, the API schema, readiness details, metrics or the simulator's start-up line."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from apps.api.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db

KEY = "KEY-7f3a9c-must-not-leak"
SECRET = "SECRET-51d0e2-must-not-leak"


def test_api_tokens_are_stored_as_hashes_only():
    raw = ApiToken.generate()
    token = ApiToken(name="t", scope=ApiToken.Scope.READ)
    token.set_token(raw)
    token.save()
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in json.dumps(stored, default=str)
    assert stored["token_hash"] == hash_token(raw)


def test_the_exchange_key_is_not_served_anywhere(operator, monkeypatch):
    from apps.exchange import services
    from tests.api.fakes import paper_broker

    monkeypatch.setattr(services, "_broker", paper_broker())  # readiness without the network
    with override_settings(GATEIO_API_KEY=KEY, GATEIO_API_SECRET=SECRET):
        raw = ApiToken.generate()
        token = ApiToken(name="probe", scope=ApiToken.Scope.READ)
        token.set_token(raw)
        token.save()
        admin = Client()
        admin.force_login(operator)
        pages = [
            Client().get("/api/openapi.json"),
            Client().get("/metrics"),
            Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/health/ready"),
            admin.get("/admin/"),
            admin.get("/admin/audit/auditlog/"),
        ]
    for response in pages:
        assert KEY.encode() not in response.content and SECRET.encode() not in response.content


def test_the_simulator_does_not_print_its_api_key():
    """`simulate_exchange` prints its URL and symbols at start-up, not the key a client must sign with."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "GATEIO_API_KEY": KEY, "GATEIO_API_SECRET": SECRET}
    for json_flag in (["--json"], []):
        with tempfile.TemporaryFile("w+") as errors:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "simulate_exchange", "--port", "0", *json_flag],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
            try:
                first = proc.stdout.readline()
            finally:
                proc.terminate()
                rest = proc.communicate(timeout=60)[0]
            errors.seek(0)
            logged = errors.read()
        assert "127.0.0.1" in first, first + rest + logged
        assert KEY not in first + rest + logged and SECRET not in first + rest + logged
