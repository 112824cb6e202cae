"""Telegram bot state that must be shared by every process: pending confirmations and webhook updates taken.
(The alert throttle moved to apps.notifications.models.NotificationThrottle.)"""

from __future__ import annotations

from django.db import models


class Confirmation(models.Model):
    """An operator action (/pause, /resume, /close) waiting for its inline "Confirm" button.

    The button carries only `nonce`; the action, its argument, the chat and the user that asked are kept here,
    so a webhook answered by another web process can still confirm it, and each nonce is claimed exactly once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"

    nonce = models.CharField(max_length=32, unique=True)
    action = models.CharField(max_length=16)
    argument = models.CharField(max_length=255, blank=True)
    chat_id = models.BigIntegerField(db_index=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.argument} chat {self.chat_id} {self.status}"


class WebhookUpdate(models.Model):
    """An update_id the webhook has taken, so a re-sent (or replayed) update is answered once. Rows older
    than a day are pruned: Telegram keeps an undelivered update for 24 hours at most."""

    update_id = models.BigIntegerField(unique=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"update {self.update_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"
