"""A trading history made the way production makes it: decisions by `evaluate`, orders placed and filled
through the real services (order_submit, exits_check, position_close) by ccxt's gate class against the bundled
simulator over HTTP. The market moves between steps (simulator.set_price), so protective exits fire.

It runs in real time (our books and the exchange must agree on the clock: trades are looked up by time), so
the whole history lies within the last minute or two."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from apps.audit.actors import SYSTEM
from apps.exchange.ccxt_broker import GateBroker
from apps.exchange.limiter import Budget, FileWindow, RateLimiter
from apps.exchange.services import reset_broker
from apps.exchange.simulator import ExchangeSimulator, SimulatorServer
from apps.exits.services import exits_check, position_close
from apps.signals.services import evaluate
from apps.trading.models import Order
from apps.trading.selectors import positions_open
from apps.trading.services import order_create
from apps.trading.submission import order_submit

SIM_KEY, SIM_SECRET = "sim-key", "sim-secret"
SYMBOLS = ("BTC/USDT", "ETH/USDT")
PRICES = {"BTC/USDT": Decimal("50000"), "ETH/USDT": Decimal("3000")}


class _PassBreaker:
    """These runs are about the console, not breakers: never open."""

    def call(self, fn):
        return fn()

    def check(self) -> None:
        return None


@dataclass
class Exchange:
    sim: ExchangeSimulator
    server: SimulatorServer

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


def start_exchange() -> Exchange:
    sim = ExchangeSimulator(
        api_key=SIM_KEY,
        api_secret=SIM_SECRET,
        balances={"USDT": Decimal("20000"), "BTC": Decimal("0"), "ETH": Decimal("0")},
        symbols=SYMBOLS,
        seed=11,
        prices=PRICES,
    )
    return Exchange(sim=sim, server=SimulatorServer(sim, host="127.0.0.1", port=0).start())


def scenario_broker(exchange: Exchange, folder: Path) -> GateBroker:
    limiter = RateLimiter(
        FileWindow(folder / "ratelimit"), {"gateio": Budget(5000, 10.0), "gateio_orders": Budget(500, 1.0)}, 10.0
    )
    return GateBroker(
        api_key=SIM_KEY,
        api_secret=SIM_SECRET,
        api_url=exchange.url,
        timeout_ms=5000,
        limiter=limiter,
        breakers={name: _PassBreaker() for name in ("public", "private_orders", "private_account")},
        retry_sleep=lambda seconds: None,
    )


def _buy(broker: GateBroker, symbol: str, quote: str, intent: str) -> Order:
    order = order_create(
        symbol=symbol, side="buy", type="market", quote_amount=Decimal(quote), actor=SYSTEM, intent=intent
    )
    return order_submit(order=order, broker=broker, actor=SYSTEM)


def trading_history(exchange: Exchange, folder: Path, *, rounds: int = 4, seed: int = 3) -> None:
    """`rounds` round trips per symbol (entry, then a stop-loss, a take-profit or an operator close), a decision
    at every step, then one open position per symbol (armed exits) and a resting limit buy far below the
    market (an open order to cancel)."""
    broker = scenario_broker(exchange, folder)
    sim = exchange.sim
    rng = random.Random(seed)
    for step in range(rounds * 3):
        for i, symbol in enumerate(SYMBOLS):
            sim.set_price(symbol, sim.price(symbol) * Decimal(str(round(1 + rng.gauss(0.001, 0.004), 6))))
            evaluate(symbol=symbol, timeframe="1m", limit=120, broker=broker, source="cycle")
            position = positions_open(symbol).first()
            phase = (step + i) % 3
            if position is None and phase == 0:
                _buy(broker, symbol, str(300 + 50 * step), intent=f"scenario:{symbol}:{step}")
            elif position is not None and phase == 1:
                # a jump through the stop-loss (2 %) or the take-profit (4 %): the protective exit sells
                jump = Decimal("0.975") if rng.random() < 0.45 else Decimal("1.05")
                sim.set_price(symbol, sim.price(symbol) * jump)
                exits_check(broker=broker, actor=SYSTEM, now=timezone.now())
            elif position is not None and phase == 2:
                position_close(position=position, broker=broker, actor=SYSTEM)
    for symbol in SYMBOLS:
        if positions_open(symbol).first() is None:
            _buy(broker, symbol, "500", intent=f"scenario:{symbol}:final")
    resting = order_create(
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        amount=Decimal("0.002"),
        price=(sim.price("BTC/USDT") * Decimal("0.8")).quantize(Decimal("0.1")),
        actor=SYSTEM,
        intent="scenario:resting",
    )
    order_submit(order=resting, broker=broker, actor=SYSTEM)


@contextmanager
def live_on_simulator(settings) -> Iterator[Exchange]:
    """MODE=live with every REST call pointed at a fresh simulator (pytest-django's `settings`)."""
    exchange = start_exchange()
    settings.MODE = "live"
    settings.GATEIO_API_URL = exchange.url
    settings.GATEIO_API_KEY, settings.GATEIO_API_SECRET = SIM_KEY, SIM_SECRET
    settings.SYMBOLS = SYMBOLS
    settings.TIMEFRAME = "1m"
    reset_broker()
    try:
        yield exchange
    finally:
        reset_broker()
        exchange.stop()
