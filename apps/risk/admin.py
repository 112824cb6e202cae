from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join

from apps.audit.actors import Actor
from apps.common.admin_mixins import ReadOnlyAdmin
from apps.risk.models import RiskEvent, RiskLimits, TradingSwitch
from apps.risk.selectors import Limits, risk_limits
from apps.risk.services import risk_limits_save


@admin.register(TradingSwitch)
class TradingSwitchAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "halted", "reason", "halt_rule", "changed_by", "changed_at", "equity_peak")
    actions = ["pause", "resume"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("risk.change_tradingswitch"):
            actions.pop("pause", None)
            actions.pop("resume", None)
        return actions

    def changelist_view(self, request: HttpRequest, extra_context=None):
        TradingSwitch.get()  # so there is always a row to act on
        return super().changelist_view(request, extra_context)

    # Both go through the dashboard's confirmation pages, which say what will happen before it does.
    @admin.action(description="Pause trading (kill switch on)…")
    def pause(self, request, queryset):
        return HttpResponseRedirect(reverse("admin:trading-pause"))

    @admin.action(description="Resume trading (kill switch off)…")
    def resume(self, request, queryset):
        return HttpResponseRedirect(reverse("admin:trading-resume"))


@admin.register(RiskEvent)
class RiskEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "rule", "symbol", "severity", "message", "decision")
    list_filter = ("rule", "severity", "symbol", ("created_at", admin.DateFieldListFilter))
    search_fields = ("rule", "symbol", "message")
    date_hierarchy = "created_at"


@admin.register(RiskLimits)
class RiskLimitsAdmin(admin.ModelAdmin):
    """The operator's risk limits: an empty field follows its setting. Every save is audited with the user."""

    list_display = ("__str__", "in_force", "changed_by", "changed_at")
    fields = (
        "max_positions",
        "position_size_usd",
        "max_drawdown_pct",
        "max_consecutive_losses",
        "loss_cooldown_min",
        "hours",
        "settings_defaults",
        "in_force",
        "changed_by",
        "changed_at",
    )
    readonly_fields = ("settings_defaults", "in_force", "changed_by", "changed_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RiskLimits.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        RiskLimits.get()  # so there is always the one row to edit
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _render(limits: Limits):
        return format_html_join("", "{}: <b>{}</b><br>", sorted(limits.as_dict().items()))

    @admin.display(description="in force now")
    def in_force(self, obj: RiskLimits | None = None):
        return self._render(risk_limits())

    @admin.display(description="settings (used where a field is empty)")
    def settings_defaults(self, obj: RiskLimits | None = None):
        return self._render(Limits.from_settings())

    def save_model(self, request, obj: RiskLimits, form, change) -> None:
        risk_limits_save(limits=obj, actor=Actor.user(request.user))
