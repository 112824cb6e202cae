"""Money as money: amounts and prices at the market's precision with their currency, PnL signed, times with
seconds and the zone named. Pure functions returning text; the template filters add the HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

# Stablecoins and fiat are shown in cents; any other quote currency (BTC, ETH) in satoshi-like steps.
CENT_CURRENCIES = frozenset({"USDT", "USDC", "USD", "EUR", "DAI", "FDUSD", "TUSD", "BUSD"})
DEFAULT_PLACES = 8
MINUS = "\u2212"  # a real minus sign: never mistaken for a hyphen, same width as +


@dataclass(frozen=True)
class Precision:
    """Decimal places of a market's amounts (base) and prices (quote), from the exchange."""

    amount: int = DEFAULT_PLACES
    price: int = DEFAULT_PLACES


def currency_places(currency: str) -> int:
    """Places for a quote-money figure (cost, PnL, balance) in `currency`."""
    return 2 if currency.upper() in CENT_CURRENCIES else DEFAULT_PLACES


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _grouped(number: Decimal, places: int) -> str:
    """Fixed-point with thousands separators, never scientific notation."""
    step = Decimal(1).scaleb(-places)
    rounded = number.quantize(step, rounding=ROUND_HALF_EVEN)
    text = f"{abs(rounded):,.{places}f}"
    return f"{MINUS}{text}" if rounded < 0 else text


def number(value: object, places: int, currency: str = "") -> str:
    """`45,000.00 USDT`; a non-zero value too small to show at `places` is dust: `dust <0.00000001 BTC`.
    Empty for None."""
    amount = _decimal(value)
    if amount is None:
        return ""
    places = max(0, min(int(places), 16))
    suffix = f" {currency}" if currency else ""
    step = Decimal(1).scaleb(-places)
    if amount != 0 and abs(amount) < step / 2:
        return f"dust <{step:f}{suffix}"
    return f"{_grouped(amount, places)}{suffix}"


def signed(value: object, places: int, currency: str = "") -> str:
    """PnL: always signed (`+12.34 USDT`, `−0.82 USDT`, `0.00 USDT`); rounded, never "dust"."""
    amount = _decimal(value)
    if amount is None:
        return ""
    places = max(0, min(int(places), 16))
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    text = _grouped(rounded, places) + (f" {currency}" if currency else "")
    return f"+{text}" if rounded > 0 else text


def sign_class(value: object) -> str:
    """`pos`, `neg` or `zero`: the CSS class that colours a PnL figure."""
    amount = _decimal(value)
    if amount is None or amount == 0:
        return "zero"
    return "pos" if amount > 0 else "neg"


def percent(value: object, places: int = 2, *, sign: bool = True) -> str:
    amount = _decimal(value)
    if amount is None:
        return ""
    text = _grouped(amount, places)
    return f"+{text}%" if sign and amount > 0 and text.strip("0.,") else f"{text}%"


def moment(value: datetime | None, zone: str = "UTC") -> str:
    """`2026-12-01 18:06:38 UTC` in the display time zone, with seconds and the zone named."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(zone)) if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or zone)


def clock(value: datetime, zone: str = "UTC") -> str:
    """`18:06:38 UTC`: the time of day for messages ("Trading paused by admin at 18:06:38 UTC")."""
    local = value.astimezone(ZoneInfo(zone))
    return local.strftime("%H:%M:%S ") + (local.tzname() or zone)


def distance_pct(price: object, level: object) -> Decimal | None:
    """How far `level` is from `price`, in percent of the price (negative below)."""
    p, lv = _decimal(price), _decimal(level)
    if p is None or lv is None or p == 0:
        return None
    return (lv - p) / p * 100
