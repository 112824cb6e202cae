"""Console fixtures: a trading history made through the real services against the simulator (see
tests/browser/scenario.py), and the settings that point the console's broker at that simulator."""

from __future__ import annotations

import pytest

from tests.browser.scenario import live_on_simulator, trading_history


@pytest.fixture
def exchange(settings):
    with live_on_simulator(settings) as exchange:
        yield exchange


@pytest.fixture
def history(exchange, tmp_path, db):
    trading_history(exchange, tmp_path)
    return exchange
