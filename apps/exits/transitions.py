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

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_entry, audit_record, audit_record_many
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
    with transaction.atomic(savepoint=False):  # inside a caller's transaction (a fill's), part of it
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


def exit_transitions_many(*, moved: list[tuple[ProtectiveExit, str, dict, dict, list[str]]], actor: Actor) -> None:
    """exit_transition for exits the caller holds locked (select_for_update, in its transaction), so no
    condition is needed: each (exit with its new values, action, before, after, columns) written by one UPDATE
    for all of them and audited `exit.<action>` by one INSERT."""
    if not moved:
        return
    stamp = timezone.now()
    columns = sorted({name for *_, names in moved for name in names} | {"updated_at"})
    with transaction.atomic(savepoint=False):
        for exit, *_ in moved:
            exit.updated_at = stamp
        ProtectiveExit.objects.bulk_update([exit for exit, *_ in moved], columns)
        audit_record_many(
            [
                audit_entry(
                    actor=actor,
                    action=f"exit.{action}",
                    object_type="exits.protectiveexit",
                    object_id=str(exit.pk),
                    before=before,
                    after=after,
                )
                for exit, action, before, after, _ in moved
            ]
        )


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


def claim_many(*, hits: list[tuple[int, str, Decimal]], now: datetime, actor: Actor) -> list[tuple[int, str, Decimal]]:
    """claim for every (exit id, reason, price) a pass found crossed, in one statement: UPDATE … SET triggered …
    WHERE status = armed AND id IN (…) RETURNING id, plus one INSERT of their audit rows. Returns the hits this
    call won: another worker's pass claiming some of them at the same moment gets the others, never the same."""
    if not hits:
        return []
    by_id = {exit_id: (exit_id, reason, price) for exit_id, reason, price in hits}
    table, qn, ops = ProtectiveExit._meta.db_table, connection.ops.quote_name, connection.ops
    ids = list(by_id)
    reasons = " ".join("WHEN %s THEN %s" for _ in ids)
    prices = " ".join("WHEN %s THEN CAST(%s AS NUMERIC)" for _ in ids)
    stamp = ops.adapt_datetimefield_value(now)
    updated = ops.adapt_datetimefield_value(timezone.now())
    field = ProtectiveExit._meta.get_field("trigger_price")
    params: list[Any] = [S.TRIGGERED]
    for exit_id in ids:
        params += [exit_id, by_id[exit_id][1]]
    for exit_id in ids:
        params += [exit_id, field.get_db_prep_save(by_id[exit_id][2], connection)]
    params += [stamp, stamp, updated, S.ARMED, *ids]
    sql = (
        f"UPDATE {qn(table)} SET {qn('status')} = %s,"
        f" {qn('trigger_reason')} = CASE {qn('id')} {reasons} END,"
        f" {qn('trigger_price')} = CASE {qn('id')} {prices} END,"
        f" {qn('triggered_at')} = %s, {qn('attempts')} = 1, {qn('attempted_at')} = %s,"
        f" {qn('exit_order_id')} = NULL, {qn('updated_at')} = %s"
        f" WHERE {qn('status')} = %s AND {qn('id')} IN ({', '.join('%s' for _ in ids)}) RETURNING {qn('id')}"
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            won = sorted(row[0] for row in cursor.fetchall())
        audit_record_many(
            [
                audit_entry(
                    actor=actor,
                    action="exit.trigger",
                    object_type="exits.protectiveexit",
                    object_id=str(exit_id),
                    after={"reason": by_id[exit_id][1], "price": str(by_id[exit_id][2])},
                )
                for exit_id in won
            ]
        )
    for exit_id in won:
        notify.count_triggered(by_id[exit_id][1])
    return [by_id[exit_id] for exit_id in won]


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
