"""Long polling: `manage.py telegram_bot` needs a token; the Application answers updates it polls itself."""

from __future__ import annotations

import asyncio

import pytest
from django.core.management import CommandError, call_command

from tests.telegram.conftest import OPERATOR_CHAT, message


def test_command_without_a_token_exits_2(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError) as error:
        call_command("telegram_bot")
    assert error.value.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is empty" in str(error.value)


def test_polling_fetches_updates_and_answers(tg):
    from apps.telegram_bot.application import application_build

    tg.updates.append(message("/help"))

    async def go() -> None:
        application = application_build(polling=True)
        async with application:
            await application.start()
            await application.updater.start_polling(poll_interval=0.0, timeout=0)
            for _ in range(200):
                if tg.sent("sendMessage"):
                    break
                await asyncio.sleep(0.02)
            await application.updater.stop()
            await application.stop()

    asyncio.run(go())
    assert tg.sent("deleteWebhook")  # polling removes a webhook first, as Telegram requires
    [reply] = tg.sent("sendMessage")
    assert reply.params["chat_id"] == OPERATOR_CHAT
    assert reply.params["text"].startswith("tradebot commands")
