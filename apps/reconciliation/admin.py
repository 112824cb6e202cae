from django.contrib import admin
from django.urls import reverse

from apps.common.admin_mixins import ReadOnlyAdmin, ReadOnlyTabularInline
from apps.common.operator_actions import run_operator_action
from apps.console.confirm import Confirmation, confirmation_page, confirmed
from apps.reconciliation.discrepancies import discrepancies_mark_resolved
from apps.reconciliation.models import Discrepancy, ReconciliationRun


class DiscrepancyInline(ReadOnlyTabularInline):
    model = Discrepancy
    fields = ("symbol", "kind", "severity", "order", "exchange_order_id", "fixed", "resolved", "details")
    show_change_link = True


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "venue",
        "started_at",
        "status",
        "trigger",
        "checked",
        "fixed",
        "imported",
        "missing",
        "exchange_calls",
        "finished_at",
    )
    list_display_links = ("started_at",)
    list_filter = ("venue", "status", "trigger", ("started_at", admin.DateFieldListFilter))
    date_hierarchy = "started_at"
    inlines = [DiscrepancyInline]


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "symbol",
        "kind",
        "severity",
        "order",
        "exchange_order_id",
        "fixed",
        "resolved",
        "run",
    )
    list_display_links = ("created_at",)
    list_filter = ("kind", "severity", "resolved", "fixed", "symbol", ("created_at", admin.DateFieldListFilter))
    search_fields = ("exchange_order_id", "order__client_order_id", "order__exchange_order_id", "symbol")
    date_hierarchy = "created_at"
    actions = ["mark_resolved"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("reconciliation.change_discrepancy"):
            actions.pop("mark_resolved", None)
        return actions

    @admin.action(description="Mark selected discrepancies resolved…")
    def mark_resolved(self, request, queryset):
        items = list(queryset)
        open_ = [d for d in items if not d.resolved]
        if not confirmed(request):
            symbols = sorted({d.symbol for d in open_})
            return confirmation_page(
                request,
                Confirmation(
                    title=f"Mark {len(open_)} discrepancies resolved?",
                    consequences=[
                        f"{len(open_)} unresolved discrepancies are marked resolved, in your name (audited).",
                        "Nothing is sent to the exchange and no order or position changes.",
                        "Entries blocked by them are allowed again on: " + (", ".join(symbols) or "no symbol") + ".",
                    ],
                    rows=[f"#{d.pk} {d.symbol} {d.get_kind_display()} ({d.get_severity_display()})" for d in open_],
                    submit=f"Yes, mark {len(open_)} resolved",
                    cancel_url=reverse("admin:reconciliation_discrepancy_changelist"),
                    action="mark_resolved",
                    selected=[d.pk for d in items],
                    danger=False,
                ),
                context=self.admin_site.each_context(request),
            )
        run_operator_action(
            request,
            "discrepancy.resolve",
            lambda actor: discrepancies_mark_resolved(ids=[d.pk for d in open_], actor=actor),
            success=lambda count: f"{count} discrepancies marked resolved by {request.user.get_username()}",
            failure="Could not mark the discrepancies resolved",
        )
        return None
