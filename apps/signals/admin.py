from django.contrib import admin

from apps.common.admin_mixins import ReadOnlyAdmin
from apps.signals.models import Decision


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "symbol", "timeframe", "action", "score", "rule", "executed", "latency_ms", "source")
    list_filter = ("action", "symbol", "timeframe", "executed", "source", ("created_at", admin.DateFieldListFilter))
    search_fields = ("symbol", "rule", "explanation", "orders__client_order_id")
    date_hierarchy = "created_at"
