"""Reading protective exits."""

from __future__ import annotations

from apps.exits.models import ProtectiveExit


def exits_active_by_position(position_ids: list[int]) -> dict[int, ProtectiveExit]:
    """The armed or triggered exit of each position that has one (position id → exit)."""
    rows = ProtectiveExit.objects.filter(
        position_id__in=position_ids, status__in=(ProtectiveExit.Status.ARMED, ProtectiveExit.Status.TRIGGERED)
    )
    return {row.position_id: row for row in rows}
