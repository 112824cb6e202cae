from django.apps import AppConfig


class ExitsConfig(AppConfig):
    name = "apps.exits"
    label = "exits"
    verbose_name = "Protective exits"
