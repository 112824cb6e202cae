from django.contrib import admin
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.common.admin_mixins import ReadOnlyAdmin, ReadOnlyTabularInline
from apps.reconciliation.models import Discrepancy, ReconciliationRun


class DiscrepancyInline(ReadOnlyTabularInline):
    model = Discrepancy
    fields = ("symbol", "kind", "severity", "order", "exchange_order_id", "fixed", "resolved", "details")
    show_change_link = True


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "venue",
        "started_at",
        "finished_at",
        "status",
        "trigger",
        "checked",
        "fixed",
        "imported",
        "missing",
        "exchange_calls",
    )
    list_filter = ("venue", "status", "trigger", ("started_at", admin.DateFieldListFilter))
    date_hierarchy = "started_at"
    inlines = [DiscrepancyInline]


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "run",
        "symbol",
        "kind",
        "severity",
        "order",
        "exchange_order_id",
        "fixed",
        "resolved",
    )
    list_filter = ("kind", "severity", "resolved", "fixed", "symbol", ("created_at", admin.DateFieldListFilter))
    search_fields = ("exchange_order_id", "order__client_order_id", "order__exchange_order_id", "symbol")
    date_hierarchy = "created_at"
    actions = ["mark_resolved"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("reconciliation.change_discrepancy"):
            actions.pop("mark_resolved", None)
        return actions

    @admin.action(description="Mark selected discrepancies resolved")
    def mark_resolved(self, request, queryset) -> None:
        actor = Actor.user(request.user)
        count = 0
        for item in queryset.filter(resolved=False):
            item.resolved = True
            item.resolved_at = timezone.now()
            item.save(update_fields=["resolved", "resolved_at"])
            audit_record(actor=actor, action="discrepancy.resolve", obj=item, after={"resolved": True})
            count += 1
        self.message_user(request, f"{count} discrepancies marked resolved")
