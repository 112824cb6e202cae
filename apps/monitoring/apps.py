from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from django.conf import settings

        from apps.monitoring import celery_hooks, metrics

        celery_hooks.connect()
        metrics.BUILD_INFO.labels(version="0.1.0", mode=settings.MODE).set(1)
