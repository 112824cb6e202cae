"""The kill switch and the trading gate: whether an entry order may be sent at all."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.risk.models import TradingSwitch


def _switch_snapshot(switch: TradingSwitch) -> dict:
    return {"halted": switch.halted, "reason": switch.reason}


@transaction.atomic
def trading_pause(*, actor: Actor, reason: str = "paused by operator") -> TradingSwitch:
    """Turn the kill switch on: no new entries until resumed. Idempotent."""
    TradingSwitch.get()
    switch = TradingSwitch.objects.select_for_update().get(pk=1)
    before = _switch_snapshot(switch)
    switch.halted = True
    switch.reason = reason[:255]
    switch.changed_by = actor.label[:150]
    switch.changed_at = timezone.now()
    switch.save()
    audit_record(actor=actor, action="trading.pause", obj=switch, before=before, after=_switch_snapshot(switch))
    return switch


@transaction.atomic
def trading_resume(*, actor: Actor, reason: str = "resumed by operator") -> TradingSwitch:
    """Turn the kill switch off. Trading then still needs ENABLE_TRADING (and MODE) to allow it."""
    TradingSwitch.get()
    switch = TradingSwitch.objects.select_for_update().get(pk=1)
    before = _switch_snapshot(switch)
    switch.halted = False
    switch.reason = reason[:255]
    switch.changed_by = actor.label[:150]
    switch.changed_at = timezone.now()
    switch.save()
    audit_record(actor=actor, action="trading.resume", obj=switch, before=before, after=_switch_snapshot(switch))
    return switch
