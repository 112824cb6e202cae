from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console's own pages, formatting and static files (the admin classes live in each app)."""

    name = "apps.console"
    label = "console"
    verbose_name = "Operator console"
