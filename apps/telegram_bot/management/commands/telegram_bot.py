"""`python manage.py telegram_bot`: run the bot by long polling."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from telegram import BotCommand, Update
from telegram.ext import Application

from apps.telegram_bot.application import application_build
from apps.telegram_bot.parsing import USAGE

DESCRIPTIONS = {
    "help": "list of commands",
    "status": "trading gate, positions, today's PnL",
    "health": "readiness of every component",
    "eval": "compute a decision now, without trading",
    "why": "the latest decision and why",
    "profit": "PnL statistics and chart",
    "positions": "open positions",
    "exits": "protective exits, performance per exit reason",
    "metrics": "key figures of the last 24 hours",
    "test": "smoke test of the dependencies",
    "pause": "kill switch on (asks to confirm)",
    "resume": "kill switch off (asks to confirm)",
    "close": "close a position (asks to confirm)",
    "balance": "balances and their quote value",
    "daily": "realized PnL per day",
    "weekly": "realized PnL per week",
    "monthly": "realized PnL per month",
    "performance": "performance per pair, entry rule, exit reason",
    "entries": "performance per entry rule",
    "trades": "the last closed trades",
    "version": "version and mode",
    "closeall": "close every position (asks to confirm)",
    "stopentry": "stop opening positions (exits keep running)",
}


async def _post_init(application: Application) -> None:
    await application.bot.set_my_commands([BotCommand(name, DESCRIPTIONS[name]) for name in USAGE])


class Command(BaseCommand):
    help = "Run the Telegram bot by long polling (removes a webhook if one is set)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--drop-pending", action="store_true", help="skip updates sent while the bot was down")

    def handle(self, *args, **options) -> None:
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is empty: create a bot with @BotFather and set it", returncode=2)
        if not settings.TELEGRAM_ALLOWED_CHAT_IDS:
            self.stderr.write("warning: TELEGRAM_ALLOWED_CHAT_IDS is empty, so every chat will be refused")
        application = application_build(polling=True)
        application.post_init = _post_init
        self.stdout.write(f"telegram bot polling (allowed chats: {len(settings.TELEGRAM_ALLOWED_CHAT_IDS)})")
        application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=options["drop_pending"])
