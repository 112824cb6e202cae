from django.apps import AppConfig


class TelegramBotConfig(AppConfig):
    name = "apps.telegram_bot"
    label = "telegram_bot"
    verbose_name = "Telegram bot"
