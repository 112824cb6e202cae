"""The one way a protective exit's row changes (`exit_transition`), and the conditional steps built on it.

Every change is one conditional UPDATE (WHERE the exit is still in the state the caller saw) plus its audit
row, in one transaction: two workers racing for the same step, one wins and the other changes nothing.
Arming (the row's creation) is apps.exits.arming; everything after goes through here.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exchange.broker import ExchangeError
from apps.exits import notify
from apps.exits.models import ProtectiveExit

log = logging.getLogger(__name__)

S = ProtectiveExit.Status
# Columns that record how the work goes, not what the exit is: changed without an audit row.
BOOKKEEPING = frozenset({"last_error", "stuck_at", "exchange_stop_checked_at", "exit_order", "exit_order_id"})


def exit_intent(exit_id: int, attempt: int | str) -> str:
    return f"exit:{exit_id}:{attempt}"


def exit_transition(
    *,
    exit_id: int,
    actor: Actor | None,
    action: str | None,
    when: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    message: str = "",
    **changes: Any,
) -> bool:
    """Change exit `exit_id`'s columns to `changes` while it still matches `when` (e.g. {"status": "armed"});
    True when this call made the change. Audited as `exit.<action>` (with `before` / `after` / `message`);
    `action=None` is for BOOKKEEPING columns only. Stamps updated_at."""
    if action is None and not set(changes) <= BOOKKEEPING:
        raise ValueError(f"exit {exit_id}: {sorted(set(changes) - BOOKKEEPING)} change only with an audited action")
    if action is not None and actor is None:
        raise ValueError(f"exit {exit_id}: exit.{action} needs an actor")
    with transaction.atomic():
        won = ProtectiveExit.objects.filter(pk=exit_id, **(when or {})).update(**changes, updated_at=timezone.now())
        if won and action is not None and actor is not None:
            audit_record(
                actor=actor,
                action=f"exit.{action}",
                object_type="exits.protectiveexit",
                object_id=str(exit_id),
                before=before,
                after=after,
                message=message,
            )
    return bool(won)


def claim(*, exit_id: int, reason: str, price: Decimal | None, now: datetime, actor: Actor) -> bool:
    """armed -> triggered, attempt 1. Exactly one caller wins, whatever the number of workers."""
    won = exit_transition(
        exit_id=exit_id,
        actor=actor,
        action="trigger",
        when={"status": S.ARMED},
        after={"reason": reason, "price": None if price is None else str(price)},
        status=S.TRIGGERED,
        trigger_reason=reason,
        trigger_price=price,
        triggered_at=now,
        attempts=1,
        attempted_at=now,
        exit_order=None,
    )
    if won:
        notify.count_triggered(reason)
    return won


def claim_retry(*, exit: ProtectiveExit, now: datetime, actor: Actor) -> bool:
    """Attempt n -> n + 1, only when attempt n's order is still the exit's order (one winner)."""
    return exit_transition(
        exit_id=exit.pk,
        actor=actor,
        action="retry",
        when={"status": S.TRIGGERED, "attempts": exit.attempts, "exit_order_id": exit.exit_order_id},
        after={"attempt": exit.attempts + 1},
        attempts=F("attempts") + 1,
        exit_order=None,
        attempted_at=now,
    )


def run_safely(label: str, errors: list[str], fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    """One exit's trouble (exchange down, a refused order) must not stop the pass for the others."""
    try:
        return fn(*args, **kwargs)
    except ExchangeError as exc:
        log.warning("exits: %s: %s", label, exc)
        errors.append(f"{label}: {exc}")
    except Exception as exc:
        log.exception("exits: %s failed", label)
        errors.append(f"{label}: {type(exc).__name__}: {exc}")
    return None
