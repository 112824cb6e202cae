"""Periodic health: store each component's status and alert when one changes."""

from __future__ import annotations

from django.utils import timezone

from apps.monitoring.health import readiness
from apps.monitoring.models import ComponentHealth
from apps.notifications import notify


def health_record() -> dict:
    """Run the readiness checks, store them, alert on every change of status. Returns the report."""
    report = readiness()
    now = timezone.now()
    changes = []
    for name, result in report["components"].items():
        row = ComponentHealth.objects.filter(name=name).first()
        if row is None:
            ComponentHealth.objects.create(
                name=name,
                status=result["status"],
                detail=result["detail"][:2000],
                latency_ms=result["latency_ms"],
                checked_at=now,
                changed_at=now,
            )
            if result["status"] != "ok":
                changes.append((name, "new", result["status"], result["detail"]))
            continue
        changed = row.status != result["status"]
        if changed:
            changes.append((name, row.status, result["status"], result["detail"]))
        row.status = result["status"]
        row.detail = result["detail"][:2000]
        row.latency_ms = result["latency_ms"]
        row.checked_at = now
        if changed:
            row.changed_at = now
        row.save()
    for name, old, new, detail in changes:
        _alert(name, old, new, detail)
    return report


def _alert(name: str, old: str, new: str, detail: str) -> None:
    up = new == "ok"
    notify(
        "health_up" if up else "health_down",
        f"{'✅' if up else '🚨'} {name}: {old} → {new}" + ("" if up else f" ({detail[:200]})"),
        key=f"health:{name}:{new}",
        severity="info" if up else "critical",
    )
