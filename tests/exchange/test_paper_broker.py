"""PaperBroker: market data from GateBroker (the simulator), fills with fee and slippage, balances in the DB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.exchange.broker import InsufficientFunds, InvalidOrder
from apps.exchange.paper import PaperBroker
from apps.exchange.types import OrderRequest
from apps.trading.submission import order_submit
from tests.exchange.brokers import make_broker, make_limiter

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def paper(sim_server, tmp_path):
    data = make_broker(sim_server.url, make_limiter(tmp_path))
    return PaperBroker(data=data, fee_pct=D("0.2"), slippage_bps=D("10"), initial_balances={"USDT": D("1000")})


def test_market_buy_fills_at_ask_plus_slippage_with_fee_in_base(paper):
    order = paper.create_order(OrderRequest("BTC/USDT", "buy", "market", "t-tb-p1", quote_amount=D("100")))
    price = D("50005") * D("1.001")  # simulator's ask, moved 10 bps against us
    assert order.status == "filled" and order.average_price == price.quantize(D("1e-16"))
    [trade] = paper.fetch_my_trades("BTC/USDT", datetime.now(UTC) - timedelta(minutes=1))
    assert trade.fee_currency == "BTC" and trade.fee == (trade.amount * D("0.002")).quantize(D("1e-16"))
    balance = paper.fetch_balance()
    assert balance["USDT"].free == D("1000") - trade.cost
    assert balance["BTC"].free == trade.amount - trade.fee


def test_limit_order_waits_then_fills_when_the_price_crosses(paper, sim):
    placed = paper.create_order(OrderRequest("BTC/USDT", "buy", "limit", "t-tb-p2", amount=D("0.01"), price=D("49000")))
    assert placed.status == "open" and paper.fetch_balance()["USDT"].used == D("490")
    assert [o.exchange_order_id for o in paper.fetch_open_orders("BTC/USDT")] == [placed.exchange_order_id]
    sim.set_price("BTC/USDT", D("48950"))
    filled = paper.fetch_order("BTC/USDT", placed.exchange_order_id)
    assert filled.status == "filled" and filled.average_price == D("49000")
    balance = paper.fetch_balance()
    assert balance["USDT"].used == 0 and balance["USDT"].free == D("510")
    assert balance["BTC"].free == D("0.01") - D("0.00002")


def test_cancel_releases_funds(paper):
    placed = paper.create_order(OrderRequest("BTC/USDT", "buy", "limit", "t-tb-p3", amount=D("0.01"), price=D("40000")))
    cancelled = paper.cancel_order("BTC/USDT", placed.exchange_order_id)
    assert cancelled.status == "cancelled" and paper.fetch_balance()["USDT"].free == D("1000")


def test_refuses_what_gate_would(paper):
    with pytest.raises(InsufficientFunds):
        paper.create_order(OrderRequest("BTC/USDT", "buy", "limit", "t-tb-p4", amount=D("1"), price=D("40000")))
    with pytest.raises(InvalidOrder):
        paper.create_order(OrderRequest("BTC/USDT", "buy", "market", "t-tb-p5", quote_amount=D("1")))


def test_order_submit_through_the_paper_broker(paper, make_order, operator_actor):
    order = make_order(type="market", side="buy", amount=None, quote_amount=D("50"))
    order = order_submit(order=order, broker=paper, actor=operator_actor)
    assert order.status == "filled" and order.exchange_order_id.startswith("paper-")
    assert order.fills.count() == 1 and order.fee_currency == "BTC"
