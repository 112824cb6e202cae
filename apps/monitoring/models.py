"""Component health as last checked, kept so changes can be alerted and shown in the admin."""

from django.db import models


class ComponentHealth(models.Model):
    class Status(models.TextChoices):
        OK = "ok", "OK"
        DEGRADED = "degraded", "Degraded"
        DOWN = "down", "Down"

    name = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    detail = models.TextField(blank=True)
    latency_ms = models.FloatField(default=0)
    checked_at = models.DateTimeField()
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "component health"

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"
