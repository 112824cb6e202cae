from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "apps.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        # App registry: imported once every app is ready
        from apps.api.auth import any_token_valid
        from apps.monitoring.views import allow_details

        allow_details(any_token_valid)  # /health/ready shows its components to a valid API token only
