"""What the admin site needs from the security app: the login form with a one-time code, the rule that
a user who must use two factors has passed the second, and the security pages' URLs."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path


class SecureAdminSiteMixin(admin.AdminSite):
    """The admin site with two factors (TradebotAdminSite is one). Imported while apps load: models only lazily."""

    login_template = "security/login.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        # The form's module imports models; the site is made once apps are ready (admin autodiscovery).
        from apps.security.otp import OtpLoginForm

        self.login_form = OtpLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        # app registry: this site is made before the apps are ready, and otp's module imports models
        from apps.security import otp

        if not super().has_permission(request):
            return False
        user = request.user
        return not otp.otp_required(user) or otp.is_verified(user)

    def get_urls(self):
        # app registry: as above, the views' modules import models
        from apps.security.reauth import reauth_view
        from apps.security.views import otp_setup_view

        return [
            path("security/otp/", self.admin_view(otp_setup_view), name="security-otp"),
            path("security/reauth/", self.admin_view(reauth_view), name="security-reauth"),
            *super().get_urls(),
        ]
