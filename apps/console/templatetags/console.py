"""Template filters for money, PnL and times (see apps.console.format): `{{ order.price|price:order.symbol }}`."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.conf import settings
from django.utils.html import format_html

from apps.console import format as fmt
from apps.console.selectors import base_of, market_precision, quote_of

register = template.Library()


@register.filter
def price(value, symbol: str) -> str:
    """A price at the market's price precision, in the quote currency."""
    return fmt.number(value, market_precision(symbol).price, quote_of(symbol))


@register.filter
def amount(value, symbol: str) -> str:
    """A base amount at the market's amount precision."""
    return fmt.number(value, market_precision(symbol).amount, base_of(symbol))


@register.filter
def money(value, currency: str) -> str:
    """A quote-money figure (cost, balance, equity) in `currency`."""
    return fmt.number(value, fmt.currency_places(currency), currency)


@register.filter
def pnl(value, currency: str) -> str:
    """Signed and coloured: <span class="pnl pos">+12.34 USDT</span>."""
    if value is None or value == "":
        return "–"
    text = fmt.signed(value, fmt.currency_places(currency), currency)
    return format_html('<span class="pnl {}">{}</span>', fmt.sign_class(value), text)


@register.filter
def pct(value, places: int = 2) -> str:
    if value is None:
        return "–"
    return format_html('<span class="pnl {}">{}</span>', fmt.sign_class(value), fmt.percent(value, places))


@register.filter
def when(value) -> str:
    """A time in DISPLAY_TIMEZONE with seconds and the zone named; the UTC time on hover."""
    if not value:
        return "–"
    shown = fmt.moment(value, settings.DISPLAY_TIMEZONE)
    utc = fmt.moment(value, "UTC")
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), utc, shown)


@register.filter
def score(value) -> str:
    if value is None:
        return "–"
    return format_html('<span class="pnl {}">{}</span>', fmt.sign_class(value), f"{float(value):+.3f}")


@register.filter
def quote(value, symbol: str) -> str:
    """Quote money of a market (a market buy's quote amount, a cost), in its quote currency."""
    currency = quote_of(symbol)
    return fmt.number(value, fmt.currency_places(currency), currency)


@register.filter
def pair(symbol: str) -> str:
    """BTC/USDT → BTC_USDT, for URLs."""
    return symbol.replace("/", "_")


@register.filter
def iso_when(value) -> str:
    """An ISO 8601 text (as stored in JSON: a backtest's trades) shown like `when`."""

    if not value:
        return "–"
    try:
        return when(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)
