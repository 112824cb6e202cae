from django.contrib import admin

from apps.audit.models import AuditLog
from apps.common.admin_mixins import ReadOnlyAdmin


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_type", "actor_label", "action", "object_type", "object_id", "message")
    list_filter = ("actor_type", "action", "object_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("action", "object_id", "actor_label", "message")
    date_hierarchy = "created_at"
    list_per_page = 100
