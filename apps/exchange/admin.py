from django.conf import settings
from django.contrib import admin

from apps.common.admin_mixins import ReadOnlyAdmin, ReadOnlyTabularInline
from apps.exchange.models import BreakerState, PaperBalance, PaperOrder, PaperTrade


@admin.register(BreakerState)
class BreakerStateAdmin(ReadOnlyAdmin):
    list_display = ("name", "state", "consecutive_failures", "opened_at", "last_error", "updated_at")
    list_filter = ("state",)
    search_fields = ("name",)


class PaperOnlyAdmin(ReadOnlyAdmin):
    """The paper account's tables: shown in paper mode only (in live they would read as the real account)."""

    def has_module_permission(self, request) -> bool:
        return settings.MODE == "paper" and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return settings.MODE == "paper" and super().has_view_permission(request, obj)


@admin.register(PaperBalance)
class PaperBalanceAdmin(PaperOnlyAdmin):
    list_display = ("currency", "free", "used", "updated_at")
    search_fields = ("currency",)


class PaperTradeInline(ReadOnlyTabularInline):
    model = PaperTrade
    fields = ("trade_id", "price", "amount", "fee", "fee_currency", "is_maker", "executed_at")


@admin.register(PaperOrder)
class PaperOrderAdmin(PaperOnlyAdmin):
    list_display = (
        "exchange_order_id",
        "client_order_id",
        "symbol",
        "side",
        "type",
        "status",
        "finish_as",
        "created_at",
    )
    list_filter = ("status", "symbol", "side", ("created_at", admin.DateFieldListFilter))
    search_fields = ("exchange_order_id", "client_order_id")
    date_hierarchy = "created_at"
    inlines = [PaperTradeInline]


@admin.register(PaperTrade)
class PaperTradeAdmin(PaperOnlyAdmin):
    list_display = ("trade_id", "order", "symbol", "side", "price", "amount", "fee", "fee_currency", "executed_at")
    list_filter = ("symbol", "side", ("executed_at", admin.DateFieldListFilter))
    search_fields = ("trade_id", "order__client_order_id", "order__exchange_order_id")
    date_hierarchy = "executed_at"
