"""Decisions: what the signal pipeline concluded for a symbol, and why."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from apps.common.fields import money


class Decision(models.Model):
    class Action(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"
        HOLD = "hold", "Hold"

    symbol = models.CharField(max_length=32, db_index=True)
    timeframe = models.CharField(max_length=8)
    action = models.CharField(max_length=8, choices=Action.choices)
    score = models.FloatField(help_text="Fused signal score in [-1, 1] (not money)")
    price = money(null=True, help_text="Last close the decision saw")
    candle_time = models.DateTimeField(null=True, blank=True, help_text="Open time of the last closed candle")
    features = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    contributions = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    rule = models.CharField(max_length=64, blank=True, help_text="The policy rule that decided")
    regime = models.CharField(max_length=16, blank=True, help_text="trend, range or high_volatility")
    explanation = models.TextField(blank=True)
    risk_block = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    latency_ms = models.FloatField(default=0)
    executed = models.BooleanField(default=False, db_index=True)
    execution_note = models.TextField(blank=True, help_text="Why it was or was not executed")
    source = models.CharField(max_length=16, default="cycle", help_text="cycle, api, telegram, command")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["symbol", "timeframe", "created_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.symbol} {self.timeframe} {self.action} {self.score:+.3f}"
