"""Backtest runs: the request, the parameters it ran with, and what it found (metrics, trades, equity curve)."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class BacktestRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        CSV = "csv", "CSV file"
        EXCHANGE = "exchange", "Exchange history"
        CANDLES = "candles", "Candles given in code"

    symbol = models.CharField(max_length=32, db_index=True)
    timeframe = models.CharField(max_length=8)
    source = models.CharField(max_length=16, choices=Source.choices)
    csv_path = models.CharField(max_length=500, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    parameters = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="weights, thresholds, exits, size")
    metrics = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    trades = models.JSONField(default=list, encoder=DjangoJSONEncoder, blank=True)
    equity_curve = models.JSONField(
        default=list, encoder=DjangoJSONEncoder, blank=True, help_text="[time, equity] points, at most ~1000"
    )
    candles = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"backtest #{self.pk} {self.symbol} {self.timeframe} {self.status}"
