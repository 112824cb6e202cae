"""The Reports section of the operator console (/admin/reports/…): balances, realized PnL per period, performance
and closed trades. Thin views over apps.reports.selectors — the same selectors the API and Telegram answer
from — mounted in the admin site by tradebot/admin.py, each staff-only through `admin_site.admin_view`."""

from __future__ import annotations

import math
from datetime import UTC
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.exchange import services as exchange_services
from apps.exchange.broker import ExchangeError
from apps.reports import selectors
from apps.reports.forms import COMMON_ZONES, PnlForm, TradesForm
from apps.trading.models import Position
from apps.trading.venues import current_venue

TRADES_PER_PAGE = 50
PAGES = (  # (url name, title) in the section's menu
    ("reports-pnl", "Profit per period"),
    ("reports-performance", "Performance"),
    ("reports-trades", "Closed trades"),
    ("reports-balances", "Balances"),
)
PERFORMANCE_TITLES = {"pair": "Per pair", "entry_rule": "Per entry rule", "exit_reason": "Per exit reason"}


def _quote() -> str:
    return settings.SYMBOLS[0].split("/")[1] if settings.SYMBOLS else "USDT"


def _page(request: HttpRequest, site, template: str, current: str, title: str, context: dict) -> HttpResponse:
    menu = [{"url": reverse(f"admin:{name}"), "title": t, "current": name == current} for name, t in PAGES]
    return TemplateResponse(
        request,
        f"admin/reports/{template}",
        {**site.each_context(request), "title": title, "menu": menu, "quote": _quote(), **context},
    )


def index(request: HttpRequest, site) -> HttpResponse:
    return _page(request, site, "index.html", "", "Reports", {})


def balances(request: HttpRequest, site) -> HttpResponse:
    report, error = None, None
    try:
        report = selectors.balances_report(broker=exchange_services.get_broker())
    except ValueError as exc:  # MODE=backtest: no broker
        error = str(exc)
    except ExchangeError as exc:
        error = f"the exchange could not be read: {exc}"
    return _page(request, site, "balances.html", "reports-balances", "Balances", {"report": report, "error": error})


def _period_label(start, period: str) -> str:
    if period == "month":
        return start.strftime("%Y-%m")
    if period == "week":
        iso = start.isocalendar()
        return f"{iso.year}-W{iso.week:02d} (from {start:%a %Y-%m-%d})"
    return start.strftime("%a %Y-%m-%d")


def pnl(request: HttpRequest, site) -> HttpResponse:
    data = request.GET if request.GET else {"period": "day", "tz": settings.DISPLAY_TIMEZONE}
    form = PnlForm(data)
    context: dict = {"form": form, "zones": COMMON_ZONES}
    if form.is_valid():
        period, count, tz = form.cleaned_data["period"], form.cleaned_data["count"], form.cleaned_data["tz"]
        rows = selectors.pnl_by_period(period=period, count=count, tz=tz)
        total = sum((r.realized_pnl for r in rows), Decimal(0))
        trades = sum(r.trades for r in rows)
        wins = sum(r.wins for r in rows)
        context.update(
            period=period,
            count=count,
            tz=tz,
            rows=[
                {
                    "label": _period_label(r.start, period),
                    "start": r.start,
                    "starts_at_utc": r.starts_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "pnl": r.realized_pnl,
                    "trades": r.trades,
                    "wins": r.wins,
                    "win_rate": (selectors.HUNDRED * r.wins / r.trades).quantize(Decimal("0.1")) if r.trades else None,
                }
                for r in reversed(rows)  # newest first in the table; the chart runs oldest to newest
            ],
            total=total,
            trades=trades,
            wins=wins,
            chart={
                "title": f"realized PnL per {period} ({tz}) {_quote()}",
                "quote": _quote(),
                "bars": [{"time": r.start.isoformat(), "value": float(r.realized_pnl)} for r in rows],  # drawing only
            },
        )
    return _page(request, site, "pnl.html", "reports-pnl", "Profit per period", context)


def performance(request: HttpRequest, site) -> HttpResponse:
    tables = [
        {"by": by, "title": PERFORMANCE_TITLES[by], "rows": selectors.performance(by=by)}
        for by in selectors.PERFORMANCE_KEYS
    ]
    return _page(request, site, "performance.html", "reports-performance", "Performance", {"tables": tables})


def trades(request: HttpRequest, site) -> HttpResponse:
    form = TradesForm(request.GET)
    symbol, page = None, 1
    if form.is_valid():
        raw = (form.cleaned_data["symbol"] or "").strip()
        symbol = raw.upper().replace("_", "/") or None
        page = form.cleaned_data["page"] or 1
    count, rows = selectors.trades_closed(limit=TRADES_PER_PAGE, offset=(page - 1) * TRADES_PER_PAGE, symbol=symbol)
    pages = max(1, math.ceil(count / TRADES_PER_PAGE))
    symbols = sorted(
        {*settings.SYMBOLS, *selectors.positions_closed().values_list("symbol", flat=True).distinct().order_by()}
    )
    query = {"venue__exact": current_venue(), "status__exact": Position.Status.CLOSED}  # what this page lists
    if symbol:
        query["symbol__exact"] = symbol
    export = reverse("admin:trading_position_export") + "?" + urlencode(query)
    return _page(
        request,
        site,
        "trades.html",
        "reports-trades",
        "Closed trades",
        {
            "form": form,
            "rows": rows,
            "count": count,
            "symbol": symbol,
            "symbols": symbols,
            "page": page,
            "pages": pages,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < pages else None,
            "export_url": export,
        },
    )


def urls(site) -> list:
    """The section's URLs, for TradebotAdminSite.get_urls."""

    def view(fn):
        return site.admin_view(lambda request: fn(request, site))

    return [
        path("reports/", view(index), name="reports-index"),
        path("reports/balances/", view(balances), name="reports-balances"),
        path("reports/pnl/", view(pnl), name="reports-pnl"),
        path("reports/performance/", view(performance), name="reports-performance"),
        path("reports/trades/", view(trades), name="reports-trades"),
    ]
