from django.urls import path

from apps.telegram_bot.webhook import telegram_webhook

urlpatterns = [
    path("webhook", telegram_webhook, name="telegram-webhook"),
]
