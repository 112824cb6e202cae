from django.apps import AppConfig


class TelegramBotConfig(AppConfig):
    name = "apps.telegram_bot"
    label = "telegram_bot"
    verbose_name = "Telegram bot"

    def ready(self) -> None:
        # App registry: the alerts module reads settings and models, so it is imported once apps are ready.
        from apps.notifications import channel_register
        from apps.telegram_bot import alerts

        channel_register("telegram", alerts.telegram_channel)
