"""Issue 12 item 3: the Content-Security-Policy header on every page (admin, API docs, errors), no CDN in
the docs page, and admin sessions that end with the browser and after ADMIN_SESSION_HOURS."""

from __future__ import annotations

import time

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import include, path

pytestmark = pytest.mark.django_db

STRICT = ("default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'")


def _boom(request):
    raise RuntimeError("kaboom")


def _fine(request):
    return HttpResponse("ok")


urlpatterns = [path("boom", _boom), path("fine", _fine), path("", include("tradebot.urls"))]


def _strict(response) -> None:
    policy = response["Content-Security-Policy"]
    for directive in STRICT:
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "http" not in policy


@pytest.mark.parametrize("url", ["/admin/login/", "/api/docs", "/api/openapi.json", "/health", "/no-such-page"])
def test_the_csp_header_is_on_every_page(url):
    _strict(Client().get(url))


def test_the_csp_header_is_on_a_500_page():
    with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
        response = Client(raise_request_exception=False).get("/boom")
    assert response.status_code == 500
    _strict(response)


def test_the_csp_header_is_on_the_admin_for_a_logged_in_operator(operator):
    client = Client()
    client.force_login(operator)
    response = client.get("/admin/")
    assert response.status_code == 200
    _strict(response)


def test_the_api_docs_page_loads_swagger_from_our_static_files():
    html = Client().get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "/static/ninja/swagger-ui.css" in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert Client().get("/static/ninja/swagger-ui-bundle.js").status_code == 200


def test_other_security_headers():
    response = Client().get("/admin/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_session_cookie_ends_with_the_browser(operator):
    client = Client()
    response = client.post("/admin/login/", {"username": "operator", "password": "operator-pass-123"})
    cookie = response.cookies["sessionid"]
    assert cookie["max-age"] == "" and cookie["expires"] == "" and cookie["httponly"]


def test_a_session_ends_admin_session_hours_after_its_login(operator, settings):
    from apps.security.middleware import LOGIN_AT_KEY

    assert settings.SESSION_COOKIE_AGE == 12 * 3600  # ADMIN_SESSION_HOURS default
    client = Client()
    client.post("/admin/login/", {"username": "operator", "password": "operator-pass-123"})
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[LOGIN_AT_KEY] = time.time() - 12 * 3600 - 5
    session.save()
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
