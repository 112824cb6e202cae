"""Operator actions from Telegram (/pause, /resume, /close, /closeall): asked, confirmed with a button, then executed.

`confirmation_request` stores what was asked; `confirmation_decide` claims it exactly once for the chat and
user that asked, within CONFIRMATION_TTL, and runs the same use case the admin and the API run.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exchange import services as exchange_services
from apps.exits import services as exit_services
from apps.risk.selectors import trading_status
from apps.risk.services import trading_pause, trading_resume
from apps.telegram_bot.models import Confirmation
from apps.telegram_bot.parsing import UsageError
from apps.telegram_bot.replies import num
from apps.trading.models import Position
from apps.trading.selectors import positions_open

logger = logging.getLogger(__name__)

CONFIRMATION_TTL = timedelta(minutes=2)
ACTIONS = ("pause", "resume", "close", "closeall")


@dataclass(frozen=True)
class Outcome:
    """What to tell the operator: a short toast for the button, and the new text of the message (or None)."""

    toast: str
    message: str | None


def close_preview(position_id: int) -> str:
    """Describe the open position /close would close; UsageError if there is none."""
    position = Position.objects.filter(pk=position_id).first()
    if position is None:
        raise UsageError(f"no position #{position_id}")
    if position.status != Position.Status.OPEN:
        raise UsageError(f"position #{position_id} is already {position.status}")
    amount, entry = num(position.amount), num(position.average_entry_price)
    return f"Close position #{position.pk} {position.symbol} {amount} @ {entry} at market?"


def closeall_preview() -> str | None:
    """Describe every open position /closeall would close; None when there is none."""
    positions = list(positions_open().order_by("symbol", "id"))
    if not positions:
        return None
    listed = ", ".join(f"#{p.pk} {p.symbol} {num(p.amount)}" for p in positions[:20])
    more = f" and {len(positions) - 20} more" if len(positions) > 20 else ""
    return f"Close all {len(positions)} open positions at market? {listed}{more}"


def entries_stop(*, chat_id: int, reason: str) -> str:
    """/stopentry: the kill switch on (audited as trading.pause by this chat), unless entries are already
    stopped — then nothing changes (a risk rule's halt keeps its rule, so /resume still resets what it must)."""
    status = trading_status()
    if status.halted:
        return f"Entries already stopped: {status.why}. Exits keep running; /resume allows entries again."
    trading_pause(actor=Actor.telegram(chat_id), reason=reason)
    return (
        f"⏸ Entries stopped (kill switch on): {reason}. Open positions keep their stop-loss and take-profit; "
        "/resume allows entries again."
    )


def confirmation_request(*, action: str, argument: str, chat_id: int, user_id: int | None) -> Confirmation:
    assert action in ACTIONS, action
    return Confirmation.objects.create(
        nonce=secrets.token_urlsafe(12),
        action=action,
        argument=argument[:255],
        chat_id=chat_id,
        user_id=user_id,
        expires_at=timezone.now() + CONFIRMATION_TTL,
    )


def confirmation_decide(*, nonce: str, chat_id: int, user_id: int | None, confirm: bool) -> Outcome:
    """Confirm or cancel; refuses an unknown, stale, already used, or someone else's confirmation."""
    actor = Actor.telegram(chat_id)
    confirmation = Confirmation.objects.filter(nonce=nonce).first()
    if confirmation is None:
        return Outcome("Unknown or expired confirmation.", "This confirmation is no longer valid.")
    if confirmation.chat_id != chat_id or (confirmation.user_id is not None and confirmation.user_id != user_id):
        audit_record(
            actor=actor,
            action="telegram.confirmation_refused",
            obj=confirmation,
            message=f"user {user_id} pressed a confirmation that belongs to someone else",
        )
        return Outcome("Only the person who asked can confirm this.", None)
    now = timezone.now()
    status = Confirmation.Status.CONFIRMED if confirm else Confirmation.Status.CANCELLED
    with transaction.atomic():
        claimed = Confirmation.objects.filter(
            pk=confirmation.pk, status=Confirmation.Status.PENDING, expires_at__gt=now
        ).update(status=status, decided_at=now)
    if not claimed:
        asked = f"/{confirmation.action} {confirmation.argument}".rstrip()
        return Outcome("This confirmation expired or was already used.", f"{asked}: expired or already answered.")
    if not confirm:
        audit_record(actor=actor, action=f"telegram.{confirmation.action}_cancelled", obj=confirmation)
        return Outcome("Cancelled.", f"Cancelled: /{confirmation.action} {confirmation.argument}".rstrip())
    try:
        text = _execute(confirmation, actor)
    except Exception as exc:
        logger.exception("telegram %s failed", confirmation.action)
        return Outcome("Failed.", f"/{confirmation.action} failed: {type(exc).__name__}: {str(exc)[:200]}")
    return Outcome("Done.", text)


def _execute(confirmation: Confirmation, actor: Actor) -> str:
    if confirmation.action == "pause":
        trading_pause(actor=actor, reason=confirmation.argument or "paused from Telegram")
        return f"⏸ Trading paused (kill switch on): {confirmation.argument or 'paused from Telegram'}"
    if confirmation.action == "resume":
        trading_resume(actor=actor, reason=confirmation.argument or "resumed from Telegram")
        return f"▶️ Kill switch off. {trading_status().why}"
    if confirmation.action == "closeall":
        return _close_all(actor)
    return _close(int(confirmation.argument), actor)


def _close_all(actor: Actor) -> str:
    """Close every position open now, one by one through the same use case as /close; one failure does not
    stop the others, and each is reported."""
    ids = list(positions_open().order_by("symbol", "id").values_list("pk", flat=True))
    if not ids:
        return "No open positions to close."
    lines = [f"Closing all {len(ids)} open positions"]
    for position_id in ids:
        try:
            lines.append(_close(position_id, actor))
        except Exception as exc:
            logger.exception("telegram closeall: position %s failed", position_id)
            lines.append(f"#{position_id} failed: {type(exc).__name__}: {str(exc)[:150]}")
    return "\n".join(lines)[:4000]


def _close(position_id: int, actor: Actor) -> str:
    position = Position.objects.get(pk=position_id)
    if position.status != Position.Status.OPEN:
        return f"Position #{position_id} is already {position.status}."
    result = exit_services.position_close(position=position, broker=exchange_services.get_broker(), actor=actor)
    parts = [f"Closing position #{position_id} {position.symbol}"]
    for field in ("client_order_id", "status", "amount"):
        value = getattr(result, field, None)
        if value not in (None, ""):
            parts.append(f"{field.replace('_', ' ')} {num(value) if field == 'amount' else value}")
    return " · ".join(parts)
