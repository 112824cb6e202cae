import functools

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from apps.common.admin_mixins import ReadOnlyAdmin, ReadOnlyTabularInline
from apps.common.operator_actions import cancel_order, close_position, run_operator_action
from apps.console.columns import show_decimal
from apps.console.confirm import Confirmation, confirmation_page, confirmed
from apps.reports.admin import CsvExportMixin
from apps.security.reauth import reauth_gate
from apps.trading.models import Fill, Order, Position


class FillInline(ReadOnlyTabularInline):
    model = Fill
    fields = ("executed_at", "price", "amount", "fee", "fee_currency", "is_maker", "exchange_trade_id")


ORIGIN_SHORT = {"protective_exit": "exit", "external": "imported"}  # the list's narrow column; full in the detail


def _close_sent_text(position: Position, order: Order) -> str:
    return (
        f"Market sell of {show_decimal(order, 'amount')} sent to close position #{position.pk} {position.symbol}: "
        f"order {order.get_status_display().lower()}"
    )


def _live_warning() -> list[str]:
    return ["LIVE: these are real orders with real money on Gate.io."] if settings.MODE == "live" else []


@admin.register(Order)
class OrderAdmin(CsvExportMixin, ReadOnlyAdmin):
    csv_export = "orders"
    # The venue is a filter and in the detail, not a column: the eleven operator columns fill 1280 px.
    list_display = (
        "time",
        "symbol",
        "side",
        "type",
        "status",
        "amount_shown",
        "price__fmt",
        "filled__fmt",
        "average_price__fmt",
        "fee__fmt",
        "origin_shown",
    )
    list_display_links = ("time",)
    list_filter = ("venue", "status", "symbol", "side", "origin", ("created_at", admin.DateFieldListFilter))
    search_fields = ("client_order_id", "exchange_order_id", "intent")
    date_hierarchy = "created_at"
    list_select_related = ("position",)
    list_per_page = 50
    inlines = [FillInline]
    actions = ["cancel_selected"]
    fieldsets = (
        (None, {"fields": ("symbol", "side", "type", "status", "origin", "amount", "quote_amount", "price")}),
        ("Execution", {"fields": ("filled", "average_price", "cost", "fee", "fee_currency", "fees", "last_error")}),
        (
            "Ids",
            {"fields": ("venue", "client_order_id", "exchange_order_id", "exchange", "intent", "decision", "position")},
        ),
        ("Times", {"fields": ("created_at", "submitted_at", "last_exchange_update_at", "updated_at")}),
    )

    @admin.display(description="time", ordering="created_at")
    def time(self, order: Order):
        return order.created_at

    @admin.display(description="origin", ordering="origin")
    def origin_shown(self, order: Order) -> str:
        return ORIGIN_SHORT.get(order.origin, order.get_origin_display())

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, order: Order) -> str:
        if order.amount is None and order.quote_amount is not None:
            return show_decimal(order, "quote_amount")  # a market buy by quote: the currency says so
        return show_decimal(order, "amount")

    @admin.action(description="Cancel selected orders on the exchange…")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Order]):
        orders = list(queryset)
        live = [o for o in orders if not o.is_terminal]
        if not confirmed(request):
            rows = [
                f"{o.created_at:%Y-%m-%d %H:%M:%S} {o.symbol} {o.side} {o.type} "
                f"{show_decimal(o, 'amount') if o.amount is not None else show_decimal(o, 'quote_amount')} "
                f"{'@ ' + show_decimal(o, 'price') if o.price is not None else 'at market'} — {o.get_status_display()}"
                for o in orders
            ]
            lines = [
                *_live_warning(),
                f"A cancel request is sent to the exchange for {len(live)} open order(s); the status changes "
                "when the exchange confirms it.",
                "What has already filled stays filled, and positions are not sold.",
            ]
            if len(live) < len(orders):
                lines.append(f"{len(orders) - len(live)} selected order(s) are already finished and are left alone.")
            return confirmation_page(
                request,
                Confirmation(
                    title=f"Cancel {len(live)} order(s)?",
                    consequences=lines,
                    rows=rows,
                    submit=f"Yes, cancel {len(live)} order(s)",
                    cancel_url=reverse("admin:trading_order_changelist"),
                    action="cancel_selected",
                    selected=[o.pk for o in orders],
                ),
                context=self.admin_site.each_context(request),
            )
        if len(live) < len(orders):
            messages.info(request, f"{len(orders) - len(live)} selected order(s) already finished: nothing to cancel")
        for order in live:
            run_operator_action(
                request,
                "order.cancel",
                cancel_order(order),
                obj=order,
                success=lambda o: (
                    f"Cancel of {o.symbol} {o.side} order {o.client_order_id} sent: now {o.get_status_display()}"
                ),
                failure=f"Could not cancel {order.client_order_id}",
            )
        return None

    def get_actions(self, request):
        # Operator actions are allowed to staff with the "change" right on orders, even though
        # the order form itself is read-only.
        actions = super().get_actions(request)
        if not request.user.has_perm("trading.change_order"):
            actions.pop("cancel_selected", None)
        return actions


