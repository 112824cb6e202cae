"""Exchange-layer state shared across processes when Redis is not configured."""

from django.db import models

from apps.common.fields import money


class BreakerState(models.Model):
    """A circuit breaker's shared state (closed / open / half_open)."""

    class State(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Open"
        HALF_OPEN = "half_open", "Half-open"

    name = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    probe_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.state}"


class PaperBalance(models.Model):
    """The paper broker's wallet: one row per currency."""

    currency = models.CharField(max_length=16, unique=True)
    free = money()
    used = money(help_text="Locked by open limit orders")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency"]

    def __str__(self) -> str:
        return f"{self.currency} {self.free.normalize():f} (+{self.used.normalize():f} locked)"


class PaperOrder(models.Model):
    """An order the paper broker accepted; `exchange_order_id` is what it reports as the exchange id."""

    exchange_order_id = models.CharField(max_length=32, unique=True)
    client_order_id = models.CharField(max_length=28, unique=True)
    symbol = models.CharField(max_length=32, db_index=True)
    side = models.CharField(max_length=4)
    type = models.CharField(max_length=8)
    amount = money(null=True)
    quote_amount = money(null=True)
    price = money(null=True)
    status = models.CharField(max_length=20, db_index=True)
    finish_as = models.CharField(max_length=20, blank=True)
    filled = money()
    cost = money()
    locked = money(help_text="Funds held for the unfilled part (quote for a buy, base for a sell)")
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["symbol", "status"])]

    def __str__(self) -> str:
        return f"paper {self.exchange_order_id} {self.side} {self.symbol} {self.status}"


class PaperTrade(models.Model):
    order = models.ForeignKey(PaperOrder, on_delete=models.CASCADE, related_name="trades")
    trade_id = models.CharField(max_length=32, unique=True)
    symbol = models.CharField(max_length=32, db_index=True)
    side = models.CharField(max_length=4)
    price = money()
    amount = money()
    cost = money()
    fee = money()
    fee_currency = models.CharField(max_length=16)
    is_maker = models.BooleanField(default=False)
    executed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["executed_at", "id"]

    def __str__(self) -> str:
        return f"paper trade {self.trade_id} {self.amount.normalize():f} @ {self.price.normalize():f}"
