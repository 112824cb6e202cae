"""Protective exits: the stop-loss and take-profit that guard each open position."""

from django.db import models
from django.db.models import Q

from apps.common.fields import money


class ProtectiveExit(models.Model):
    class Status(models.TextChoices):
        ARMED = "armed", "Armed"
        TRIGGERED = "triggered", "Triggered"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    class Reason(models.TextChoices):
        STOP_LOSS = "stop_loss", "Stop-loss"
        TAKE_PROFIT = "take_profit", "Take-profit"
        OPERATOR = "operator", "Closed by operator"
        EXCHANGE_STOP = "exchange_stop", "Exchange-side stop fired"

    position = models.ForeignKey("trading.Position", on_delete=models.PROTECT, related_name="exits")
    symbol = models.CharField(max_length=32, db_index=True)
    entry_price = money()
    stop_loss_price = money()
    take_profit_price = money()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ARMED, db_index=True)
    trigger_reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    trigger_price = money(null=True)
    exit_order = models.ForeignKey(
        "trading.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="protective_exits"
    )
    exchange_stop_order_id = models.CharField(max_length=64, blank=True)
    exchange_stop_client_id = models.CharField(max_length=28, blank=True, help_text="`text` of the exchange stop")
    exchange_stop_price = money(null=True, help_text="Stop-loss the exchange-side stop was placed at")
    exchange_stop_amount = money(null=True, help_text="Position amount the exchange-side stop was placed for")
    exchange_stop_checked_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    attempted_at = models.DateTimeField(null=True, blank=True, help_text="When the current exit order was made")
    stuck_at = models.DateTimeField(null=True, blank=True, help_text="First time the exit was found stuck")
    last_error = models.TextField(blank=True)
    armed_at = models.DateTimeField(db_index=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    filled_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-armed_at", "-id"]
        indexes = [models.Index(fields=["status", "symbol"])]
        constraints = [
            models.UniqueConstraint(
                fields=["position"], condition=Q(status__in=["armed", "triggered"]), name="one_active_exit_per_position"
            ),
            models.CheckConstraint(
                condition=Q(stop_loss_price__lt=models.F("take_profit_price")), name="stop_below_take_profit"
            ),
        ]

    def __str__(self) -> str:
        stop, take = self.stop_loss_price.normalize(), self.take_profit_price.normalize()
        return f"exit #{self.pk} {self.symbol} SL {stop:f} TP {take:f}"
