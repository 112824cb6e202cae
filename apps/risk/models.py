"""Risk: the kill switch, the limits operators may change at run time, and every block recorded."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from apps.common.fields import money
from tradebot.config import parse_hours


class TradingSwitch(models.Model):
    """The kill switch: a single row. When `halted`, no entry order is sent whatever the settings say."""

    halted = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    equity_peak = money(help_text="Highest equity seen, for the drawdown rule")
    equity_source = models.CharField(
        max_length=16, blank=True, help_text="How the peak was measured (balance / realized); a change restarts it"
    )
    halt_rule = models.CharField(
        max_length=64, blank=True, help_text="The risk rule that turned the switch on (empty: an operator)"
    )

    class Meta:
        verbose_name = "trading switch"
        verbose_name_plural = "trading switch"

    def __str__(self) -> str:
        return "trading halted" if self.halted else "trading allowed"

    @classmethod
    def get(cls) -> TradingSwitch:
        switch, _ = cls.objects.get_or_create(pk=1)
        return switch


class RiskEvent(models.Model):
    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    rule = models.CharField(max_length=64, db_index=True)
    symbol = models.CharField(max_length=32, blank=True, db_index=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.INFO)
    message = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    decision = models.ForeignKey("signals.Decision", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule} {self.symbol} {self.created_at:%Y-%m-%d %H:%M}"


class RiskLimits(models.Model):
    """The limits operators change at run time (a single row). An empty field follows its setting
    (MAX_POSITIONS, POSITION_SIZE_USD, ...), so a row that was never edited changes nothing."""

    max_positions = models.PositiveIntegerField(null=True, blank=True, help_text="Open positions at most (0-1000)")
    position_size_usd = models.DecimalField(
        max_digits=32, decimal_places=8, null=True, blank=True, help_text="Quote amount per entry"
    )
    max_drawdown_pct = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Drawdown from the equity peak that stops trading, %",
    )
    max_consecutive_losses = models.PositiveIntegerField(
        null=True, blank=True, help_text="Losing trades in a row that pause entries (1-1000)"
    )
    loss_cooldown_min = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long that pause lasts, minutes"
    )
    hours = models.CharField(
        max_length=11, blank=True, help_text="Entries only inside this UTC window, HH:MM-HH:MM (may wrap midnight)"
    )
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "risk limits"
        verbose_name_plural = "risk limits"

    def __str__(self) -> str:
        return "risk limits"

    @classmethod
    def get(cls) -> RiskLimits:
        limits, _ = cls.objects.get_or_create(pk=1)
        return limits

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.max_positions is not None and not 0 <= self.max_positions <= 1000:
            errors["max_positions"] = "Must be from 0 (no entries) to 1000."
        if self.position_size_usd is not None and not Decimal(0) < self.position_size_usd <= Decimal(10**9):
            errors["position_size_usd"] = "Must be greater than 0 and at most 1,000,000,000."
        if self.max_drawdown_pct is not None and not Decimal(0) < self.max_drawdown_pct <= Decimal(100):
            errors["max_drawdown_pct"] = "Must be a percentage greater than 0 and at most 100."
        if self.max_consecutive_losses is not None and not 1 <= self.max_consecutive_losses <= 1000:
            errors["max_consecutive_losses"] = "Must be from 1 to 1000."
        if self.loss_cooldown_min is not None and not 0 <= self.loss_cooldown_min <= 100000:
            errors["loss_cooldown_min"] = "Must be from 0 to 100000 minutes."
        if self.hours:
            self.hours = self.hours.strip()
            try:
                parse_hours(self.hours)
            except ValueError:
                errors["hours"] = "Use HH:MM-HH:MM in UTC, e.g. 08:00-20:00 or 22:00-06:00 (wraps midnight)."
        if errors:
            raise ValidationError(errors)
