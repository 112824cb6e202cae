from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "apps.operations"
    label = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        # App registry: imported once every app is ready
        from django.db.models.signals import post_migrate

        from apps.operations import shutdown  # noqa: F401 - connects the worker's stop flag and shutdown timing
        from apps.operations.schedule import ensure_schedule

        post_migrate.connect(ensure_schedule, sender=self)
