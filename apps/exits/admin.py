from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from apps.audit.actors import Actor
from apps.console.columns import FormattedDecimalsMixin
from apps.exits.models import ProtectiveExit
from apps.exits.services import ExitNotEditable, exit_levels_set

LEVELS = ("stop_loss_price", "take_profit_price")


class ExitLevelsForm(forms.ModelForm):
    """The only thing an operator may change on an exit: its two levels, while it is armed."""

    class Meta:
        model = ProtectiveExit
        fields = LEVELS

    def clean(self):
        data = super().clean()
        stop, take = data.get("stop_loss_price"), data.get("take_profit_price")
        if stop is not None and stop <= 0:
            self.add_error("stop_loss_price", "must be a positive price")
        if stop is not None and take is not None and stop >= take:
            self.add_error("take_profit_price", "must be above the stop-loss")
        if self.instance.pk and self.instance.status != ProtectiveExit.Status.ARMED:
            raise forms.ValidationError(f"this exit is {self.instance.status}: its levels can no longer change")
        return data


@admin.register(ProtectiveExit)
class ProtectiveExitAdmin(FormattedDecimalsMixin, admin.ModelAdmin):
    form = ExitLevelsForm
    list_display = (
        "armed_at",
        "symbol",
        "status",
        "entry_price__fmt",
        "stop_loss_price__fmt",
        "take_profit_price__fmt",
        "trigger_reason",
        "attempts",
        "position",
    )
    list_display_links = ("armed_at",)
    list_filter = ("status", "symbol", "trigger_reason", ("armed_at", admin.DateFieldListFilter))
    search_fields = ("symbol", "exchange_stop_order_id", "exit_order__client_order_id", "exit_order__exchange_order_id")
    date_hierarchy = "armed_at"
    list_select_related = ("position", "exit_order")

    def _other_fields(self) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name not in ("id", *LEVELS)]

    def get_fields(self, request, obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            return [*LEVELS, *self.formatted(self._other_fields())]
        return self.formatted([*LEVELS, *self._other_fields()])

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            return self.formatted(self._other_fields())
        return self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        # Editable only while armed: a triggered, filled or cancelled exit opens as "View protective exit".
        if obj is not None and obj.status != ProtectiveExit.Status.ARMED:
            return False
        return super().has_change_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False  # exits are armed by fills, never by hand

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        """Through the exits service (row lock, armed re-checked, audited), never a save of the whole row."""
        try:
            exit_levels_set(
                exit_id=obj.pk,
                stop_loss=form.cleaned_data["stop_loss_price"],
                take_profit=form.cleaned_data["take_profit_price"],
                actor=Actor.user(request.user),
            )
        except ExitNotEditable as exc:
            request._exit_not_saved = str(exc)
            return
        obj.refresh_from_db()

    def response_change(self, request, obj):
        failed = getattr(request, "_exit_not_saved", "")
        if failed:
            messages.error(request, f"Levels not changed: {failed}")
            return HttpResponseRedirect(request.path)
        messages.success(
            request,
            f"Exit #{obj.pk} {obj.symbol}: stop-loss now {obj.stop_loss_price.normalize():f}, "
            f"take-profit {obj.take_profit_price.normalize():f} (changed by {request.user.get_username()})",
        )
        return HttpResponseRedirect(request.path)
