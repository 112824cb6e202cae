"""Writing the audit trail. Call `audit_record` inside the same transaction as the change it describes."""

from __future__ import annotations

from typing import Any

from apps.audit.actors import Actor
from apps.audit.models import AuditLog
from apps.common.redact import redact


def audit_entry(
    *,
    actor: Actor,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
    message: str = "",
) -> AuditLog:
    """One audit row, not saved yet (secrets in before / after / message redacted): for `audit_record_many`."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditLog(
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label[:150],
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=redact(before) if before is not None else None,
        after=redact(after) if after is not None else None,
        message=redact(message),
    )


def audit_record_many(entries: list[AuditLog]) -> list[AuditLog]:
    """Append the rows of `audit_entry` in one INSERT (the same transaction rule as audit_record)."""
    if not entries:
        return []
    return AuditLog.objects.bulk_create(entries)


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
    message: str = "",
) -> AuditLog:
    """Append one audit row; secrets in before / after / message are redacted."""
    entry = audit_entry(
        actor=actor,
        action=action,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        message=message,
    )
    entry.save()
    return entry
