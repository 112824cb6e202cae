"""Protective-exit fixtures: the bundled simulator over HTTP, ccxt's real gate class through GateBroker, and
helpers that open a position the way the trading core does (an order submitted through order_submit)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from apps.audit.actors import SYSTEM
from apps.exchange.ccxt_broker import GateBroker
from apps.exchange.limiter import Budget, FileWindow, RateLimiter
from apps.exchange.simulator import ExchangeSimulator, SimulatorServer
from apps.trading.models import Order, Position
from apps.trading.services import order_create
from apps.trading.submission import order_submit

ENDPOINTS = ("public", "private_orders", "private_account", "private_reads")


class PassBreaker:
    """A breaker that never opens: these tests are about exits, not breakers."""

    def call(self, fn):
        return fn()

    def check(self) -> None:
        return None


@pytest.fixture(autouse=True)
def _live_books(settings):
    """These tests trade through GateBroker, the live venue: their orders and positions are live books
    (apps.trading.venues; paper orders never reach a GateBroker)."""
    settings.MODE = "live"


@pytest.fixture
def sim() -> ExchangeSimulator:
    return ExchangeSimulator(
        api_key="sim-key",
        api_secret="sim-secret",
        balances={"USDT": Decimal("100000")},
        symbols=["BTC/USDT", "ETH/USDT"],
        seed=7,
        prices={"BTC/USDT": Decimal("50000"), "ETH/USDT": Decimal("3000")},
    )


@pytest.fixture
def sim_server(sim: ExchangeSimulator) -> Iterator[SimulatorServer]:
    server = SimulatorServer(sim, host="127.0.0.1", port=0).start()
    yield server
    server.stop()


@pytest.fixture
def make_broker(sim_server: SimulatorServer, tmp_path):
    limiter = RateLimiter(
        FileWindow(tmp_path / "ratelimit"), {"gateio": Budget(1000, 10.0), "gateio_orders": Budget(100, 1.0)}, 10.0
    )

    def make() -> GateBroker:
        return GateBroker(
            api_key="sim-key",
            api_secret="sim-secret",
            api_url=sim_server.url,
            timeout_ms=3000,
            limiter=limiter,
            breakers={cls: PassBreaker() for cls in ENDPOINTS},
            retry_sleep=lambda seconds: None,
        )

    return make


@pytest.fixture
def broker(make_broker) -> GateBroker:
    return make_broker()


@pytest.fixture
def buy(broker):
    """Enter (or add to) a position with a market buy of `quote` USDT, as the trading core does."""

    def enter(symbol: str = "BTC/USDT", quote: str = "1000", intent: str | None = None) -> Order:
        order = order_create(
            symbol=symbol, side="buy", type="market", quote_amount=Decimal(quote), actor=SYSTEM, intent=intent
        )
        return order_submit(order=order, broker=broker, actor=SYSTEM)

    return enter


@pytest.fixture
def alerts(monkeypatch) -> list[dict]:
    """Every alert the exits send, instead of Telegram."""
    sent: list[dict] = []
    from apps.exits import notify

    monkeypatch.setattr(notify, "alert", lambda **kwargs: sent.append(kwargs))
    return sent


def open_position(symbol: str = "BTC/USDT") -> Position:
    return Position.objects.get(symbol=symbol, status=Position.Status.OPEN)
