from django.contrib import admin

from apps.common.admin_mixins import ReadOnlyAdmin, ReadOnlyTabularInline
from apps.exchange.models import BreakerState, PaperBalance, PaperOrder, PaperTrade


@admin.register(BreakerState)
class BreakerStateAdmin(ReadOnlyAdmin):
    list_display = ("name", "state", "consecutive_failures", "opened_at", "last_error", "updated_at")
    list_filter = ("state",)
    search_fields = ("name",)


@admin.register(PaperBalance)
class PaperBalanceAdmin(ReadOnlyAdmin):
    list_display = ("currency", "free", "used", "updated_at")
    search_fields = ("currency",)


class PaperTradeInline(ReadOnlyTabularInline):
    model = PaperTrade
    fields = ("trade_id", "price", "amount", "fee", "fee_currency", "is_maker", "executed_at")


@admin.register(PaperOrder)
class PaperOrderAdmin(ReadOnlyAdmin):
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
class PaperTradeAdmin(ReadOnlyAdmin):
    list_display = ("trade_id", "order", "symbol", "side", "price", "amount", "fee", "fee_currency", "executed_at")
    list_filter = ("symbol", "side", ("executed_at", admin.DateFieldListFilter))
    search_fields = ("trade_id", "order__client_order_id", "order__exchange_order_id")
    date_hierarchy = "executed_at"
