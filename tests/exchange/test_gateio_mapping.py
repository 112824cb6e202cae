"""Gate.io status + finish_as + amounts -> our order status; rounding and minimums before sending."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.exchange.broker import InvalidOrder
from apps.exchange.gateio import (
    map_order_status,
    parse_order,
    parse_trade,
    parse_trigger_order,
    prepare_order,
    round_down,
    with_fills_from_trades,
)
from apps.exchange.types import Market, OrderRequest

D = Decimal
BTC = Market(
    "BTC/USDT", "BTC", "USDT", amount_precision=6, price_precision=1, min_amount=D("0.00001"), min_notional=D("3")
)

# (status, finish_as, filled, left) -> ours
STATUS_TABLE = [
    ("open", "open", D(0), D("1"), "open"),
    ("open", "open", D("0.4"), D("0.6"), "partially_filled"),
    ("open", "", D(0), D("1"), "open"),
    ("closed", "filled", D("1"), D(0), "filled"),
    ("closed", "filled", D("0.001999"), D("0.01"), "filled"),  # market buy: left is unspent quote dust
    ("cancelled", "cancelled", D(0), D("1"), "cancelled"),
    ("cancelled", "cancelled", D("0.3"), D("0.7"), "cancelled"),  # partially filled, then cancelled
    ("closed", "ioc", D(0), D("1"), "expired"),
    ("closed", "ioc", D("0.5"), D("0.5"), "expired"),
    ("closed", "ioc", D("1"), D(0), "filled"),  # IOC that took everything
    ("closed", "depth_not_enough", D("0.2"), D("0.8"), "expired"),
    ("closed", "trader_not_enough", D(0), D("1"), "expired"),
    ("closed", "small", D("0.99"), D("0.01"), "filled"),  # the rest is below the tradable minimum
    ("closed", "small", D(0), D("1"), "expired"),
    ("cancelled", "stp", D(0), D("1"), "cancelled"),
    ("cancelled", "poc", D(0), D("1"), "cancelled"),
    ("closed", "", D("1"), D(0), "filled"),
    ("closed", "", D("0.5"), D("0.5"), "cancelled"),
    ("cancelled", "", D(0), D("1"), "cancelled"),
]


@pytest.mark.parametrize(("status", "finish_as", "filled", "left", "expected"), STATUS_TABLE)
def test_status_mapping_table(status, finish_as, filled, left, expected):
    assert map_order_status(status=status, finish_as=finish_as, filled=filled, left=left) == expected


def test_unknown_status_is_an_error_not_a_guess():
    with pytest.raises(ValueError):
        map_order_status(status="weird", finish_as="strange", filled=D(0), left=D(1))


def test_market_buy_amounts_are_quote_and_filled_comes_from_filled_amount():
    order = parse_order(
        {
            "id": "1",
            "text": "t-tb-x",
            "currency_pair": "BTC_USDT",
            "type": "market",
            "side": "buy",
            "status": "closed",
            "finish_as": "filled",
            "amount": "100",
            "left": "0.0098",
            "filled_amount": "0.001999",
            "filled_total": "99.9902",
            "avg_deal_price": "50020.1",
            "create_time_ms": "1700000000123.456",
            "fee": "0.000004",
            "fee_currency": "BTC",
        }
    )
    assert order.amount is None and order.quote_amount == D("100")
    assert order.filled == D("0.001999") and order.cost == D("99.9902")
    assert order.status == "filled" and order.client_order_id == "t-tb-x"


def test_limit_order_filled_is_amount_minus_left_without_filled_amount():
    order = parse_order(
        {
            "id": "2",
            "currency_pair": "BTC_USDT",
            "type": "limit",
            "side": "sell",
            "status": "open",
            "amount": "0.5",
            "left": "0.2",
            "price": "51000",
            "filled_total": "15300",
            "create_time": "1700000000",
        }
    )
    assert order.filled == D("0.3") and order.status == "partially_filled" and order.average_price == D("51000")
    assert order.client_order_id is None


@given(st.decimals(min_value=D("0.00001"), max_value=D("1000"), places=12), st.integers(0, 10))
def test_round_down_never_rounds_up(value, places):
    rounded = round_down(value, places)
    assert rounded <= value
    assert value - rounded < D(1).scaleb(-places)


def test_prepare_rounds_amount_down_and_price_to_step():
    request = OrderRequest("BTC/USDT", "buy", "limit", "t-tb-1", amount=D("0.0012349"), price=D("49000.16"))
    prepared = prepare_order(BTC, request)
    assert prepared.amount == D("0.001234") and prepared.price == D("49000.2")


@pytest.mark.parametrize(
    "request_",
    [
        OrderRequest("BTC/USDT", "buy", "limit", "t-tb-1", amount=D("0.0000099"), price=D("50000")),  # min amount
        OrderRequest("BTC/USDT", "buy", "limit", "t-tb-1", amount=D("0.00005"), price=D("50000")),  # 2.5 < 3 USDT
        OrderRequest("BTC/USDT", "buy", "market", "t-tb-1", quote_amount=D("2.99")),  # min notional
        OrderRequest("BTC/USDT", "buy", "market", "t-tb-1", amount=D("0.01")),  # market buy needs quote
        OrderRequest("BTC/USDT", "buy", "limit", "t-tb-1", amount=D("0.01")),  # no price
    ],
)
def test_prepare_refuses_what_the_exchange_would(request_):
    with pytest.raises(InvalidOrder):
        prepare_order(BTC, request_)


# Gate.io spells it both ways: the SDK `cancelled`, a real recorded price order `canceled` (ccxt's gate.json).
@pytest.mark.parametrize("word", ["cancelled", "canceled", "CANCELED"])
def test_both_spellings_of_cancelled_mean_cancelled(word):
    assert map_order_status(status=word, finish_as=word, filled=D(0), left=D("1")) == "cancelled"
    stop = parse_trigger_order({"id": 7, "market": "BTC_USDT", "status": word, "trigger": {}, "put": {}})
    assert stop.status == "cancelled"


def test_a_finished_market_buy_without_filled_amount_is_filled_and_marked_for_its_trades():
    """An older finished market order may lack filled_amount (ccxt's recorded answers): the status still says
    filled (the quote value of its fills is positive), and the base amount is left to the trades."""
    info = {
        "id": "1", "currency_pair": "BTC_USDT", "type": "market", "side": "buy", "status": "closed",
        "finish_as": "filled", "amount": "100", "left": "0", "filled_total": "99.99", "create_time_ms": "1706382263841",
    }  # fmt: skip
    order = parse_order(info)
    assert order.status == "filled" and not order.filled_exact
    trade = parse_trade(
        {"id": "9", "order_id": "1", "currency_pair": "BTC_USDT", "side": "buy", "price": "50000",
         "amount": "0.0019998", "fee": "0", "fee_currency": "BTC", "create_time_ms": "1706382263841.325000"}
    )  # fmt: skip
    completed = with_fills_from_trades(order, [trade])
    assert completed.filled == D("0.0019998") and completed.filled_exact and completed.average_price == D("50000")


def test_a_sell_without_filled_amount_is_exact_from_amount_and_left():
    info = {"id": "2", "currency_pair": "BTC_USDT", "type": "market", "side": "sell", "status": "closed",
            "finish_as": "filled", "amount": "0.01", "left": "0", "filled_total": "500"}  # fmt: skip
    order = parse_order(info)
    assert (order.status, order.filled, order.filled_exact) == ("filled", D("0.01"), True)
