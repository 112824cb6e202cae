from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from apps.common.admin_mixins import ReadOnlyAdmin
from apps.operations.models import ScheduleSource, TaskLock, TaskRun
from apps.operations.schedule import operator_changed


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


@admin.register(ScheduleSource)
class ScheduleSourceAdmin(ReadOnlyAdmin):
    list_display = ("name", "applied", "applied_at")
    search_fields = ("name",)


def _beat_admin() -> None:
    """django-celery-beat's periodic task list, plus one column: does the entry follow the environment, or was it
    changed here (then a restart leaves it alone; `sync_schedule --reset` hands it back to the environment)."""

    class ScheduleAdmin(PeriodicTaskAdmin):
        list_display = (*PeriodicTaskAdmin.list_display, "schedule_source")

        @admin.display(description="schedule from")
        def schedule_source(self, obj: PeriodicTask) -> str:
            return "changed in the admin" if operator_changed(obj) else "environment"

    if admin.site.is_registered(PeriodicTask):
        admin.site.unregister(PeriodicTask)
    admin.site.register(PeriodicTask, ScheduleAdmin)


_beat_admin()
