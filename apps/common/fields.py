"""Field helpers shared by every app: one definition of how money and quantities are stored."""

from decimal import Decimal

from django.db import models

MONEY_DIGITS = 32
MONEY_PLACES = 16


def money(*, null: bool = False, default: Decimal | None = None, **kwargs) -> models.DecimalField:
    """A Decimal column wide enough for crypto amounts, prices, fees and PnL."""
    if default is None and not null:
        default = Decimal(0)
    return models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=null, blank=null, default=default, **kwargs
    )
