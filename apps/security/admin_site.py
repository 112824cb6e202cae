"""What the admin site needs from the security app: the login form with a one-time code, the rule that
a user who must use two factors has passed the second, and the security pages' URLs."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path


class SecureAdminSiteMixin:
    """Mix into the AdminSite (before admin.AdminSite). Imported while apps load: models only lazily."""

    login_template = "security/login.html"

    @property
    def login_form(self):
        from apps.security.otp import OtpLoginForm

        return OtpLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        from apps.security import otp

        if not super().has_permission(request):  # type: ignore[misc]
            return False
        user = request.user
        return not otp.otp_required(user) or user.is_verified()

    def get_urls(self):
        from apps.security.reauth import reauth_view
        from apps.security.views import otp_setup_view

        admin_view = self.admin_view  # type: ignore[attr-defined]
        return [
            path("security/otp/", admin_view(otp_setup_view), name="security-otp"),
            path("security/reauth/", admin_view(reauth_view), name="security-reauth"),
            *super().get_urls(),  # type: ignore[misc]
        ]
