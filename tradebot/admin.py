"""The operator console: Django's admin with a dashboard on the index, a page per symbol, and every action
that sends orders or changes trading behind a confirmation page (apps/console)."""

from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.urls import path
from django.views.decorators.http import require_POST

from apps.security.admin_site import SecureAdminSiteMixin


class TradebotAdminSite(SecureAdminSiteMixin, admin.AdminSite):
    site_header = "tradebot operator console"
    site_title = "tradebot"
    index_title = "Dashboard"
    index_template = "admin/tradebot_index.html"
    # The lists need the width (orders: eleven columns); the dashboard and the breadcrumbs lead everywhere.
    enable_nav_sidebar = False

    def index(self, request: HttpRequest, extra_context: dict | None = None):
        from apps.console.views import dashboard_context

        return super().index(request, extra_context={**dashboard_context(), **(extra_context or {})})

    def each_context(self, request: HttpRequest) -> dict:
        from django.conf import settings

        return {
            **super().each_context(request),
            "trading_mode": settings.MODE,
            "trading_venue": settings.GATEIO_API_URL,  # where live orders go when not Gate.io itself
        }

    def get_urls(self):
        from apps.console import views
        from apps.reports import views as reports

        custom = [
            path("operations/pause/", self.admin_view(partial(views.trading_pause, site=self)), name="trading-pause"),
            path(
                "operations/resume/", self.admin_view(partial(views.trading_resume, site=self)), name="trading-resume"
            ),
            path(
                "operations/reconcile/",
                self.admin_view(require_POST(partial(views.reconcile_now, site=self))),
                name="reconcile-now",
            ),
            path("console/dashboard/", self.admin_view(views.dashboard_fragment), name="console-dashboard"),
            path(
                "console/symbol/<str:pair>/",
                self.admin_view(lambda request, pair: views.symbol_page(request, self, pair)),
                name="console-symbol",
            ),
            *reports.urls(self),
        ]
        return custom + super().get_urls()


class TradebotAdminConfig(AdminConfig):
    default_site = "tradebot.admin.TradebotAdminSite"
