from django.apps import AppConfig


class ExitsConfig(AppConfig):
    name = "apps.exits"
    label = "exits"
    verbose_name = "Protective exits"

    def ready(self) -> None:
        # App registry: the services import models, so they load once every app is ready.
        from apps.exits.arming import exit_sync_many
        from apps.trading.services import position_hook_register

        position_hook_register(exit_sync_many)
