"""Stop-loss and take-profit levels from an entry price, rounded to the market's price step when known."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.core.cache import cache

HUNDRED = Decimal(100)
SIGNIFICANT_DIGITS = 8  # when the market's price precision is not known yet
CACHE_KEY = "exits:price_places:{symbol}"
CACHE_SECONDS = 7 * 24 * 3600


def remember_price_places(places: dict[str, int]) -> None:
    """Called by the exits pass, which has the broker's markets at hand; exit_sync (no network) reads it."""
    if places:
        try:
            cache.set_many({CACHE_KEY.format(symbol=s): p for s, p in places.items()}, CACHE_SECONDS)
        except Exception:  # a cache (Redis) outage must not stop the exits pass: levels use significant digits
            pass


def _price_places(symbol: str) -> int | None:
    try:
        return cache.get(CACHE_KEY.format(symbol=symbol))
    except Exception:  # a cache outage must not block a fill; fall back to significant digits
        return None


def round_level(value: Decimal, places: int | None) -> Decimal:
    if value <= 0:
        return value
    if places is None:
        step = Decimal(1).scaleb(value.adjusted() - SIGNIFICANT_DIGITS + 1)
    else:
        step = Decimal(1).scaleb(-places)
    return value.quantize(step, rounding=ROUND_HALF_EVEN)


def exit_levels(symbol: str, entry_price: Decimal) -> tuple[Decimal, Decimal]:
    """(stop_loss, take_profit) at STOP_LOSS_PCT below and TAKE_PROFIT_PCT above `entry_price`."""
    stop = entry_price * (1 - Decimal(settings.STOP_LOSS_PCT) / HUNDRED)
    take = entry_price * (1 + Decimal(settings.TAKE_PROFIT_PCT) / HUNDRED)
    places = _price_places(symbol)
    stop_r, take_r = round_level(stop, places), round_level(take, places)
    if not (0 <= stop_r < take_r):  # a price step too coarse for these distances: keep the exact levels
        stop_r, take_r = round_level(stop, None), round_level(take, None)
    return stop_r, take_r
