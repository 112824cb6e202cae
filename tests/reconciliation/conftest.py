"""Reconciliation against the Gate.io simulator over HTTP with the real ccxt gate broker.

- `rsim`: a simulator with quote only (no base currency held, so balances start equal to no positions) and
  cancelled-unfilled orders kept for a minute, as Gate.io does;
- `rserver`: it served on 127.0.0.1; `broker`: a GateBroker on it (own limiter, breakers that never open);
- `place`: an order of ours created and submitted through `order_submit`.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.actors import SYSTEM
from tests.exchange.brokers import make_broker, make_limiter, make_sim, serve


@pytest.fixture(autouse=True)
def _live_books(settings):
    """These tests trade through GateBroker, the live venue: their orders and positions are live books
    (apps.trading.venues; paper orders never reach a GateBroker)."""
    settings.MODE = "live"


@pytest.fixture
def rsim():
    return make_sim(balances={"USDT": Decimal("100000")})


@pytest.fixture
def rserver(rsim):
    server = serve(rsim)
    yield server
    server.stop()


@pytest.fixture
def make_recon_broker(rserver, tmp_path):
    def make():
        return make_broker(rserver.url, make_limiter(tmp_path / "limiter", calls=10_000))

    return make


@pytest.fixture
def broker(make_recon_broker):
    return make_recon_broker()


@pytest.fixture
def place(broker):
    from apps.trading.services import order_create
    from apps.trading.submission import order_submit

    def make(**kwargs):
        params = {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "amount": "0.01", "price": "49000"}
        params.update(kwargs)
        order = order_create(actor=SYSTEM, **params)
        return order_submit(order=order, broker=broker, actor=SYSTEM)

    return make
