"""Browser tests: Playwright (PyPI) driving Debian's chromium against pytest-django's live server.

- `browser`: one chromium per session, started with executable_path (`playwright install` cannot download
  here); CHROMIUM_PATH overrides /usr/bin/chromium.
- `exchange` / `history`: the bundled simulator over HTTP, the console's broker pointed at it (MODE=live, so
  balances are the exchange's), and a trading history made through the real services (scenario.py).
- `console_page`: a logged-in page at each viewport (desktop 1280x900, phone 390x844 — every test runs at
  both), collecting console errors and failed requests; the test fails on any of them.
- `shot(page, name)`: a full-page screenshot under data/screenshots/<name>-<viewport>.png for a reviewer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.scenario import live_on_simulator, trading_history

# Playwright's sync API runs an asyncio loop in this thread; the ORM calls the tests make around it are plain
# synchronous code (Playwright's own documentation for Django gives this setting).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "data" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
PASSWORD = "operator-pass-123"
# The first elements reaching past the viewport (to say what made a page too wide).
WIDEST = """(limit) => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > limit + 1).slice(0, 5)
    .map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


@pytest.fixture(scope="module")
def browser():
    from tests.conftest import _need

    if not Path(CHROMIUM).exists():
        _need(f"chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def exchange(settings, tmp_path):
    with live_on_simulator(settings) as exchange:
        yield exchange


@pytest.fixture
def history(exchange, tmp_path, transactional_db):
    trading_history(exchange, tmp_path)
    return exchange


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


class ConsolePage:
    """A logged-in chromium page, with what went wrong in it."""

    def __init__(self, page, base_url: str, viewport: str) -> None:
        self.page = page
        self.base_url = base_url
        self.viewport = viewport
        self.errors: list[str] = []
        page.on(
            "console",
            lambda msg: self.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("requestfailed", self._request_failed)
        page.on(
            "response",
            lambda resp: self.errors.append(f"HTTP {resp.status}: {resp.url}") if resp.status >= 400 else None,
        )

    def _request_failed(self, request) -> None:
        # net::ERR_ABORTED is the browser cancelling a request itself because the page navigated on (a form
        # posted before /admin/jsi18n/ finished loading): nothing failed to load. Every other failure counts.
        if request.failure != "net::ERR_ABORTED":
            self.errors.append(f"request failed: {request.url} {request.failure}")

    def reauth_if_asked(self) -> None:
        """Pass the re-authentication step (password and a fresh code) when the page asks for it."""
        from tests.security.helpers import fresh_code

        if self.page.locator("input[name=reauth_password]").count():
            self.page.fill("input[name=reauth_password]", PASSWORD)
            if self.page.locator("input[name=reauth_otp]").count():
                self.page.fill("input[name=reauth_otp]", fresh_code(self.device))
            self.page.locator("input[name=reauth_password]").press("Enter")
            self.page.wait_for_load_state("load")

    def go(self, path: str):
        response = self.page.goto(self.base_url + path, wait_until="load")
        assert response is not None and response.ok, f"{path}: {response.status if response else 'no response'}"
        return response

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.viewport}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def no_horizontal_scroll(self) -> None:
        """The page itself never scrolls sideways (wide tables scroll inside their own box)."""
        width = self.page.evaluate("document.documentElement.scrollWidth")
        viewport = VIEWPORTS[self.viewport]["width"]
        widest = self.page.evaluate(WIDEST, viewport)
        assert width <= viewport + 1, f"page is {width}px wide at a {viewport}px viewport: {widest}"


@pytest.fixture
def console_page(browser, live_server, django_user_model, viewport) -> Iterator[ConsolePage]:
    """Logged in through the real login form, with a TOTP code (MODE=live requires the second factor)."""
    from tests.security.helpers import enrol_totp, fresh_code

    user = django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)
    device = enrol_totp(user)
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="en-US", timezone_id="UTC")
    context.set_default_timeout(30_000)
    page = context.new_page()
    console = ConsolePage(page, live_server.url, viewport)
    console.device = device
    console.go("/admin/login/?next=/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", fresh_code(device))
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    yield console
    context.close()
    assert not console.errors, "\n".join(console.errors)
