from django.contrib import admin

from apps.common.admin_mixins import ReadOnlyAdmin
from apps.operations.models import TaskLock, TaskRun


@admin.register(TaskRun)
class TaskRunAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "last_status",
        "last_started_at",
        "last_finished_at",
        "last_duration_ms",
        "runs",
        "failures",
    )
    list_filter = ("last_status",)
    search_fields = ("name",)


@admin.register(TaskLock)
class TaskLockAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "acquired_at", "expires_at")
    search_fields = ("name",)
