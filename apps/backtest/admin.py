from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.audit.actors import Actor
from apps.backtest.history import CandleDataError
from apps.backtest.models import BacktestRun, BacktestSweep
from apps.backtest.services import BacktestInputError, backtest_enqueue, backtest_run
from apps.backtest.sweeps import sweep_progress, sweep_ranking
from apps.common.admin_mixins import ReadOnlyAdmin
from apps.console import format as fmt
from apps.console.forms import BacktestStartForm
from apps.console.selectors import backtest_chart

TRADES_PER_PAGE = 25
RUNNING = (BacktestRun.Status.QUEUED, BacktestRun.Status.RUNNING)


def _form_field(name: str) -> str | None:
    name = name.split(".")[0]
    return name if name in BacktestStartForm.base_fields else None


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "symbol", "timeframe", "source", "status", "since", "until", "candles", "result")
    list_display_links = ("created_at",)
    list_filter = ("status", "source", "timeframe", "symbol", "sweep", ("created_at", admin.DateFieldListFilter))
    search_fields = ("symbol", "requested_by", "error", "csv_path")
    date_hierarchy = "created_at"
    actions = ["compare_selected"]

    @admin.display(description="return")
    def result(self, run: BacktestRun) -> str:
        value = (run.metrics or {}).get("total_return_pct")
        return f"{value}%" if value is not None else "–"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backtest.add_backtestrun")

    def get_urls(self):
        custom = [
            path("compare/", self.admin_site.admin_view(self.compare_view), name="backtest_backtestrun_compare"),
        ]
        return custom + super().get_urls()

    # --- start ------------------------------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        """Start a backtest: a date range goes to a worker (backtest_enqueue); a CSV file runs now."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:backtest_backtestrun_changelist"))
        form = BacktestStartForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            run = self._start(request, form)
            if run is not None:
                return HttpResponseRedirect(reverse("admin:backtest_backtestrun_change", args=[run.pk]))
        context = {**self.admin_site.each_context(request), "title": "Start a backtest", "form": form}
        context["opts"] = self.opts
        return TemplateResponse(request, "admin/console/backtest_start.html", context)

    def _start(self, request: HttpRequest, form: BacktestStartForm) -> BacktestRun | None:
        data, actor = form.cleaned_data, Actor.user(request.user)
        try:
            if data.get("csv"):
                folder = settings.DATA_DIR / "backtests"
                folder.mkdir(parents=True, exist_ok=True)
                target = folder / f"upload-{uuid.uuid4().hex}.csv"
                with target.open("wb") as out:
                    for chunk in data["csv"].chunks():
                        out.write(chunk)
                run = backtest_run(
                    symbol=data["symbol"],
                    timeframe=data["timeframe"],
                    csv_path=target,
                    params=form.parameters(),
                    actor=actor,
                )
                messages.success(request, f"Backtest #{run.pk} over {run.candles} candles from the CSV file: done")
                return run
            run = backtest_enqueue(
                symbol=data["symbol"],
                timeframe=data["timeframe"],
                since=data["since"],
                until=data["until"],
                params=form.parameters(),
                actor=actor,
            )
            messages.success(request, f"Backtest #{run.pk} queued for a worker; this page follows its progress")
            return run
        except BacktestInputError as exc:
            form.add_error(_form_field(exc.field), f"{exc.field}: {exc.message}")
        except CandleDataError as exc:
            form.add_error("csv", str(exc))
        except Exception as exc:  # stored as failed by the service; shown, never a 500
            form.add_error(None, f"the backtest failed: {type(exc).__name__}: {exc}")
        return None

    # --- one run ----------------------------------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        run = get_object_or_404(BacktestRun, pk=object_id)
        trades = Paginator(run.trades or [], TRADES_PER_PAGE).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Backtest #{run.pk} {run.symbol} {run.timeframe}",
            "run": run,
            "opts": self.opts,
            "chart": backtest_chart(run),
            "metrics": _metric_rows(run.metrics or {}, quote=_quote(run)),
            "parameters": [(k, _parameter_text(v)) for k, v in sorted((run.parameters or {}).items())],
            "trades": trades,
            "running": run.status in RUNNING,
            "quote": _quote(run),
            "others": BacktestRun.objects.filter(status=BacktestRun.Status.DONE).exclude(pk=run.pk)[:20],
        }
        return TemplateResponse(request, "admin/console/backtest_run.html", context)

    # --- compare ----------------------------------------------------------------------------------------

    @admin.action(description="Compare the selected runs side by side")
    def compare_selected(self, request: HttpRequest, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True)[:4])
        return HttpResponseRedirect(f"{reverse('admin:backtest_backtestrun_compare')}?ids={ids}")

    def compare_view(self, request: HttpRequest):
        try:
            ids = [int(x) for x in request.GET.get("ids", "").split(",") if x.strip()][:4]
        except ValueError:
            ids = []
        runs = list(BacktestRun.objects.filter(pk__in=ids).order_by("pk"))
        if len(runs) < 2:
            messages.warning(request, "Pick two runs (or more, up to four) to compare")
            return HttpResponseRedirect(reverse("admin:backtest_backtestrun_changelist"))
        keys = []
        for run in runs:
            keys += [k for k in _metric_rows(run.metrics or {}, keys_only=True) if k not in keys]
        rows = _with_differs(
            [
                (METRIC_LABELS.get(k, k), [_metric_text(k, (run.metrics or {}).get(k), _quote(run)) for run in runs])
                for k in keys
            ]
        )
        params = sorted({k for run in runs for k in (run.parameters or {})})
        param_rows = _with_differs(
            [(k, [_parameter_text((run.parameters or {}).get(k, "–")) for run in runs]) for k in params]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Compare backtests " + " vs ".join(f"#{r.pk}" for r in runs),
            "runs": runs,
            "rows": rows,
            "param_rows": param_rows,
            "opts": self.opts,
            "chart": {"runs": [backtest_chart(run) for run in runs]},
        }
        return TemplateResponse(request, "admin/console/backtest_compare.html", context)


