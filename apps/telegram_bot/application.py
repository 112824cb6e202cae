"""Building the python-telegram-bot Application (polling, webhook) and a bare Bot (alerts)."""

from __future__ import annotations

from django.conf import settings
from telegram import Bot
from telegram.ext import Application, ApplicationBuilder

TELEGRAM_API = "https://api.telegram.org/bot"


def api_urls(base: str | None = None) -> tuple[str, str]:
    """PTB's (base_url, base_file_url) from TELEGRAM_API_BASE_URL.

    Accepts `http://host:8081/bot` (PTB's form), `http://host:8081` (`/bot` is added) or a URL with a
    `{token}` placeholder, which is passed through.
    """
    base = (settings.TELEGRAM_API_BASE_URL if base is None else base).strip() or TELEGRAM_API
    if "{token}" in base:
        return base, base.replace("/bot{token}", "/file/bot{token}")
    base = base.rstrip("/")
    if not base.endswith("/bot"):
        base += "/bot"
    return base, base[: -len("/bot")] + "/file/bot"


def bot_create(token: str | None = None) -> Bot:
    """A Bot for sending outside an Application (the alert task)."""
    base_url, base_file_url = api_urls()
    return Bot(token or settings.TELEGRAM_BOT_TOKEN, base_url=base_url, base_file_url=base_file_url)


def application_build(*, token: str | None = None, polling: bool = True) -> Application:
    """The Application with every command handler, the allow-list and the error handler registered.

    `polling=False` builds it without an Updater, for the webhook view that feeds updates itself.
    """
    # start-up cost: the commands (and the core they call) load only in the bot process
    from apps.telegram_bot.handlers import handlers_register

    base_url, base_file_url = api_urls()
    builder = ApplicationBuilder().token(token or settings.TELEGRAM_BOT_TOKEN)
    builder = builder.base_url(base_url).base_file_url(base_file_url)
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    handlers_register(application)
    return application
