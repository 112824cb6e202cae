"""Reconciliation runs and the discrepancies each found between our books and the exchange."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from apps.trading.venues import Venue, current_venue


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        DISCREPANCIES = "discrepancies", "Discrepancies found"
        FAILED = "failed", "Failed"

    venue = models.CharField(
        max_length=8,
        choices=Venue.choices,
        default=current_venue,
        db_index=True,
        help_text="The books this run compared with its broker: paper or live",
    )
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    trigger = models.CharField(max_length=32, default="schedule", help_text="schedule, operator, api, command")
    symbols = models.JSONField(default=list)
    checked = models.PositiveIntegerField(default=0)
    fixed = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    exchange_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"run #{self.pk} {self.started_at:%Y-%m-%d %H:%M:%S} {self.status}"


class Discrepancy(models.Model):
    class Kind(models.TextChoices):
        STATUS = "status", "Status differs"
        FILL = "fill", "Missing fill"
        FEE = "fee", "Fee differs"
        EXTERNAL = "external", "Order not placed by the bot"
        MISSING_ON_EXCHANGE = "missing_on_exchange", "Unknown to the exchange"
        UNKNOWN_RESOLVED = "unknown_resolved", "Unknown order resolved"
        BALANCE = "balance", "Position differs from balance"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="discrepancies")
    symbol = models.CharField(max_length=32, db_index=True)
    kind = models.CharField(max_length=24, choices=Kind.choices, db_index=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    order = models.ForeignKey("trading.Order", null=True, blank=True, on_delete=models.SET_NULL)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    fixed = models.BooleanField(default=False, help_text="Corrected automatically")
    resolved = models.BooleanField(default=False, db_index=True, help_text="No further action needed")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "discrepancies"

    def __str__(self) -> str:
        return f"{self.kind} {self.symbol} (run {self.run_id})"
