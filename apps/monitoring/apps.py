from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # App registry: imported once every app is ready
        from django.conf import settings

        from apps.exchange.limiter import budgets_configured
        from apps.monitoring import celery_hooks, metrics

        celery_hooks.connect()
        metrics.init_zero()  # every family from the first scrape, in every process (web, worker, beat)
        metrics.publish_settings()
        for bucket, budget in budgets_configured().items():
            metrics.RATE_LIMIT_BUDGET_CALLS.labels(bucket=bucket).set(budget.calls)
            metrics.RATE_LIMIT_BUDGET_PERIOD.labels(bucket=bucket).set(budget.period)
        metrics.BUILD_INFO.labels(version=metrics.VERSION, mode=settings.MODE).set(1)
