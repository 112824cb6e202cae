"""The state of notification delivery that every process shares."""

from __future__ import annotations

from django.db import models


class NotificationThrottle(models.Model):
    """A counter that expires: de-duplication and rate limiting of notifications when Redis is not configured
    (or unreachable). Moved here from the Telegram app; its table keeps the name it had there."""

    name = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "telegram_bot_alertthrottle"

    def __str__(self) -> str:
        return f"{self.name} = {self.count} until {self.expires_at:%H:%M:%S}"
