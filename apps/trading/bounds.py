"""What an order's figures may be: within what our books can hold and what the market accepts.

Checked before an order is written or sent (POST /api/orders calls `order_bounds_check`); a figure out of
bounds is an OrderInputError naming the field (HTTP 422), never a failure half-way through the books.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.trading.services import MAX_FIGURE, OrderInputError

__all__ = ["MAX_FIGURE", "order_bounds_check"]


def _check(field: str, value: Decimal | None, what: str) -> None:
    if value is not None and abs(value) >= MAX_FIGURE:
        raise OrderInputError(field, f"{what} must be below {MAX_FIGURE:,} (what the books can hold)")


def order_bounds_check(
    *,
    type: str,
    amount: Decimal | None,
    quote_amount: Decimal | None,
    price: Decimal | None,
    market: Any,
    reference_price: Decimal | None,
) -> None:
    """Raise OrderInputError when a figure, or the order's value (amount × limit price, or × the current
    price for a market order), is beyond MAX_FIGURE, or beyond the market's maximum amount / value where the
    market states one (`max_amount`, `max_notional`)."""
    _check("amount", amount, "amount")
    _check("quote_amount", quote_amount, "quote amount")
    _check("price", price, "price")
    unit_price = price if type == "limit" and price is not None else reference_price
    if amount is not None and unit_price is not None:
        _check("amount", amount * unit_price, "amount × price")
    max_amount = getattr(market, "max_amount", None)
    if amount is not None and max_amount and amount > max_amount:
        raise OrderInputError("amount", f"at most {max_amount} on {market.symbol}")
    max_notional = getattr(market, "max_notional", None)
    if max_notional:
        value = quote_amount if quote_amount is not None else (amount * unit_price if amount and unit_price else None)
        if value is not None and value > max_notional:
            raise OrderInputError(
                "quote_amount" if quote_amount is not None else "amount",
                f"worth at most {max_notional} on {market.symbol}",
            )
