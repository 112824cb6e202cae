"""Money as money (issue 14, item 3): the market's precision with the currency, no scientific notation, dust
as dust, PnL signed, times with seconds and the zone named; DISPLAY_TIMEZONE validated at start-up."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.console import format as fmt
from tradebot.config import ConfigError, load_config


def test_amounts_are_fixed_point_at_the_given_places_with_the_currency():
    assert fmt.number(Decimal("45000.0000000000000000"), 1, "USDT") == "45,000.0 USDT"
    assert fmt.number(Decimal("0.0080674900000000"), 6, "BTC") == "0.008067 BTC"


def test_tiny_amounts_never_print_in_scientific_notation_and_show_as_dust():
    assert fmt.number(Decimal("3.4E-8"), 8, "BTC") == "0.00000003 BTC"
    assert fmt.number(Decimal("3.4E-8"), 6, "BTC") == "dust <0.000001 BTC"
    assert "E" not in fmt.number(Decimal("1E+3"), 2, "USDT")


def test_pnl_is_signed_with_a_real_minus_and_coloured_by_sign():
    assert fmt.signed(Decimal("12.345"), 2, "USDT") == "+12.34 USDT"  # half-even
    assert fmt.signed(Decimal("-0.82"), 2, "USDT") == "\u22120.82 USDT"
    assert fmt.signed(Decimal("0.001"), 2, "USDT") == "0.00 USDT"
    assert [fmt.sign_class(v) for v in (Decimal(1), Decimal(-1), Decimal(0))] == ["pos", "neg", "zero"]


def test_times_show_seconds_and_name_their_zone():
    moment = datetime(2026, 12, 1, 18, 6, 38, tzinfo=UTC)
    assert fmt.moment(moment) == "2026-12-01 18:06:38 UTC"
    assert fmt.moment(moment, "Europe/Berlin") == "2026-12-01 19:06:38 CET"
    assert fmt.clock(moment) == "18:06:38 UTC"


def test_quote_money_uses_cents_for_stablecoins_and_eight_places_otherwise():
    assert fmt.currency_places("USDT") == 2 and fmt.currency_places("BTC") == 8


def test_display_timezone_defaults_to_utc_and_refuses_an_unknown_zone():
    assert load_config({"SECRET_KEY": "x" * 50}).DISPLAY_TIMEZONE == "UTC"
    assert load_config({"SECRET_KEY": "x" * 50, "DISPLAY_TIMEZONE": "Asia/Tokyo"}).DISPLAY_TIMEZONE == "Asia/Tokyo"
    with pytest.raises(ConfigError, match="DISPLAY_TIMEZONE"):
        load_config({"SECRET_KEY": "x" * 50, "DISPLAY_TIMEZONE": "Mars/Olympus"})
