from django.contrib import admin

from apps.backtest.models import BacktestRun, BacktestSweep
from apps.backtest.sweeps import sweep_progress, sweep_ranking
from apps.common.admin_mixins import ReadOnlyAdmin


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "symbol", "timeframe", "source", "status", "since", "until", "candles", "created_at")
    list_filter = ("status", "source", "timeframe", "symbol", "sweep", ("created_at", admin.DateFieldListFilter))
    search_fields = ("symbol", "requested_by", "error", "csv_path")
    date_hierarchy = "created_at"


@admin.register(BacktestSweep)
class BacktestSweepAdmin(ReadOnlyAdmin):
    """Sweeps as they run (started with `manage.py backtest --grid` or POST /api/backtests with a grid); each
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
