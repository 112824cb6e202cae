"""Console fixtures: a trading history made through the real services against the simulator (see
tests/browser/scenario.py), and the settings that point the console's broker at that simulator."""

from __future__ import annotations

import pytest

from tests.browser.scenario import SIM_KEY, SIM_SECRET, SYMBOLS, start_exchange, trading_history


@pytest.fixture
def exchange(settings):
    from apps.exchange.services import reset_broker

    exchange = start_exchange()
    settings.MODE = "live"
    settings.GATEIO_API_URL = exchange.url
    settings.GATEIO_API_KEY, settings.GATEIO_API_SECRET = SIM_KEY, SIM_SECRET
    settings.SYMBOLS = SYMBOLS
    settings.TIMEFRAME = "1m"
    reset_broker()
    yield exchange
    reset_broker()
    exchange.stop()


@pytest.fixture
def history(exchange, tmp_path, db):
    trading_history(exchange, tmp_path)
    return exchange
