from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from django.conf import settings

        from apps.monitoring import celery_hooks, metrics

        celery_hooks.connect()
        metrics.init_zero()  # every family from the first scrape, in every process (web, worker, beat)
        metrics.publish_settings()
        metrics.BUILD_INFO.labels(version=metrics.VERSION, mode=settings.MODE).set(1)
