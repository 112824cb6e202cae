"""Issue 12 item 3 in a real browser (Playwright driving Debian's chromium): the admin works under the strict
Content-Security-Policy with no violation, and /api/docs renders with every request off this host cut off
(Swagger UI from our own static files, nothing from a CDN). Fixtures are local to this file."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop in this thread

PASSWORD = "operator-pass-123"
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
# Collected in the page: every CSP violation the browser reports (an init script is not subject to the CSP).
WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Watched:
    """A page whose CSP violations, console errors and requests to other hosts are recorded."""

    def __init__(self, browser, base_url: str, *, offline: bool = False) -> None:
        self.context = browser.new_context(base_url=base_url)
        self.context.add_init_script(WATCH_CSP)
        self.outside: list[str] = []
        self.console: list[str] = []
        if offline:
            self.context.route("**/*", self._local_only)
        self.page = self.context.new_page()
        self.page.on("console", lambda msg: msg.type == "error" and self.console.append(f"{self.page.url}: {msg.text}"))
        self.page.on("request", self._note)
        self.page.set_default_timeout(60_000)  # a loaded 2-core machine

    def _note(self, request) -> None:
        host = urlparse(request.url).hostname
        if request.url.startswith("http") and host not in LOCAL_HOSTS:
            self.outside.append(request.url)

    def _local_only(self, route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    def violations(self) -> list[str]:
        return self.page.evaluate("window.__csp || []")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def operator_user(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


@pytest.fixture
def watched(browser, live_server):
    pages: list[Watched] = []

    def make(**kwargs) -> Watched:
        page = Watched(browser, live_server.url, **kwargs)  # `browser`: tests/browser/conftest.py
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.close()


def _login(w: Watched) -> None:
    page = w.page
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def test_the_admin_works_under_the_csp_in_chromium(watched, operator_user, settings):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
    w = watched(offline=True)
    response = w.page.goto("/admin/login/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    _login(w)
    assert "Dashboard" in w.page.content()
    # The admin's own JavaScript runs under the policy: the changelist's select-all checkbox ticks the rows.
    from apps.api.models import ApiToken

    for name in ("grafana", "backup"):
        token = ApiToken(name=name, scope=ApiToken.Scope.READ)
        token.set_token(ApiToken.generate())
        token.save()
    w.page.goto("/admin/api/apitoken/")
    w.page.check("#action-toggle")
    assert w.page.locator("input.action-select:checked").count() == 2
    assert "2 of 2 selected" in w.page.inner_text(".action-counter")
    # Revoking asks for the password again (re-authentication), then runs.
    w.page.select_option("select[name=action]", "revoke")
    w.page.click("button[name=index]")
    w.page.fill("#id_reauth_password", PASSWORD)
    w.page.click("#reauth-form input[type=submit]")
    w.page.wait_for_url("**/admin/api/apitoken/")
    assert ApiToken.objects.filter(revoked=True).count() == 2
    # The 2FA page draws its QR code here (inline SVG) under the same policy (the re-authentication above is
    # still fresh, so no second password prompt).
    w.page.goto("/admin/security/otp/")
    w.page.click("#otp-start-form input[type=submit]")
    w.page.wait_for_selector("#otp-qr svg")
    assert w.page.locator("#otp-secret").inner_text().strip()
    assert w.violations() == [] and not [c for c in w.console if "Content Security Policy" in c]
    assert w.outside == []


def test_api_docs_render_with_the_network_cut_off(watched, settings):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
    w = watched(offline=True)
    response = w.page.goto("/api/docs")
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    w.page.wait_for_selector(".swagger-ui .info .title")
    assert "tradebot API" in w.page.inner_text(".swagger-ui .info .title")
    w.page.wait_for_selector(".opblock")
    assert w.page.locator(".opblock").count() >= 10  # every operation listed, from /api/openapi.json
    assert w.outside == [], f"the docs page reached outside: {w.outside}"
    assert w.violations() == [], w.violations()
