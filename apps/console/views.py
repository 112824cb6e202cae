"""The console's own pages, mounted in the admin site (tradebot/admin.py): thin views over
apps.console.selectors and the apps' services. Every one is staff-only through `admin_site.admin_view`."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from apps.common import operator_actions
from apps.common.operator_actions import run_operator_action
from apps.console import format as fmt
from apps.console.confirm import Confirmation, confirmation_page, confirmed
from apps.console.selectors import console_broker, dashboard_view, symbol_view
from apps.risk import services as risk_services
from apps.risk.selectors import trading_status
from apps.security.reauth import live_mode, reauth_gate
from apps.trading.models import Position

REFRESH_SECONDS = 15


def dashboard_context() -> dict:
    return {"dash": dashboard_view(broker=console_broker()), "refresh_seconds": REFRESH_SECONDS}


def dashboard_fragment(request: HttpRequest) -> HttpResponse:
    """The dashboard alone, for the page's auto-refresh (static/console/console.js)."""
    return TemplateResponse(request, "admin/console/dashboard.html", dashboard_context())


def _at(actor_label: str, verb: str) -> str:
    return f"{verb} by {actor_label} at {fmt.clock(timezone.now(), settings.DISPLAY_TIMEZONE)}"


def trading_pause(request: HttpRequest, site) -> HttpResponse:

    index = reverse("admin:index")
    if not confirmed(request):
        status = trading_status()
        return confirmation_page(
            request,
            Confirmation(
                title="Pause trading (kill switch on)?",
                consequences=[
                    "The kill switch turns on: no new entry order is sent for any symbol until someone resumes.",
                    "Open positions stay open; their protective exits (stop-loss / take-profit) keep running.",
                    "Orders already on the exchange are not cancelled.",
                    f"Now: {status.why}.",
                ],
                submit="Yes, pause trading",
                cancel_url=index,
            ),
            context=site.each_context(request),
        )
    run_operator_action(
        request,
        "trading.pause",
        lambda actor: risk_services.trading_pause(actor=actor, reason=f"paused by {actor.label}"),
        success=lambda switch: _at(switch.changed_by, "Trading paused"),
        failure="Could not pause trading",
    )
    return HttpResponseRedirect(index)


def trading_resume(request: HttpRequest, site) -> HttpResponse:

    index = reverse("admin:index")
    if not confirmed(request):
        status = trading_status()
        lines = [
            "The kill switch turns off: the trading cycle may send entry orders again at the next candle close.",
            f"Mode {settings.MODE}; ENABLE_TRADING is {'true' if settings.ENABLE_TRADING else 'false'}"
            + ("." if settings.ENABLE_TRADING else ", so no order is sent until it is set to true."),
        ]
        if status.halt_reason:
            lines.append(f"It was paused because: {status.halt_reason}.")
        if settings.MODE == "live":
            lines.insert(0, "LIVE: real orders with real money on Gate.io.")
        return confirmation_page(
            request,
            Confirmation(title="Resume trading?", consequences=lines, submit="Yes, resume trading", cancel_url=index),
            context=site.each_context(request),
        )
    # confirmed: in live, the password (and code) again (issue 12), then the resume
    reauth = reauth_gate(request, "trading.resume", when=live_mode)
    if reauth is not None:
        return reauth
    run_operator_action(
        request,
        "trading.resume",
        lambda actor: risk_services.trading_resume(actor=actor, reason=f"resumed by {actor.label}"),
        success=lambda switch: _at(switch.changed_by, "Trading resumed"),
        failure="Could not resume trading",
    )
    return HttpResponseRedirect(index)


def reconcile_now(request: HttpRequest, site) -> HttpResponse:

    run_operator_action(
        request,
        "reconcile.now",
        operator_actions.reconcile_now,
        success=lambda run: (
            f"Reconciliation run #{run.pk} finished: {run.get_status_display()} "
            f"({run.checked} checked, {run.fixed} fixed, {run.imported} imported, {run.missing} missing)"
        ),
        failure="Reconciliation failed",
    )
    return HttpResponseRedirect(reverse("admin:index"))


def symbol_page(request: HttpRequest, site, pair: str) -> HttpResponse:

    symbol = pair.replace("_", "/").replace("-", "/").upper()
    known = set(settings.SYMBOLS) | set(Position.objects.values_list("symbol", flat=True).distinct())
    if symbol not in known:
        raise Http404(f"{symbol} is not traded here")
    view = symbol_view(symbol=symbol, broker=console_broker())
    return TemplateResponse(
        request,
        "admin/console/symbol.html",
        {**site.each_context(request), "title": f"{symbol} chart", "view": view, "symbols": sorted(known)},
    )


def symbol_url(symbol: str) -> str:
    return reverse("admin:console-symbol", args=[symbol.replace("/", "_")])
