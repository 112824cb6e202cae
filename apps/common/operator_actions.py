"""Running an operator's admin action: audited with the user, errors shown as messages, never a crash.
Part of the admin console (an interface), used by the admin modules of the apps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exchange import services as exchange_services
from apps.exits import services as exit_services
from apps.reconciliation import services as reconciliation_services
from apps.trading import submission

log = logging.getLogger(__name__)


def run_operator_action(
    request: HttpRequest,
    action: str,
    call: Callable[[Actor], Any],
    *,
    obj: Any = None,
    success: str | Callable[[Any], str] = "",
    failure: str = "",
) -> Any:
    """Call a service as the logged-in operator. Every attempt writes an audit row with the user; the outcome
    is a message in words (`success`, or a function of the service's result), a failure names what failed."""
    actor = Actor.user(request.user)
    try:
        result = call(actor)
    except Exception as exc:  # shown to the operator; the service left nothing half-written
        log.exception("operator action %s failed", action)
        audit_record(actor=actor, action=f"admin.{action}", obj=obj, message=f"failed: {exc}")
        messages.error(request, f"{failure or action + ' failed'}: {exc}")
        return None
    audit_record(actor=actor, action=f"admin.{action}", obj=obj, message="ok")
    text = success(result) if callable(success) else success
    messages.success(request, text or f"{action}: done")
    return result


def cancel_order(order: Any) -> Callable[[Actor], Any]:
    return lambda actor: submission.order_cancel(order=order, broker=exchange_services.get_broker(), actor=actor)


def close_position(position: Any) -> Callable[[Actor], Any]:
    return lambda actor: exit_services.position_close(
        position=position, broker=exchange_services.get_broker(), actor=actor
    )


def reconcile_now(actor: Actor) -> Any:
    return reconciliation_services.reconcile(broker=exchange_services.get_broker(), actor=actor, trigger="operator")
