"""Issue 12 item 3: re-authentication (password, plus a code where 2FA applies) before resume trading in
live, close positions and revoke API tokens; reusable as a decorator, an admin-action decorator and a view."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings

from apps.api.models import ApiToken
from apps.audit.models import AuditLog
from tests.security.conftest import PASSWORD
from tests.security.helpers import enrol_totp, fresh_code, login_with_otp

pytestmark = pytest.mark.django_db

TOKENS = "/admin/api/apitoken/"


@pytest.fixture
def console(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def token(db) -> ApiToken:
    token = ApiToken(name="grafana", scope=ApiToken.Scope.READ)
    token.set_token(ApiToken.generate())
    token.save()
    return token


def _carried(html: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html):
        if name != "csrfmiddlewaretoken":
            fields.setdefault(name, []).append(value)
    return fields


def test_revoking_tokens_asks_for_the_password_and_carries_the_selection(console, token):
    asked = console.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk]})
    assert asked.status_code == 200 and b"reauth_password" in asked.content
    token.refresh_from_db()
    assert not token.revoked
    fields = _carried(asked.content.decode())
    assert fields["action"] == ["revoke"] and fields["_selected_action"] == [str(token.pk)]
    done = console.post(TOKENS, {**fields, "reauth_password": PASSWORD})
    assert done.status_code == 302
    token.refresh_from_db()
    assert token.revoked
    assert AuditLog.objects.filter(action="admin.reauth", object_id="tokens.revoke", message="ok").exists()


def test_a_wrong_password_refuses_the_action_and_is_audited(console, token):
    response = console.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk], "reauth_password": "nope"})
    assert response.status_code == 403 and b"password is wrong" in response.content
    token.refresh_from_db()
    assert not token.revoked
    assert AuditLog.objects.filter(action="admin.reauth", message__startswith="refused").exists()


def test_a_fresh_reauth_covers_the_next_action_within_the_window(console, token):
    console.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk], "reauth_password": PASSWORD})
    other = ApiToken(name="other", scope=ApiToken.Scope.READ)
    other.set_token(ApiToken.generate())
    other.save()
    assert console.post(TOKENS, {"action": "revoke", "_selected_action": [other.pk]}).status_code == 302
    other.refresh_from_db()
    assert other.revoked


@override_settings(ADMIN_REAUTH_WINDOW_SEC=0)
def test_with_a_zero_window_every_action_asks_again(console, token):
    console.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk], "reauth_password": PASSWORD})
    other = ApiToken(name="other", scope=ApiToken.Scope.READ)
    other.set_token(ApiToken.generate())
    other.save()
    assert b"reauth_password" in console.post(TOKENS, {"action": "revoke", "_selected_action": [other.pk]}).content


# The console's confirmation page comes first (issue 14): `post=yes` is its "Yes, resume trading" button.
CONFIRMED = {"post": "yes"}


def test_resume_in_paper_needs_no_reauth(console):
    response = console.post("/admin/operations/resume/", CONFIRMED)
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="admin.trading.resume").exists()


def test_resume_in_live_needs_password_and_a_fresh_code(operator):
    device = enrol_totp(operator)
    with override_settings(MODE="live"):
        client = Client()
        assert login_with_otp(client, "operator", PASSWORD, fresh_code(device)).status_code == 302
        asked = client.post("/admin/operations/resume/", CONFIRMED)
        assert asked.status_code == 200 and b"reauth_otp" in asked.content
        assert not AuditLog.objects.filter(action="admin.trading.resume").exists()
        no_code = client.post("/admin/operations/resume/", {**CONFIRMED, "reauth_password": PASSWORD})
        assert no_code.status_code == 403
        done = client.post(
            "/admin/operations/resume/", {**CONFIRMED, "reauth_password": PASSWORD, "reauth_otp": fresh_code(device)}
        )
        assert done.status_code == 302
        assert AuditLog.objects.filter(action="admin.trading.resume").exists()


def test_the_reauth_view_goes_on_to_next_on_this_site_only(console):
    page = console.get("/admin/security/reauth/?next=/admin/trading/position/")
    assert page.status_code == 200 and b'name="reauth_next" value="/admin/trading/position/"' in page.content
    ok = console.post(
        "/admin/security/reauth/", {"reauth_password": PASSWORD, "reauth_next": "/admin/trading/position/"}
    )
    assert ok.status_code == 302 and ok["Location"] == "/admin/trading/position/"
    evil = console.post(
        "/admin/security/reauth/", {"reauth_password": PASSWORD, "reauth_next": "https://evil.example/"}
    )
    assert evil["Location"] == "/admin/"


def test_reauth_failures_feed_the_login_lockout(console, token):
    for _ in range(5):
        console.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk], "reauth_password": "nope"})
    response = console.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk], "reauth_password": PASSWORD})
    assert b"locked" in response.content
    token.refresh_from_db()
    assert not token.revoked
