from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.admin_mixins import ReadOnlyAdmin, ReadOnlyTabularInline
from apps.common.operator_actions import cancel_order, close_position, run_operator_action
from apps.security.reauth import reauth_admin_action
from apps.trading.models import Fill, Order, Position


class FillInline(ReadOnlyTabularInline):
    model = Fill
    fields = ("exchange_trade_id", "price", "amount", "fee", "fee_currency", "is_maker", "executed_at")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "client_order_id",
        "venue",
        "exchange_order_id",
        "symbol",
        "side",
        "type",
        "status",
        "amount",
        "quote_amount",
        "price",
        "filled",
        "average_price",
        "fee",
        "fee_currency",
        "origin",
        "created_at",
    )
    list_filter = ("venue", "status", "symbol", "side", "origin", ("created_at", admin.DateFieldListFilter))
    search_fields = ("client_order_id", "exchange_order_id", "intent")
    date_hierarchy = "created_at"
    list_select_related = ("position",)
    inlines = [FillInline]
    actions = ["cancel_selected"]

    @admin.action(description="Cancel selected orders on the exchange")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            run_operator_action(
                request,
                "order.cancel",
                cancel_order(order),
                obj=order,
                success=f"cancel requested for {order.client_order_id}",
            )

    def get_actions(self, request):
        # Operator actions are allowed to staff with the "change" right on orders, even though
        # the order form itself is read-only.
        actions = super().get_actions(request)
        if not request.user.has_perm("trading.change_order"):
            actions.pop("cancel_selected", None)
        return actions


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = (
        "exchange_trade_id",
        "venue",
        "order",
        "symbol",
        "side",
        "price",
        "amount",
        "fee",
        "fee_currency",
        "is_maker",
        "executed_at",
    )
    list_filter = ("venue", "symbol", "side", "is_maker", ("executed_at", admin.DateFieldListFilter))
    search_fields = ("exchange_trade_id", "order__client_order_id", "order__exchange_order_id")
    date_hierarchy = "executed_at"
    list_select_related = ("order",)


class OrderInline(ReadOnlyTabularInline):
    model = Order
    fields = ("client_order_id", "exchange_order_id", "side", "type", "status", "filled", "average_price", "origin")
    show_change_link = True


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "venue",
        "symbol",
        "status",
        "amount",
        "average_entry_price",
        "realized_pnl",
        "fees_quote",
        "opened_at",
        "closed_at",
    )
    list_filter = (
        "venue",
        "status",
        "symbol",
        ("opened_at", admin.DateFieldListFilter),
        ("closed_at", admin.DateFieldListFilter),
    )
    search_fields = ("symbol", "orders__client_order_id", "orders__exchange_order_id")
    date_hierarchy = "opened_at"
    inlines = [OrderInline]
    actions = ["close_selected"]

    @admin.action(description="Close selected positions at market")
    @reauth_admin_action("positions.close")
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Position]) -> None:
        for position in queryset:
            run_operator_action(
                request,
                "position.close",
                close_position(position),
                obj=position,
                success=f"close at market requested for position #{position.pk}",
            )

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("trading.change_position"):
            actions.pop("close_selected", None)
        return actions
