"""Fixtures: the fake Bot API, settings pointing the bot at it, updates to feed, positions to show.

- `tg`: a FakeBotApi on 127.0.0.1 with the bot's settings pointed at it (allowed chats 100 and 200, only 100
  may trade, alerts to -1000, webhook secret "hook-secret").
- `feed(*updates)`: runs the real PTB Application (built by application_build) over the updates.
- `sim_exchange`: the bundled Gate.io simulator, with MODE=paper and GATEIO_API_URL pointing at it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from telegram import Update

from tests.telegram.fake_bot_api import FakeBotApi

TOKEN = "123456:TEST-token"
OPERATOR_CHAT, READER_CHAT, STRANGER_CHAT, ALERT_CHAT = 100, 200, 999, -1000
OPERATOR_USER = 7
_ids = itertools.count(1)


@pytest.fixture
def tg(settings) -> Iterator[FakeBotApi]:
    api = FakeBotApi().start()
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_API_BASE_URL = f"{api.url}/bot"
    settings.TELEGRAM_ALLOWED_CHAT_IDS = (OPERATOR_CHAT, READER_CHAT)
    settings.TELEGRAM_TRADING_CHAT_IDS = (OPERATOR_CHAT,)
    settings.ALERT_TELEGRAM_CHAT_ID = ALERT_CHAT
    settings.TELEGRAM_WEBHOOK_SECRET = "hook-secret"
    settings.REDIS_URL = ""
    yield api
    api.stop()


def message(text: str, *, chat_id: int = OPERATOR_CHAT, user_id: int = OPERATOR_USER) -> dict:
    command = text.split()[0]
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "ops"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Op", "username": f"user{user_id}"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}] if text.startswith("/") else [],
        },
    }


def button(data: str, *, chat_id: int = OPERATOR_CHAT, user_id: int = OPERATOR_USER) -> dict:
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": f"cq{next(_ids)}",
            "chat_instance": "ci",
            "from": {"id": user_id, "is_bot": False, "first_name": "Op"},
            "data": data,
            "message": {
                "message_id": 77,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": 4242, "is_bot": True, "first_name": "tradebot"},
                "text": "Confirm?",
            },
        },
    }


@pytest.fixture
def feed(tg) -> Callable[..., None]:
    from apps.telegram_bot.application import application_build

    def run(*updates: dict) -> None:
        async def go() -> None:
            application = application_build(polling=False)
            async with application:
                for update in updates:
                    await application.process_update(Update.de_json(update, application.bot))

        asyncio.run(go())

    return run


@pytest.fixture
def sim_exchange(settings) -> Iterator[object]:
    from apps.exchange.services import reset_broker
    from apps.exchange.simulator import ExchangeSimulator, SimulatorServer

    sim = ExchangeSimulator(
        api_key="sim-key",
        api_secret="sim-secret",
        balances={"USDT": Decimal("10000")},
        symbols=["BTC/USDT", "ETH/USDT"],
        seed=1,
        prices={"BTC/USDT": Decimal("50000"), "ETH/USDT": Decimal("3000")},
    )
    server = SimulatorServer(sim, host="127.0.0.1", port=0).start()
    settings.MODE = "paper"
    settings.GATEIO_API_URL = server.url
    settings.SYMBOLS = ("BTC/USDT", "ETH/USDT")
    reset_broker()
    yield server
    reset_broker()
    server.stop()


def position_closed(symbol: str, pnl: str, hours_ago: float) -> object:
    from apps.trading.models import Position

    closed = timezone.now() - timedelta(hours=hours_ago)
    return Position.objects.create(
        symbol=symbol,
        status=Position.Status.CLOSED,
        amount=Decimal(0),
        average_entry_price=Decimal("50000"),
        cost_basis=Decimal(0),
        realized_pnl=Decimal(pnl),
        fees_quote=Decimal("0.1"),
        opened_at=closed - timedelta(hours=1),
        closed_at=closed,
    )


def position_open(symbol: str = "BTC/USDT", amount: str = "0.01", entry: str = "49000") -> object:
    from apps.trading.models import Position

    return Position.objects.create(
        symbol=symbol,
        status=Position.Status.OPEN,
        amount=Decimal(amount),
        average_entry_price=Decimal(entry),
        cost_basis=Decimal(amount) * Decimal(entry),
        opened_at=timezone.now() - timedelta(hours=2),
    )


def exit_armed(position) -> object:
    from apps.exits.models import ProtectiveExit

    return ProtectiveExit.objects.create(
        position=position,
        symbol=position.symbol,
        entry_price=position.average_entry_price,
        stop_loss_price=position.average_entry_price * Decimal("0.98"),
        take_profit_price=position.average_entry_price * Decimal("1.04"),
        armed_at=timezone.now(),
    )


@pytest.fixture
def position_close_stub(monkeypatch) -> list[dict]:
    """Stand in for apps.exits.services.position_close (the exits engine), recording each call."""
    import types

    calls: list[dict] = []

    def position_close(*, position, broker, actor):
        calls.append({"position": position, "broker": broker, "actor": actor})
        return types.SimpleNamespace(client_order_id="tb-close-1", status="submitted", amount=position.amount)

    monkeypatch.setattr("apps.exits.services.position_close", position_close)
    monkeypatch.setattr("apps.exchange.services.get_broker", lambda: "broker")
    return calls
