"""Gate.io specifics kept as data and small functions: symbol format and client order ids."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

CLIENT_ID_RE = re.compile(r"^t-[0-9A-Za-z_.-]{1,26}$")


def to_native(symbol: str) -> str:
    """BTC/USDT -> BTC_USDT."""
    base, _, quote = symbol.partition("/")
    if not base or not quote:
        raise ValueError(f"{symbol!r} is not a unified symbol like BTC/USDT")
    return f"{base}_{quote}"


def to_unified(native: str) -> str:
    """BTC_USDT -> BTC/USDT."""
    base, _, quote = native.partition("_")
    if not base or not quote:
        raise ValueError(f"{native!r} is not a Gate.io pair like BTC_USDT")
    return f"{base}/{quote}"


def validate_client_order_id(text: str) -> str:
    """Gate.io's `text`: starts with t-, at most 28 characters in all, only 0-9 A-Z a-z _ - ."""
    if not CLIENT_ID_RE.match(text):
        raise ValueError(f"{text!r} must start with 't-', be at most 28 characters and use only 0-9 A-Z a-z _ - .")
    return text


# --- orders: status and finish_as onto our statuses -----------------------------------------------
# Gate.io reports a finished order as status `closed` (or `cancelled`) plus `finish_as` saying why it ended.
# The word alone is not enough: an IOC market order that filled completely ends as `ioc` or `filled`, one
# that took part of the book ends as `ioc` / `depth_not_enough` with something filled. So the status is
# decided from finish_as *and* the amounts (filled, left).

# finish_as values meaning someone (us, the exchange's self-trade prevention, a post-only check) cancelled it.
FINISH_CANCELLED = frozenset({"cancelled", "stp", "poc", "liquidate_cancelled", "auto_cancelled"})
# finish_as values meaning the exchange ended it by its time-in-force or the book: it expired.
FINISH_EXPIRED = frozenset(
    {"ioc", "fok", "depth_not_enough", "trader_not_enough", "expired", "price_protect_cancelled", "unknown"}
)
# `small`: what is left is below the minimum that can be traded, so the order is as complete as it can be.
FINISH_DONE = frozenset({"filled", "small"})


def map_order_status(*, status: str, finish_as: str, filled: Decimal, left: Decimal | None) -> str:
    """Gate.io `status` + `finish_as` + amounts -> one of apps.trading.models.OrderStatus values."""
    status = (status or "").lower()
    finish_as = (finish_as or "").lower()
    if status == "open" or (not status and finish_as in ("", "open")):
        return "partially_filled" if filled > 0 else "open"
    if status == "_new":
        return "open"
    complete = filled > 0 and left is not None and left <= 0
    if finish_as in FINISH_DONE and filled > 0:
        return "filled"
    if complete:
        return "filled"
    if finish_as in FINISH_CANCELLED:
        return "cancelled"
    if finish_as in FINISH_EXPIRED or finish_as == "small":
        return "expired"
    if status == "cancelled":
        return "cancelled"
    if status in ("closed", "finished", "filled"):
        return "filled" if filled > 0 and (left is None or left <= 0) else "cancelled"
    raise ValueError(f"unknown Gate.io order status {status!r} / finish_as {finish_as!r}")


# --- precision and minimums -----------------------------------------------------------------------


def round_down(value: Decimal, places: int) -> Decimal:
    """Truncate towards zero at `places` decimals: never send more than was meant."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def round_price(value: Decimal, places: int) -> Decimal:
    """Prices round to the nearest step."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
