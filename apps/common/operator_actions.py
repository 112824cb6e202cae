"""Running an operator's admin action: audited with the user, errors shown as messages, never a crash."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from apps.audit.actors import Actor
from apps.audit.services import audit_record

log = logging.getLogger(__name__)


class NotAvailable(Exception):
    """The service behind an action is not part of this installation yet."""


def run_operator_action(
    request: HttpRequest, action: str, call: Callable[[Actor], Any], *, obj: Any = None, success: str = ""
) -> Any:
    """Call a service as the logged-in operator. Every attempt writes an audit row with the user;
    failures become an error message on the page."""
    actor = Actor.user(request.user)
    try:
        result = call(actor)
    except NotAvailable as exc:
        audit_record(actor=actor, action=f"admin.{action}", obj=obj, message=f"not available: {exc}")
        messages.warning(request, f"{action}: {exc}")
        return None
    except Exception as exc:  # shown to the operator; the service left nothing half-written
        log.exception("operator action %s failed", action)
        audit_record(actor=actor, action=f"admin.{action}", obj=obj, message=f"failed: {exc}")
        messages.error(request, f"{action} failed: {exc}")
        return None
    audit_record(actor=actor, action=f"admin.{action}", obj=obj, message="ok")
    messages.success(request, success or f"{action}: done")
    return result


def _broker():
    try:
        from apps.exchange.services import get_broker
    except ImportError as exc:
        raise NotAvailable("the exchange layer is not installed yet") from exc
    return get_broker()


def cancel_order(order: Any) -> Callable[[Actor], Any]:
    def call(actor: Actor) -> Any:
        try:
            from apps.exchange.services import order_cancel
        except ImportError as exc:
            raise NotAvailable("order cancellation arrives with the exchange layer") from exc
        return order_cancel(order=order, broker=_broker(), actor=actor)

    return call


def close_position(position: Any) -> Callable[[Actor], Any]:
    def call(actor: Actor) -> Any:
        try:
            from apps.exits.services import position_close
        except ImportError as exc:
            raise NotAvailable("closing at market arrives with the protective-exit service") from exc
        return position_close(position=position, broker=_broker(), actor=actor)

    return call


def reconcile_now(actor: Actor) -> Any:
    try:
        from apps.reconciliation.services import reconcile
    except ImportError as exc:
        raise NotAvailable("reconciliation arrives with the trading core") from exc
    return reconcile(broker=_broker(), actor=actor, trigger="operator")
