from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "apps.security"
    label = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        # app registry: the signal handlers' module imports models, importable once apps are ready
        from apps.security import lockout

        lockout.connect()
