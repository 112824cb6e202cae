"""Backtest runs: the request, the parameters it ran with, and what it found (metrics, trades, equity curve);
and sweeps: one run per combination of a parameter grid, ranked by a metric."""

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
    sweep = models.ForeignKey("BacktestSweep", null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    combination = models.JSONField(default=dict, blank=True, help_text="the grid values this run of a sweep used")
    combination_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sweep", "combination_key"],
                condition=models.Q(sweep__isnull=False),
                name="backtest_one_run_per_combination",
            )
        ]

    def __str__(self) -> str:
        return f"backtest #{self.pk} {self.symbol} {self.timeframe} {self.status}"


class BacktestSweep(models.Model):
    """Every combination of `grid` (name -> values) over the same candles, each a BacktestRun run by a
    Celery worker. `key` identifies the request (candles, base parameters, grid): asking again resumes it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    symbol = models.CharField(max_length=32, db_index=True)
    timeframe = models.CharField(max_length=8)
    source = models.CharField(max_length=16, choices=BacktestRun.Source.choices)
    csv_path = models.CharField(max_length=500, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    parameters = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="the overrides every run shares")
    grid = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="name -> list of values")
    rank_by = models.CharField(max_length=32, default="total_return_pct")
    series_path = models.CharField(max_length=500, help_text="the candles, saved once for every worker")
    market = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    key = models.CharField(max_length=64, db_index=True)
    total = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True, help_text="why the candles could not be prepared")
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"sweep #{self.pk} {self.symbol} {self.timeframe} {self.status}"
