"""Admin pages of the security app: two-factor enrolment (QR code drawn here, the secret as text, recovery
codes) and the stand-alone re-authentication page (apps.security.reauth.reauth_view)."""

from __future__ import annotations

import django_otp
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from apps.audit.actors import Actor
from apps.security import otp
from apps.security.reauth import reauth_gate


def otp_setup_view(request: HttpRequest) -> HttpResponse:
    """GET: the state of the user's second factor. POST `step`: start (a new authenticator, after a
    re-authentication), confirm (the first code from the app), recovery (new codes, shown once)."""
    user = request.user
    actor = Actor.user(user)
    codes: list[str] = []
    if request.method == "POST":
        step = request.POST.get("step", "")
        if step in ("start", "recovery"):
            gate = reauth_gate(request, f"otp.{step}")
            if gate is not None:
                return gate
        if step == "start":
            otp.totp_start(user)
            return HttpResponseRedirect(reverse("admin:security-otp"))
        if step == "confirm":
            device = otp.totp_pending(user)
            if device is None:
                messages.error(request, "Start the set-up first.")
            elif otp.totp_confirm(user=user, device=device, token=request.POST.get("otp_token", ""), actor=actor):
                django_otp.login(request, device)
                messages.success(request, "Authenticator app confirmed: it is asked for at every login.")
                if not otp.has_recovery_codes(user):
                    codes = otp.recovery_codes_new(user=user, actor=actor)
            else:
                messages.error(request, "That code is wrong; check the phone's clock and try the next one.")
            if not codes:
                return HttpResponseRedirect(reverse("admin:security-otp"))
        elif step == "recovery":
            codes = otp.recovery_codes_new(user=user, actor=actor)
        elif not codes:
            return HttpResponseRedirect(reverse("admin:security-otp"))
    pending = otp.totp_pending(user)
    context = {
        **admin.site.each_context(request),
        "title": "Two-factor authentication",
        "confirmed": otp.confirmed_totp(user),
        "recovery_left": otp.recovery_codes_left(user),
        "required": otp.otp_required(user),
        "verified": otp.is_verified(user),
        "pending": pending,
        "qr_svg": mark_safe(otp.qr_svg(pending)) if pending else "",  # our own SVG, drawn by segno
        "secret": otp.secret_text(pending) if pending else "",
        "codes": codes,
    }
    return TemplateResponse(request, "security/otp_setup.html", context)
