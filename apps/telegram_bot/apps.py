from django.apps import AppConfig


class TelegramBotConfig(AppConfig):
    name = "apps.telegram_bot"
    label = "telegram_bot"
    verbose_name = "Telegram bot"

    def ready(self) -> None:
        # App registry: the channel's module reads settings and models, so it is imported once apps are ready.
        from apps.notifications import channel_register
        from apps.telegram_bot import alerts

        channel_register(alerts.telegram_channel.name, alerts.telegram_channel)
