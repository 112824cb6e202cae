from django.contrib import admin

from apps.common.admin_mixins import ReadOnlyAdmin
from apps.exchange.models import BreakerState


@admin.register(BreakerState)
class BreakerStateAdmin(ReadOnlyAdmin):
    list_display = ("name", "state", "consecutive_failures", "opened_at", "last_error", "updated_at")
    list_filter = ("state",)
    search_fields = ("name",)
