from django.contrib import admin

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exits.models import ProtectiveExit


@admin.register(ProtectiveExit)
class ProtectiveExitAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "position",
        "symbol",
        "status",
        "entry_price",
        "stop_loss_price",
        "take_profit_price",
        "trigger_reason",
        "exit_order",
        "exchange_stop_order_id",
        "attempts",
        "armed_at",
    )
    list_filter = ("status", "symbol", "trigger_reason", ("armed_at", admin.DateFieldListFilter))
    search_fields = ("symbol", "exchange_stop_order_id", "exit_order__client_order_id", "exit_order__exchange_order_id")
    date_hierarchy = "armed_at"
    list_select_related = ("position", "exit_order")

    def get_readonly_fields(self, request, obj=None):
        editable = {"stop_loss_price", "take_profit_price"} if obj and obj.status == "armed" else set()
        return [f.name for f in self.model._meta.fields if f.name not in editable]

    def has_add_permission(self, request) -> bool:
        return False  # exits are armed by fills, never by hand

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        before = {k: str(form.initial.get(k)) for k in form.changed_data}
        super().save_model(request, obj, form, change)
        audit_record(
            actor=Actor.user(request.user),
            action="exit.edit",
            obj=obj,
            before=before,
            after={k: str(getattr(obj, k)) for k in form.changed_data},
        )