@admin.register(Fill)
class FillAdmin(CsvExportMixin, ReadOnlyAdmin):
    csv_export = "fills"
    list_display = (
        "executed_at",
        "venue",
        "symbol",
        "side",
        "price__fmt",
        "amount__fmt",
        "fee__fmt",
        "is_maker",
        "order",
    )
    list_display_links = ("executed_at",)
    list_filter = ("venue", "symbol", "side", "is_maker", ("executed_at", admin.DateFieldListFilter))
    search_fields = ("exchange_trade_id", "order__client_order_id", "order__exchange_order_id")
    date_hierarchy = "executed_at"
    list_select_related = ("order",)


class OrderInline(ReadOnlyTabularInline):
    model = Order
    fields = ("created_at", "side", "type", "status", "filled", "average_price", "origin", "client_order_id")
    show_change_link = True


@admin.register(Position)
class PositionAdmin(CsvExportMixin, ReadOnlyAdmin):
    csv_export = "trades"  # the closed ones among the listed positions
    list_display = (
        "opened_at",
        "venue",
        "symbol",
        "status",
        "amount__fmt",
        "average_entry_price__fmt",
        "realized_pnl__fmt",
        "fees_quote__fmt",
        "closed_at",
    )
    list_display_links = ("opened_at",)
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

    @admin.action(description="Close selected positions at market…")
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Position]):
        positions = list(queryset)
        open_ = [p for p in positions if p.status == Position.Status.OPEN and p.amount > 0]
        if not confirmed(request):
            lines = [
                *_live_warning(),
                f"A market sell order is sent now for the whole amount of {len(open_)} open position(s), "
                "through each position's protective exit (never a second sell if a stop is already selling).",
                "The price is whatever the market gives (slippage); the realized PnL is booked when it fills.",
                "Trading itself is not paused: the trading cycle may enter again on a new buy signal.",
            ]
            if len(open_) < len(positions):
                lines.append(f"{len(positions) - len(open_)} selected position(s) are already closed: left alone.")
            rows = [
                f"#{p.pk} {p.symbol}: sell {show_decimal(p, 'amount')} (entry {show_decimal(p, 'average_entry_price')})"
                for p in open_
            ]
            return confirmation_page(
                request,
                Confirmation(
                    title=f"Close {len(open_)} position(s) at market?",
                    consequences=lines,
                    rows=rows,
                    submit=f"Yes, sell {len(open_)} position(s) at market",
                    cancel_url=reverse("admin:trading_position_changelist"),
                    action="close_selected",
                    selected=[p.pk for p in positions],
                ),
                context=self.admin_site.each_context(request),
            )
        # confirmed: then the password (and code) again (issue 12), then the sells
        reauth = reauth_gate(request, "positions.close")
        if reauth is not None:
            return reauth
        if len(open_) < len(positions):
            closed = len(positions) - len(open_)
            messages.info(request, f"{closed} selected position(s) already closed: nothing to sell")
        for position in open_:
            run_operator_action(
                request,
                "position.close",
                close_position(position),
                obj=position,
                success=functools.partial(_close_sent_text, position),
                failure=f"Could not close position #{position.pk} {position.symbol}",
            )
        return None

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("trading.change_position"):
            actions.pop("close_selected", None)
        return actions
