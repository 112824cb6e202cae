"""Fixtures around the bundled Gate.io simulator, for the simulator's own tests and for the broker's.

- `sim`: a fresh ExchangeSimulator (USDT 10000, BTC 1, ETH 10; BTC/USDT at 50000, ETH/USDT at 3000; seed 1).
- `sim_server`: that simulator served over HTTP on 127.0.0.1 (random port); `sim_server.url` ends in /api/v4.
- `gate_client`: a factory of real `ccxt.gate` instances pointed at `sim_server` (`gate_client(secret="bad")`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from apps.exchange.simulator import ExchangeSimulator, SimulatorServer

SIM_KEY = "sim-key"
SIM_SECRET = "sim-secret"


def point_gate_at(exchange, url: str) -> None:
    """Re-point every URL ccxt's gate class uses (public and private, every section) at `url`."""

    def walk(node: dict) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value)
            else:
                node[key] = url

    walk(exchange.urls["api"])


def make_gate_client(url: str, *, api_key: str = SIM_KEY, secret: str = SIM_SECRET, timeout_ms: int = 5000):
    import ccxt

    exchange = ccxt.gate({"apiKey": api_key, "secret": secret, "timeout": timeout_ms, "enableRateLimit": False})
    point_gate_at(exchange, url)
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    exchange.options["unifiedAccount"] = False
    exchange.has["fetchCurrencies"] = False
    return exchange


@pytest.fixture
def sim() -> ExchangeSimulator:
    return ExchangeSimulator(
        api_key=SIM_KEY,
        api_secret=SIM_SECRET,
        balances={"USDT": Decimal("10000"), "BTC": Decimal("1"), "ETH": Decimal("10")},
        symbols=["BTC/USDT", "ETH/USDT"],
        seed=1,
        prices={"BTC/USDT": Decimal("50000"), "ETH/USDT": Decimal("3000")},
    )


@pytest.fixture
def sim_server(sim: ExchangeSimulator) -> Iterator[SimulatorServer]:
    server = SimulatorServer(sim, host="127.0.0.1", port=0).start()
    yield server
    server.stop()


@pytest.fixture
def gate_client(sim_server: SimulatorServer) -> Callable[..., object]:
    def make(**kwargs):
        return make_gate_client(sim_server.url, **kwargs)

    return make
