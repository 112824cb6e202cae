from django.contrib import admin

from apps.common.admin_mixins import ReadOnlyAdmin
from apps.monitoring.models import ComponentHealth


@admin.register(ComponentHealth)
class ComponentHealthAdmin(ReadOnlyAdmin):
    list_display = ("name", "status", "detail", "latency_ms", "checked_at", "changed_at")
    list_filter = ("status",)
