"""Re-authentication (password, plus a one-time code when the user has or needs one) before the most
dangerous operator actions: resume trading in live, close positions, revoke API tokens.

Reusable three ways, all sharing one check:
- `@reauth_required("trading.resume")` on a POST view, and `@reauth_admin_action("positions.close")` on a
  ModelAdmin action: when no re-authentication is fresh, the answer is a form asking for the password
  (and code) that carries the original POST along and sends it back to the same URL; the action then runs.
- `reauth_view` (`/admin/security/reauth/?next=…`): re-authenticate first, then go on to `next`, for pages
  (such as a confirmation page) that want the check done before they are shown.
A success stays good for ADMIN_REAUTH_WINDOW_SEC (0: every action asks again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.monitoring import metrics
from apps.security import otp

SESSION_KEY = "security_reauth_at"
PASSWORD_FIELD = "reauth_password"
OTP_FIELD = "reauth_otp"
_OWN_FIELDS = {PASSWORD_FIELD, OTP_FIELD, "csrfmiddlewaretoken", "reauth_next"}


def reauth_fresh(request: HttpRequest) -> bool:
    """Whether this session re-authenticated within ADMIN_REAUTH_WINDOW_SEC."""
    at = request.session.get(SESSION_KEY)
    window = settings.ADMIN_REAUTH_WINDOW_SEC
    return isinstance(at, (int, float)) and window > 0 and 0 <= time.time() - at <= window


LOCKED_TEXT = "Too many wrong attempts: this account is locked for a while (README, Security: unlocking)."


def locked_out(request: HttpRequest, username: str) -> bool:
    """Whether django-axes holds this user or this address locked out (the same lock as the login)."""
    return AxesProxyHandler.is_locked(request, {"username": username})


def needs_code(user: Any) -> bool:
    return otp.otp_required(user) or otp.has_device(user)


class ReauthForm(forms.Form):
    reauth_password = forms.CharField(label="Your password", strip=False, widget=forms.PasswordInput)
    reauth_otp = forms.CharField(
        label="Code from your authenticator app (or a recovery code)",
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        if not needs_code(request.user):
            del self.fields[OTP_FIELD]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        user = self.request.user
        password = data.get(PASSWORD_FIELD) or ""
        if locked_out(self.request, user.get_username()):
            raise forms.ValidationError(LOCKED_TEXT, code="locked")
        if not user.check_password(password):
            self._refuse("password", "The password is wrong.")
        if OTP_FIELD in self.fields:
            if otp.otp_required(user) and not otp.has_device(user):
                self._refuse("otp", "Two-factor authentication is required and this account has no authenticator.")
            if otp.verify(user, data.get(OTP_FIELD) or "") is None:
                self._refuse("otp", "The code is wrong or was already used; wait for the next one.")
        return data

    def _refuse(self, reason: str, text: str) -> None:
        metrics.ADMIN_LOGIN_FAILURES.inc()
        user_login_failed.send(
            sender=__name__, credentials={"username": self.request.user.get_username()}, request=self.request
        )
        raise forms.ValidationError(text, code=reason)


def reauth_attempt(request: HttpRequest, action: str) -> tuple[bool, ReauthForm]:
    """Check the re-authentication fields of a POST; on success the session is fresh for the window."""
    form = ReauthForm(request.POST, request=request)
    ok = form.is_valid()
    errors = [str(error) for error in form.non_field_errors()]
    audit_record(
        actor=Actor.user(request.user),
        action="admin.reauth",
        object_type="action",
        object_id=action,
        message="ok" if ok else "refused: " + "; ".join(errors or ["missing fields"]),
    )
    if ok:
        request.session[SESSION_KEY] = time.time()
        request.session.cycle_key()  # a new session id after a privilege step, like a login
    return ok, form


def _carried(request: HttpRequest) -> list[tuple[str, str]]:
    return [(k, v) for k in request.POST for v in request.POST.getlist(k) if k not in _OWN_FIELDS]


def reauth_page(
    request: HttpRequest,
    action: str,
    form: ReauthForm | None = None,
    *,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> TemplateResponse:
    """The form asking for the password (and code); it posts the original fields back to this URL."""
    context = {
        **admin.site.each_context(request),
        "title": "Confirm it is you",
        "action": action,
        "form": form or ReauthForm(request=request),
        "carried": _carried(request),
        "post_url": request.get_full_path(),
        "needs_code": needs_code(request.user),
        **(extra or {}),
    }
    return TemplateResponse(request, "security/reauth.html", context, status=status)


def reauth_gate(
    request: HttpRequest, action: str, *, when: Callable[[HttpRequest], bool] | None = None
) -> HttpResponse | None:
    """None when the action may go ahead, else the response to give instead (the re-auth form)."""
    if when is not None and not when(request):
        return None
    if reauth_fresh(request):
        return None
    if request.method == "POST" and PASSWORD_FIELD in request.POST:
        ok, form = reauth_attempt(request, action)
        return None if ok else reauth_page(request, action, form, status=403)
    return reauth_page(request, action)


def reauth_required(action: str, *, when: Callable[[HttpRequest], bool] | None = None) -> Callable:
    """Decorator for a view: ask for the password (and code) unless re-authenticated recently.
    `when(request)` limits it (e.g. only in live mode)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            answer = reauth_gate(request, action, when=when)
            return answer if answer is not None else view(request, *args, **kwargs)

        return wrapper

    return decorate


def reauth_admin_action(action: str) -> Callable:
    """Decorator for a ModelAdmin action `(modeladmin, request, queryset)`: the action's POST (with the
    selected rows) is carried through the re-auth form and runs once it is passed."""

    def decorate(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(modeladmin: Any, request: HttpRequest, queryset: Any) -> Any:
            answer = reauth_gate(request, action)
            return answer if answer is not None else func(modeladmin, request, queryset)

        return wrapper

    return decorate


def reauth_view(request: HttpRequest) -> HttpResponse:
    """`/admin/security/reauth/?next=URL`: re-authenticate, then go to `next` (this site only)."""
    next_url = request.POST.get("reauth_next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/admin/"
    if request.method == "POST":
        ok, form = reauth_attempt(request, "reauth")
        if ok:
            return HttpResponseRedirect(next_url)
        return reauth_page(request, "reauth", form, status=403, extra={"next": next_url})
    return reauth_page(request, "reauth", extra={"next": next_url})


def live_mode(request: HttpRequest) -> bool:
    return settings.MODE == "live"
