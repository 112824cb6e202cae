"""Celery tasks of the notifications: delivering one notification (found here by Celery's autodiscovery; the
task and its gate live in apps.notifications.delivery)."""

from __future__ import annotations

from apps.notifications.delivery import deliver

__all__ = ["deliver"]
