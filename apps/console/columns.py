"""Decimal columns shown as money in the admin's lists and detail pages.

`<field>__fmt` names a model's Decimal field formatted for an operator: prices at the market's price
precision in the quote currency, amounts at its amount precision in the base currency, fees in the currency
charged, PnL signed and coloured. Any admin built on `FormattedDecimalsMixin` shows its read-only Decimal
fields this way, and may put `price__fmt` (etc.) in list_display."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.db import models
from django.utils.html import format_html

from apps.console import format as fmt
from apps.console.selectors import base_of, market_precision, quote_of

FMT = "__fmt"
PRICE_FIELDS = frozenset(
    {
        "price",
        "average_price",
        "average_entry_price",
        "entry_price",
        "stop_loss_price",
        "take_profit_price",
        "trigger_price",
        "exchange_stop_price",
    }
)
AMOUNT_FIELDS = frozenset({"amount", "filled", "exchange_stop_amount"})
PNL_FIELDS = frozenset({"realized_pnl", "pnl"})
CURRENCY_FIELDS = frozenset({"free", "used"})  # a balance row: in its own currency
SHORT_LABELS = {"average_price": "avg price", "average_entry_price": "entry", "fees_quote": "fees"}


def show_decimal(obj: Any, name: str) -> str:
    """The field's value as an operator reads it (text or safe HTML); empty for None."""
    value = getattr(obj, name, None)
    if value is None:
        return "–"
    symbol = getattr(obj, "symbol", "") or ""
    precision = market_precision(symbol) if symbol else fmt.Precision()
    quote, base = quote_of(symbol), base_of(symbol) if symbol else ""
    if name in PRICE_FIELDS:
        return fmt.number(value, precision.price, quote)
    if name in AMOUNT_FIELDS:
        return fmt.number(value, precision.amount, base)
    if name in PNL_FIELDS:
        return format_html(
            '<span class="pnl {}">{}</span>',
            fmt.sign_class(value),
            fmt.signed(value, fmt.currency_places(quote), quote),
        )
    if name == "fee" or name.endswith("_fee"):
        currency = getattr(obj, "fee_currency", "") or quote
        places = precision.amount if currency == base and base else fmt.currency_places(currency) + 2
        return fmt.number(value, places, currency)
    if name in CURRENCY_FIELDS:
        currency = getattr(obj, "currency", "")
        return fmt.number(value, fmt.currency_places(currency), currency)
    return fmt.number(value, fmt.currency_places(quote) if quote else fmt.DEFAULT_PLACES, quote)


def _display(model: type[models.Model], name: str):
    field = model._meta.get_field(name)
    label = field.verbose_name if isinstance(field, models.Field) else name

    @admin.display(description=SHORT_LABELS.get(name, label), ordering=name)
    def show(obj: Any) -> str:
        return show_decimal(obj, name)

    return show


class FormattedDecimalsMixin:
    """Read-only Decimal fields and `<field>__fmt` columns shown as money (see the module docstring)."""

    model: type[models.Model]

    def __getattr__(self, name: str):
        if name.endswith(FMT):
            field_name = name[: -len(FMT)]
            try:
                field = self.model._meta.get_field(field_name)
            except Exception:
                raise AttributeError(name) from None
            if isinstance(field, models.DecimalField):
                return _display(self.model, field_name)
        raise AttributeError(name)

    def formatted(self, names: Sequence[str | Sequence[str]]) -> list[str | Sequence[str]]:
        """Decimal model field names replaced by their formatted display (a tuple of names, one line of a
        fieldset, is kept as it is)."""
        out: list[str | Sequence[str]] = []
        for name in names:
            try:
                field = self.model._meta.get_field(name) if isinstance(name, str) else None
            except Exception:
                field = None
            out.append(f"{name}{FMT}" if isinstance(field, models.DecimalField) else name)
        return out
