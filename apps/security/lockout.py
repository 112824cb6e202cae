"""What happens around a refused admin login: django-axes counts and locks out; we audit, count the
failures and lockouts in Prometheus, and alert on a lockout."""

from __future__ import annotations

import logging
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.monitoring import metrics
from apps.notifications import notify
from apps.security.middleware import remember_login

log = logging.getLogger(__name__)


def _client(request: Any) -> str:
    return str(getattr(request, "axes_ip_address", None) or getattr(request, "META", {}).get("REMOTE_ADDR", "?"))


def on_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    """A wrong password (or a refusal during a lockout). Wrong second factors are audited by the form."""
    if kwargs.get("otp") or sender == "apps.security.reauth":
        return
    username = str((credentials or {}).get("username") or "")[:150]
    reason = "locked_out" if getattr(request, "axes_locked_out", False) else "password"
    metrics.ADMIN_LOGIN_FAILURES.inc()
    audit_record(
        actor=Actor(type="system", id="", label=f"login:{username}"[:150]),
        action="admin.login_failed",
        object_type="auth.user",
        object_id=username,
        message=f"{reason} from {_client(request)}",
    )


def on_locked_out(
    sender: Any, request: Any = None, username: str | None = None, ip_address: str | None = None, **kwargs: Any
) -> None:
    """django-axes locked a user or an address out (sent again for each attempt during the lockout)."""
    name = str(username or "")[:150]
    metrics.ADMIN_LOCKOUTS.inc()
    audit_record(
        actor=Actor(type="system", id="", label="axes"),
        action="admin.lockout",
        object_type="auth.user",
        object_id=name,
        message=f"locked out for {settings.ADMIN_LOGIN_COOLOFF_MIN} min: user {name!r} from {ip_address}",
    )
    log.warning("admin login locked out: user %r from %s", name, ip_address)
    notify(
        kind="admin_lockout",
        text=(
            f"Admin login locked out: user {name!r} from {ip_address} after {settings.ADMIN_LOGIN_FAILURE_LIMIT} "
            f"failures ({settings.ADMIN_LOGIN_COOLOFF_MIN} min). Unlock: manage.py axes_reset_username {name}"
        ),
        key=f"admin_lockout:{name}:{ip_address}",
        severity="critical",
    )


def connect() -> None:
    user_logged_in.connect(remember_login, dispatch_uid="security.remember_login")
    user_login_failed.connect(on_login_failed, dispatch_uid="security.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="security.locked_out")
