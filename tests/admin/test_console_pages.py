"""The console's screens over a history made against the simulator: what an operator reads on them."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.trading.models import Fill, Order, Position

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client, operator, history):
    """Logged in with the second factor, which MODE=live requires."""
    from tests.security.helpers import enrol_totp, fresh_code, login_with_otp

    assert login_with_otp(client, "operator", "operator-pass-123", fresh_code(enrol_totp(operator))).status_code == 302
    return client


def test_scenario_trades_over_days_through_the_real_services(history):
    closed = Position.objects.filter(status="closed")
    assert closed.count() >= 2 and Position.objects.filter(status="open").count() == 2
    assert {o.origin for o in Order.objects.all()} >= {"signal", "protective_exit"}
    assert Fill.objects.count() >= 6


def test_dashboard_shows_live_banner_balances_pnl_positions_and_orders(console, history):
    page = console.get(reverse("admin:index")).content.decode()
    assert 'class="tb-banner tb-banner-live"' in page
    assert "Exchange balances (Gate.io)" in page
    for marker in ("pnl-today", "pnl-7d", "pnl-30d", "pnl-unrealized", "dash-positions", "dash-orders"):
        assert marker in page
    assert "USDT" in page and "Open orders (1)" in page
    shown = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # what is read, not the charts' JSON
    shown = re.sub(r"<[^>]*>", " ", shown)  # the text, not attributes (nonces, hashed names, svg paths)
    assert not re.search(r"\d\.\d{12,}", shown), "no 16-decimal figures"
    number_in_e = r"(?<![\w.-])\d+(?:\.\d+)?[eE][-+]?\d+(?![\w.])"  # 8E+3, 1.5e-07 — not t-8e3f…
    assert not re.search(number_in_e, shown), "no E-notation"
