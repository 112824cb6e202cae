"""The operator console: Django's admin with a dashboard on the index and the kill switch one click away."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from apps.security.admin_site import SecureAdminSiteMixin


class TradebotAdminSite(SecureAdminSiteMixin, admin.AdminSite):
    site_header = "tradebot operator console"
    site_title = "tradebot"
    index_title = "Dashboard"
    index_template = "admin/tradebot_index.html"

    def index(self, request: HttpRequest, extra_context: dict | None = None):
        from apps.monitoring.selectors import dashboard

        context = {"dashboard": dashboard(), **(extra_context or {})}
        return super().index(request, extra_context=context)

    def get_urls(self):
        from apps.security.reauth import live_mode, reauth_required

        custom = [
            path("operations/pause/", self.admin_view(require_POST(self.pause_view)), name="trading-pause"),
            path(
                "operations/resume/",
                self.admin_view(require_POST(reauth_required("trading.resume", when=live_mode)(self.resume_view))),
                name="trading-resume",
            ),
            path("operations/reconcile/", self.admin_view(require_POST(self.reconcile_view)), name="reconcile-now"),
        ]
        return custom + super().get_urls()

    def pause_view(self, request: HttpRequest):
        from apps.common.operator_actions import run_operator_action
        from apps.risk.services import trading_pause

        run_operator_action(
            request, "trading.pause", lambda actor: trading_pause(actor=actor, reason=f"paused by {actor.label}")
        )
        return HttpResponseRedirect(reverse("admin:index"))

    def resume_view(self, request: HttpRequest):
        from apps.common.operator_actions import run_operator_action
        from apps.risk.services import trading_resume

        run_operator_action(
            request, "trading.resume", lambda actor: trading_resume(actor=actor, reason=f"resumed by {actor.label}")
        )
        return HttpResponseRedirect(reverse("admin:index"))

    def reconcile_view(self, request: HttpRequest):
        from apps.common.operator_actions import reconcile_now, run_operator_action

        run = run_operator_action(request, "reconcile.now", reconcile_now)
        if run is not None:
            messages.info(request, f"Reconciliation run #{run.pk}: {run.status}")
        return HttpResponseRedirect(reverse("admin:index"))


class TradebotAdminConfig(AdminConfig):
    default_site = "tradebot.admin.TradebotAdminSite"
