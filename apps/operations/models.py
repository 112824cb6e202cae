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
    # running / ok / failed / interrupted (the worker was stopping) / skipped (lock held)
    last_status = models.CharField(max_length=16, blank=True)
    # The last time beat's message for this task reached a worker (a run or a skip): beat freshness.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_duration_ms = models.FloatField(default=0)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.last_status}"


class ScheduleSource(models.Model):
    """What the environment last wrote into a beat entry, so a change made in the admin can be told apart:
    an entry that still holds these values follows the environment at every start; one that differs was
    changed by an operator and is left alone (`sync_schedule --reset` hands it back to the environment)."""

    name = models.CharField(max_length=200, unique=True)
    applied = models.JSONField(default=dict)
    applied_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