METRIC_LABELS = {
    "total_return_pct": "Total return %",
    "final_equity": "Final equity",
    "initial_equity": "Initial equity",
    "realized_pnl": "Realized PnL",
    "max_drawdown_pct": "Max drawdown %",
    "trades": "Trades",
    "wins": "Wins",
    "losses": "Losses",
    "win_rate_pct": "Win rate %",
    "profit_factor": "Profit factor",
    "sharpe": "Sharpe",
    "average_trade": "Average trade",
    "gross_profit": "Gross profit",
    "gross_loss": "Gross loss",
    "fees": "Fees",
    "exposure_pct": "Exposure %",
    "candles": "Candles",
    "decisions": "Decisions",
    "actions": "Actions",
    "exits": "Exits by reason",
    "blocked": "Entries blocked by risk",
    "halted_at": "Halted by drawdown at",
}


MONEY_METRICS = frozenset(
    {"final_equity", "initial_equity", "realized_pnl", "gross_profit", "gross_loss", "fees", "average_trade"}
)


def _metric_text(key: str, value, quote: str = "") -> str:
    """A metric as an operator reads it: money in the quote currency, percentages and ratios rounded."""
    if value is None or value == "":
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "none"
    try:
        if key in MONEY_METRICS:
            return fmt.number(value, fmt.currency_places(quote), quote)
        if key.endswith("_pct"):
            return fmt.percent(value, 2, sign=key == "total_return_pct")
        if isinstance(value, float):
            return f"{value:.2f}"
    except (ArithmeticError, ValueError):
        pass
    return str(value)


def _metric_rows(metrics: dict, *, keys_only: bool = False, quote: str = ""):
    keys = [k for k in METRIC_LABELS if k in metrics] + sorted(k for k in metrics if k not in METRIC_LABELS)
    if keys_only:
        return keys
    return [(METRIC_LABELS.get(k, k), _metric_text(k, metrics[k], quote)) for k in keys]


def _with_differs(rows: list[tuple[str, list[str]]]) -> list[tuple[str, list[str], bool]]:
    return [(label, values, len(set(values)) > 1) for label, values in rows]


def _quote(run: BacktestRun) -> str:
    return run.symbol.split("/")[1] if "/" in run.symbol else ""


def _parameter_text(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    return str(value)


@admin.register(BacktestSweep)
class BacktestSweepAdmin(ReadOnlyAdmin):
    """Sweeps as they run (started with `manage.py backtest --grid` or POST /api/backtests/sweeps); each
    combination is a backtest run, listed under Backtest runs filtered by sweep."""

    list_display = ("id", "symbol", "timeframe", "source", "status", "progress", "rank_by", "best", "created_at")
    list_filter = ("status", "source", "timeframe", "symbol")
    search_fields = ("symbol", "requested_by", "csv_path", "error")
    readonly_fields = ("ranking",)

    @admin.display(description="finished")
    def progress(self, sweep: BacktestSweep) -> str:
        done, total = sweep_progress(sweep)
        return f"{done}/{total}"

    @admin.display(description="best combination")
    def best(self, sweep: BacktestSweep) -> str:
        ranking = sweep_ranking(sweep)
        if not ranking:
            return "-"
        top = ranking[0]
        return f"{top['combination']}: {sweep.rank_by} {top[sweep.rank_by]}"

    @admin.display(description="ranking")
    def ranking(self, sweep: BacktestSweep) -> str:
        rows = sweep_ranking(sweep)
        return "\n".join(f"{r['rank']}. run #{r['run']} {r['combination']}: {r[sweep.rank_by]}" for r in rows)
