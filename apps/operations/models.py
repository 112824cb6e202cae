"""Locks and task bookkeeping shared by every worker when Redis is not configured."""

from django.db import models


class TaskLock(models.Model):
    """A named lease: held by `owner` until `expires_at` (the database fallback for Redis locks)."""

    name = models.CharField(max_length=128, unique=True)
    owner = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    acquired_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.owner} until {self.expires_at:%H:%M:%S}"


class TaskRun(models.Model):
    """The last run of each periodic task: beat freshness for /health/ready and the admin."""

    name = models.CharField(max_length=128, unique=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, blank=True)  # ok / failed / skipped (lock held)
    last_error = models.TextField(blank=True)
    last_duration_ms = models.FloatField(default=0)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.last_status}"
