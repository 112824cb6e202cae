from django.contrib import admin

from apps.common.admin_mixins import ReadOnlyAdmin
from apps.notifications.models import NotificationThrottle


@admin.register(NotificationThrottle)
class NotificationThrottleAdmin(ReadOnlyAdmin):
    list_display = ("name", "count", "expires_at")
    search_fields = ("name",)
