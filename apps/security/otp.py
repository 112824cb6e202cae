"""Two-factor login for the admin (django-otp): TOTP apps plus single-use recovery codes.

Staff users must give a code when MODE=live (and in paper / backtest when ADMIN_2FA_PAPER=true). A user
who must and has no confirmed device is refused with the way to enrol (`manage.py otp_enrol NAME` on the
server); once in, `/admin/security/otp/` adds an authenticator app or new recovery codes.
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any

import django_otp
from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.monitoring import metrics

RECOVERY_CODES = 10
TOTP_NAME = "authenticator app"
RECOVERY_NAME = "recovery codes"


def otp_required(user: Any) -> bool:
    """Whether this user must pass a second factor to use the admin."""
    if not getattr(user, "is_staff", False):
        return False
    return settings.MODE == "live" or settings.ADMIN_2FA_PAPER


def is_verified(user: Any) -> bool:
    """Whether this request's user passed the second factor (django_otp's OTPMiddleware marks request.user)."""
    return bool(user.is_verified())


def has_device(user: Any) -> bool:
    return django_otp.user_has_device(user, confirmed=True)


def verify(user: Any, token: str) -> Device | None:
    """The confirmed device (TOTP or recovery codes) that accepts `token`, or None. A TOTP code is good once;
    a recovery code is used up. django-otp throttles a device after failures (OTP_TOTP_THROTTLE_FACTOR)."""
    token = "".join((token or "").split())
    if not token or len(token) > 16:
        return None
    with transaction.atomic():
        for device in django_otp.devices_for_user(user, confirmed=True, for_verify=True):
            allowed, _ = device.verify_is_allowed()
            if allowed and device.verify_token(token):
                return device
    return None


class OtpLoginForm(AdminAuthenticationForm):
    """The admin login form plus a one-time code; the code is checked only for users who need one or who
    have a device (then a right code also marks the session verified)."""

    otp_token = forms.CharField(
        label="Code from your authenticator app (or a recovery code)",
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "otp_missing": "Enter the code from your authenticator app (or a recovery code).",
        "otp_invalid": "The code is wrong or was already used; wait for the next one and try again.",
        "otp_not_enrolled": (
            "Two-factor authentication is required and this account has no authenticator yet: ask an "
            "operator with shell access to run `python manage.py otp_enrol %(username)s`."
        ),
    }

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)  # active and staff
        required = otp_required(user)
        if not required and not has_device(user):
            return
        if required and not has_device(user):
            self._otp_refused(user, "otp_not_enrolled")
        token = self.cleaned_data.get("otp_token") or ""
        if not token.strip():
            if required:
                self._otp_refused(user, "otp_missing")
            return  # optional second factor not given: a normal, unverified session
        device = verify(user, token)
        if device is None:
            self._otp_refused(user, "otp_invalid")
        user.otp_device = device  # django-otp marks the session verified at login

    def _otp_refused(self, user: Any, code: str) -> None:
        """Refuse, count and audit; the failure also feeds django-axes so codes cannot be guessed freely."""
        metrics.ADMIN_LOGIN_FAILURES.inc()
        audit_record(
            actor=Actor.user(user), action="admin.login_refused", message=f"second factor: {code.removeprefix('otp_')}"
        )
        user_login_failed.send(
            sender=__name__, credentials={"username": user.get_username()}, request=self.request, otp=True
        )
        raise forms.ValidationError(self.error_messages[code], code=code, params={"username": user.get_username()})


# --- enrolment ------------------------------------------------------------------------------------------


def totp_start(user: Any) -> TOTPDevice:
    """A new, unconfirmed TOTP device (earlier unconfirmed ones are dropped)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def totp_pending(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def totp_confirm(*, user: Any, device: TOTPDevice, token: str, actor: Actor) -> bool:
    """Confirm the device with a first code from the app; True when it was right."""
    token = "".join((token or "").split())
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        if not token.isdigit() or not device.verify_token(token):
            audit_record(actor=actor, action="admin.otp_enrol", obj=device, message="wrong first code")
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(actor=actor, action="admin.otp_enrol", obj=device, message="authenticator app confirmed")
    return True


def recovery_codes_new(*, user: Any, actor: Actor) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODES new single-use ones; shown once."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_NAME, defaults={"confirmed": True})
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
        if not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        audit_record(actor=actor, action="admin.otp_recovery_codes", obj=device, message=f"{len(codes)} new codes")
    return codes


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL of the device as an SVG QR code, drawn here (no external service)."""
    import segno  # only the enrolment page needs it

    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)


def secret_text(device: TOTPDevice) -> str:
    """The shared secret in base32 groups of four, for apps where the QR code cannot be scanned."""
    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def confirmed_totp(user: Any) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id"))


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def has_recovery_codes(user: Any) -> bool:
    return recovery_codes_left(user) > 0
