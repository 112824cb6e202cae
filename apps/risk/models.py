"""Risk: the kill switch, the limits operators may change at run time, and every block recorded."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from apps.common.fields import money


class TradingSwitch(models.Model):
    """The kill switch: a single row. When `halted`, no entry order is sent whatever the settings say."""

    halted = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    equity_peak = money(help_text="Highest equity seen, for the drawdown rule")

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
