"""Orders, the fills the exchange reports for them, and the positions derived from those fills."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from apps.common.fields import money
from apps.trading.venues import Venue, current_venue


def venue_field():
    return models.CharField(
        max_length=8,
        choices=Venue.choices,
        default=current_venue,
        db_index=True,
        help_text="The books this lives on: paper (simulated fills) or live (the exchange)",
    )


class OrderStatus(models.TextChoices):
    NEW = "new", "New"
    SUBMITTED = "submitted", "Submitted"
    OPEN = "open", "Open"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    UNKNOWN = "unknown", "Unknown (awaiting reconciliation)"


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
LIVE_STATUSES = frozenset({OrderStatus.SUBMITTED, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN})


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"


class Origin(models.TextChoices):
    SIGNAL = "signal", "Signal"
    PROTECTIVE_EXIT = "protective_exit", "Protective exit"
    OPERATOR = "operator", "Operator"
    EXTERNAL = "external", "Imported from exchange"


class Position(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    venue = venue_field()
    symbol = models.CharField(max_length=32, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    amount = money(help_text="Base amount held, net of fees charged in the base currency")
    average_entry_price = money()
    cost_basis = money(help_text="Quote spent on the amount still held, fees included")
    realized_pnl = money(help_text="Quote currency, after fees")
    fees_quote = money(help_text="Fees charged in or converted to the quote currency")
    fees_other = models.JSONField(default=dict, blank=True, help_text="Fees charged in other currencies")
    opened_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "symbol"]), models.Index(fields=["venue", "status", "symbol"])]
        constraints = [
            # At most one open position per symbol and venue: entries add to it, exits reduce it; a paper
            # position never merges into the live one.
            models.UniqueConstraint(
                fields=["venue", "symbol"], condition=Q(status="open"), name="one_open_position_per_venue_symbol"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.symbol} {self.status} {self.amount.normalize():f}"

    @property
    def base_currency(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote_currency(self) -> str:
        return self.symbol.split("/")[1]


class Order(models.Model):
    client_order_id = models.CharField(
        max_length=28,
        unique=True,
        null=True,
        blank=True,
        help_text="Gate.io `text`, made before sending; empty for an imported order that had no t- text",
    )
    venue = venue_field()
    exchange = models.CharField(max_length=16, default="gateio")
    exchange_order_id = models.CharField(max_length=64, null=True, blank=True)
    intent = models.CharField(
        max_length=128, null=True, blank=True, unique=True, help_text="One intent (decision, exit) yields one order"
    )
    symbol = models.CharField(max_length=32, db_index=True)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=8, choices=OrderType.choices)
    amount = money(null=True, help_text="Base amount; empty for a market buy by quote amount")
    quote_amount = money(null=True, help_text="Quote to spend (market buy)")
    price = money(null=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW, db_index=True)
    filled = money()
    average_price = money(null=True)
    cost = money(help_text="Quote value of the filled part")
    fee = money(help_text="Total fee in fee_currency (the first currency charged)")
    fee_currency = models.CharField(max_length=16, blank=True)
    fees = models.JSONField(default=dict, blank=True, help_text="Fees by currency, from the trades")
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.SIGNAL, db_index=True)
    decision = models.ForeignKey(
        "signals.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    position = models.ForeignKey(Position, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    last_error = models.TextField(blank=True)
    request_fingerprint = models.CharField(
        max_length=64,
        blank=True,
        help_text="Hash of the API request that made it: a retry under its client id is compared",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_exchange_update_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "symbol"]),
            models.Index(fields=["symbol", "created_at"]),
            models.Index(fields=["venue", "status", "symbol"]),
        ]
        constraints = [
            # Exchange ids are unique per venue: the paper broker's ids and the exchange's are separate spaces.
            models.UniqueConstraint(
                fields=["venue", "exchange", "exchange_order_id"],
                condition=Q(exchange_order_id__isnull=False),
                name="unique_venue_exchange_order_id",
            ),
            models.CheckConstraint(condition=Q(filled__gte=0), name="order_filled_not_negative"),
            models.CheckConstraint(
                condition=Q(amount__isnull=False) | Q(quote_amount__isnull=False), name="order_has_amount_or_quote"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id or f'#{self.pk}'} {self.side} {self.symbol} {self.status}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def remaining(self) -> Decimal | None:
        return None if self.amount is None else max(self.amount - self.filled, Decimal(0))


class Fill(models.Model):
    venue = venue_field()
    exchange = models.CharField(max_length=16, default="gateio")
    exchange_trade_id = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    symbol = models.CharField(max_length=32, db_index=True)
    side = models.CharField(max_length=4, choices=Side.choices)
    price = money()
    amount = money()
    cost = money()
    fee = money()
    fee_currency = models.CharField(max_length=16, blank=True)
    is_maker = models.BooleanField(null=True)
    executed_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["venue", "exchange", "exchange_trade_id"], name="unique_venue_exchange_trade_id"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(price__gt=0), name="fill_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange_trade_id} {self.side} {self.amount.normalize():f} @ {self.price.normalize():f}"
