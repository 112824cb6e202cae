from django.contrib import admin
from django.http import HttpRequest

from apps.common.admin_mixins import ReadOnlyAdmin
from apps.common.operator_actions import run_operator_action
from apps.risk.models import RiskEvent, TradingSwitch
from apps.risk.services import trading_pause, trading_resume


@admin.register(TradingSwitch)
class TradingSwitchAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "halted", "reason", "changed_by", "changed_at", "equity_peak")
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

    @admin.action(description="Pause trading (kill switch on)")
    def pause(self, request, queryset) -> None:
        run_operator_action(request, "trading.pause", lambda a: trading_pause(actor=a, reason=f"paused by {a.label}"))

    @admin.action(description="Resume trading (kill switch off)")
    def resume(self, request, queryset) -> None:
        run_operator_action(
            request, "trading.resume", lambda a: trading_resume(actor=a, reason=f"resumed by {a.label}")
        )


@admin.register(RiskEvent)
class RiskEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "rule", "symbol", "severity", "message", "decision")
    list_filter = ("rule", "severity", "symbol", ("created_at", admin.DateFieldListFilter))
    search_fields = ("rule", "symbol", "message")
    date_hierarchy = "created_at"
