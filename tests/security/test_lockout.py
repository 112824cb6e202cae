"""Issue 12 item 1: admin login throttling and lockout (django-axes), audited, counted and alerted."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client, override_settings

from apps.audit.models import AuditLog
from apps.monitoring import metrics
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def _value(counter, **labels) -> float:
    return counter.labels(**labels)._value.get() if labels else counter._value.get()


def _failures() -> float:
    return _value(metrics.ADMIN_LOGIN_FAILURES)


def test_sixth_wrong_password_is_refused_and_audited(operator):
    """5 failures (ADMIN_LOGIN_FAILURE_LIMIT) lock the user: the 6th attempt, even with the right password,
    is refused (429) and every one of them is in the audit log."""
    client = Client()
    failures_before = _failures()
    for _ in range(4):
        assert _login(client, "operator", "wrong").status_code == 200  # the form again, with an error
    assert _login(client, "operator", "wrong").status_code == 429  # the 5th failure locks out
    response = _login(client, "operator", PASSWORD)
    assert response.status_code == 429
    assert b"locked" in response.content
    assert "_auth_user_id" not in client.session
    assert AuditLog.objects.filter(action="admin.login_failed", object_id="operator").count() >= 6
    assert AuditLog.objects.filter(action="admin.lockout", object_id="operator").exists()
    assert _failures() - failures_before == 6  # 4 wrong, 1 wrong that locked out, 1 refused while locked


def test_the_lockout_is_per_user_across_addresses(operator):
    client = Client()
    for n in range(5):
        _login(client, "operator", "wrong", ip=f"10.0.1.{n}")
    assert _login(client, "operator", PASSWORD, ip="10.0.2.1").status_code == 429


def test_the_lockout_is_per_address_across_users(operator, django_user_model):
    django_user_model.objects.create_superuser("second", "s@example.com", PASSWORD)
    client = Client()
    for n in range(5):
        _login(client, f"nobody{n}", "wrong", ip="10.0.3.3")
    assert _login(client, "second", PASSWORD, ip="10.0.3.3").status_code == 429
    assert _login(client, "second", PASSWORD, ip="10.0.3.4").status_code == 302  # another address is fine


def test_a_lockout_is_counted_and_alerted(operator, side_effects):
    client = Client()
    for _ in range(5):
        _login(client, "operator", "wrong")
    assert side_effects.metric("admin_login_lockouts_total") >= 1
    sent = [n for n in side_effects.notifications if n["kind"] == "admin_lockout"]
    assert sent and "operator" in sent[0]["text"] and sent[0]["severity"] == "critical"
    assert "axes_reset_username operator" in sent[0]["text"]
    assert "admin.lockout" in side_effects.audit_actions()


@override_settings(AXES_FAILURE_LIMIT=2)
def test_the_failure_limit_is_configurable(operator):
    client = Client()
    _login(client, "operator", "wrong")
    _login(client, "operator", "wrong")
    assert _login(client, "operator", PASSWORD).status_code == 429


def test_axes_reset_username_unlocks_as_the_readme_says(operator):
    client = Client()
    for _ in range(5):
        _login(client, "operator", "wrong")
    assert _login(client, "operator", PASSWORD).status_code == 429
    call_command("axes_reset_username", "operator")
    assert _login(client, "operator", PASSWORD).status_code == 302


def test_a_password_is_never_stored_with_the_attempt(operator):
    _login(Client(), "operator", "very-secret-guess")
    attempt = AccessAttempt.objects.get(username="operator")
    assert "very-secret-guess" not in attempt.post_data
    assert "very-secret-guess" not in " ".join(AuditLog.objects.values_list("message", flat=True))


def test_a_forged_forwarded_for_does_not_escape_the_address_lock(operator):
    client = Client()
    for n in range(5):
        client.post(
            LOGIN, {"username": f"x{n}", "password": "bad"}, REMOTE_ADDR="10.0.4.4", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}"
        )
    assert _login(client, "operator", PASSWORD, ip="10.0.4.4").status_code == 429
