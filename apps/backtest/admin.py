from django.contrib import admin

from apps.backtest.models import BacktestRun
from apps.common.admin_mixins import ReadOnlyAdmin


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "symbol", "timeframe", "source", "status", "since", "until", "candles", "created_at")
    list_filter = ("status", "source", "timeframe", "symbol", ("created_at", admin.DateFieldListFilter))
    search_fields = ("symbol", "requested_by", "error", "csv_path")
    date_hierarchy = "created_at"
