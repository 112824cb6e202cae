"""The real ccxt gate class against the simulator over HTTP: every call the broker makes."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

D = Decimal


@pytest.fixture
def gate(gate_client):
    exchange = gate_client()
    exchange.load_markets()
    return exchange


def test_load_markets_lists_spot_pairs_with_gateio_precision_and_minimums(gate, sim_server):
    market = gate.market("BTC/USDT")
    assert set(gate.markets) == {"BTC/USDT", "ETH/USDT"}
    assert market["id"] == "BTC_USDT" and market["spot"] is True
    assert (market["precision"]["amount"], market["precision"]["price"]) == (1e-06, 0.1)
    assert market["limits"]["cost"]["min"] == 3.0
    assert market["limits"]["amount"]["min"] == 1e-05
    assert market["taker"] == 0.002
    assert sim_server.calls["currency_pairs"] == 1 and sim_server.calls["margin_currency_pairs"] == 1


def test_load_markets_with_currencies_and_unified_detection(gate_client, sim_server):
    exchange = gate_client()
    exchange.has["fetchCurrencies"] = True
    exchange.options["unifiedAccount"] = None
    exchange.load_markets()
    assert "BTC" in exchange.currencies
    assert exchange.options["unifiedAccount"] is False
    assert sim_server.calls["account_detail"] == 1


def test_tickers_follow_the_price(gate, sim):
    sim.set_price("BTC/USDT", D("51234.5"))
    ticker = gate.fetch_ticker("BTC/USDT")
    assert ticker["last"] == 51234.5
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    tickers = gate.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert tickers["ETH/USDT"]["last"] == 3000.0


def test_unknown_pair_is_bad_symbol(gate_client, sim_server):
    exchange = gate_client()
    with pytest.raises(ccxt.BadSymbol):
        exchange.publicSpotGetTickers({"currency_pair": "NOPE_USDT"})


def test_ohlcv_is_deterministic_and_ends_at_the_current_price(gate, sim):
    candles = gate.fetch_ohlcv("BTC/USDT", "1m", limit=50)
    assert len(candles) == 50
    assert candles[-1][4] == 50000.0
    assert all(c[2] >= max(c[1], c[4]) and c[3] <= min(c[1], c[4]) for c in candles)
    assert gate.fetch_ohlcv("BTC/USDT", "1m", limit=50)[:-1] == candles[:-1]
    sim.set_price("BTC/USDT", D("50500"))
    assert gate.fetch_ohlcv("BTC/USDT", "1m", limit=2)[-1][4] == 50500.0
    since = candles[10][0]
    ranged = gate.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=5)
    assert [c[0] for c in ranged] == [c[0] for c in candles[10:15]]


def test_balance_shows_available_and_locked(gate):
    gate.create_order("BTC/USDT", "limit", "buy", 0.01, 40000)
    balance = gate.fetch_balance()
    assert balance["USDT"]["used"] == 400.0
    assert balance["USDT"]["free"] == 9600.0
    assert balance["BTC"]["total"] == 1.0


def test_limit_order_rests_then_fills_when_the_price_crosses(gate, sim):
    order = gate.create_order("BTC/USDT", "limit", "buy", 0.01, 49000, {"clientOrderId": "t-limit-1"})
    assert order["status"] == "open" and order["clientOrderId"] == "t-limit-1"
    assert order["remaining"] == 0.01
    sim.set_price("BTC/USDT", D("49500"))
    assert gate.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    sim.set_price("BTC/USDT", D("48999"))
    filled = gate.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed" and filled["filled"] == 0.01 and filled["average"] == 49000.0
    assert filled["info"]["finish_as"] == "filled"
    # Gate.io charges a buy's fee in the base received.
    assert sim.balance("BTC")[0] == D("1") + D("0.01") - D("0.00002")
    assert sim.balance("USDT") == (D("9510"), D("0"))


def test_marketable_limit_order_fills_at_once_as_taker(gate):
    order = gate.create_order("ETH/USDT", "limit", "sell", 0.5, 2900)
    assert order["status"] == "closed" and order["average"] == 3000.0
    trades = gate.fetch_my_trades("ETH/USDT")
    assert trades[0]["takerOrMaker"] == "taker"
    assert trades[0]["fee"] == {"currency": "USDT", "cost": 3.0}


def test_market_buy_spends_quote_and_market_sell_sells_base(gate, sim):
    buy = gate.create_order("BTC/USDT", "market", "buy", 0.002, 50000)  # ccxt sends cost 100 USDT
    assert buy["info"]["amount"] == "100"
    assert buy["status"] == "closed"
    assert D(buy["info"]["filled_total"]) <= D("100")
    assert 50000 < buy["average"] < 50100  # small slippage
    sell = gate.create_order("BTC/USDT", "market", "sell", 0.001)
    assert sell["status"] == "closed" and sell["filled"] == 0.001
    assert 49900 < sell["average"] < 50000
    cost = gate.create_market_buy_order_with_cost("ETH/USDT", 30)
    assert cost["info"]["amount"] == "30"


def test_fetch_by_text_works_only_while_open(gate, sim):
    order = gate.create_order("BTC/USDT", "limit", "buy", 0.001, 45000, {"clientOrderId": "t-by-text"})
    found = gate.fetch_order(None, "BTC/USDT", {"clientOrderId": "t-by-text"})
    assert found["id"] == order["id"]
    sim.set_price("BTC/USDT", D("44000"))
    assert gate.fetch_order(order["id"], "BTC/USDT")["status"] == "closed"
    with pytest.raises(ccxt.OrderNotFound):
        gate.fetch_order(None, "BTC/USDT", {"clientOrderId": "t-by-text"})
    market = gate.create_order("BTC/USDT", "market", "sell", 0.001, None, {"clientOrderId": "t-mkt-gone"})
    with pytest.raises(ccxt.OrderNotFound):
        gate.fetch_order(None, "BTC/USDT", {"clientOrderId": "t-mkt-gone"})
    closed = gate.fetch_closed_orders("BTC/USDT", since=market["timestamp"] - 1000)
    assert "t-mkt-gone" in {o["clientOrderId"] for o in closed}


def test_text_is_validated(gate):
    with pytest.raises(ccxt.BadRequest):
        gate.create_order("BTC/USDT", "limit", "buy", 0.001, 45000, {"text": "t-bad id!"})


def test_open_orders_both_endpoints(gate):
    ids = {gate.create_order("BTC/USDT", "limit", "buy", 0.001, 40000 + i)["id"] for i in range(3)}
    gate.create_order("ETH/USDT", "limit", "buy", 0.01, 2000)
    assert {o["id"] for o in gate.fetch_open_orders("BTC/USDT")} == ids
    listed = gate.privateSpotGetOrders({"currency_pair": "BTC_USDT", "status": "open"})
    assert {o["id"] for o in listed} == ids
    everything = gate.privateSpotGetOpenOrders({})
    assert {g["currency_pair"] for g in everything} == {"BTC_USDT", "ETH_USDT"}


def test_closed_orders_paginate_and_window(gate, sim):
    sim.add_historical_orders("BTC/USDT", 250, hours=24)
    pages = [
        gate.privateSpotGetOrders({"currency_pair": "BTC_USDT", "status": "finished", "limit": 100, "page": p})
        for p in (1, 2, 3, 4)
    ]
    assert [len(p) for p in pages] == [100, 100, 50, 0]
    ids = [o["id"] for p in pages for o in p]
    assert len(set(ids)) == 250
    times = [int(o["update_time_ms"]) for p in pages for o in p]  # real answers carry them as strings
    assert times == sorted(times, reverse=True)  # newest finish first; from/to apply to the finish time
    since = times[99]
    frm = since // 1000
    recent = gate.privateSpotGetOrders({"currency_pair": "BTC_USDT", "status": "finished", "from": frm, "limit": 1000})
    assert len(recent) == sum(1 for t in times if t >= frm * 1000) >= 100
    with pytest.raises(ccxt.BadRequest):
        gate.privateSpotGetOrders({"currency_pair": "BTC_USDT", "status": "finished", "limit": 1001})


def test_cancel_open_order_releases_funds_and_finished_order_is_not_found(gate, sim):
    order = gate.create_order("BTC/USDT", "limit", "buy", 0.01, 40000)
    cancelled = gate.cancel_order(order["id"], "BTC/USDT")
    assert cancelled["status"] == "canceled" and cancelled["info"]["finish_as"] == "cancelled"
    assert sim.balance("USDT") == (D("10000"), D("0"))
    with pytest.raises(ccxt.OrderNotFound):
        gate.cancel_order(order["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        gate.cancel_order("123", "BTC/USDT")


def test_my_trades_carry_fee_role_and_text_and_paginate(gate, sim):
    gate.create_order("BTC/USDT", "limit", "sell", 0.01, 51000, {"clientOrderId": "t-mt"})
    sim.set_price("BTC/USDT", D("51000"))
    trade = gate.fetch_my_trades("BTC/USDT")[0]
    assert trade["takerOrMaker"] == "maker" and trade["side"] == "sell"
    assert trade["fee"] == {"currency": "USDT", "cost": 1.02}
    assert trade["info"]["text"] == "t-mt"
    sim.add_historical_orders("ETH/USDT", 30, fills_per_order=2)
    page1 = gate.privateSpotGetMyTrades({"currency_pair": "ETH_USDT", "limit": 50, "page": 1})
    page2 = gate.privateSpotGetMyTrades({"currency_pair": "ETH_USDT", "limit": 50, "page": 2})
    assert len(page1) == 50 and len(page2) == 10
    assert {t["id"] for t in page1}.isdisjoint({t["id"] for t in page2})


def test_partial_fills_with_a_liquidity_cap(gate, sim):
    order = gate.create_order("BTC/USDT", "limit", "buy", 0.1, 49000)
    sim.set_price("BTC/USDT", D("48900"), max_fill=D("0.03"))
    partial = gate.fetch_order(order["id"], "BTC/USDT")
    assert partial["status"] == "open" and partial["filled"] == 0.03 and partial["remaining"] == 0.07
    sim.set_price("BTC/USDT", D("48800"), max_fill=D("0.03"))
    cancelled = gate.cancel_order(order["id"], "BTC/USDT")
    assert cancelled["status"] == "canceled" and cancelled["filled"] == 0.06
    assert len(gate.fetch_my_trades("BTC/USDT")) == 2
    closed = gate.fetch_closed_orders("BTC/USDT")
    assert closed[0]["id"] == order["id"]


def test_balance_and_minimum_errors_map_to_ccxt_exceptions(gate):
    with pytest.raises(ccxt.InsufficientFunds):
        gate.create_order("BTC/USDT", "limit", "buy", 1, 49000)
    with pytest.raises(ccxt.BadRequest, match="too small"):
        gate.create_order("ETH/USDT", "limit", "buy", 0.0001, 2000)
    with pytest.raises(ccxt.InvalidOrder):
        gate.privateSpotPostOrders(
            {"currency_pair": "BTC_USDT", "side": "buy", "type": "limit", "amount": "0.0000001", "price": "1"}
        )


def test_price_triggered_stop_fires_when_the_price_crosses(gate, sim):
    gate.create_order("BTC/USDT", "limit", "sell", 0.01, 44000, {"stopLossPrice": 45000, "clientOrderId": "t-stop"})
    [trigger] = gate.fetch_open_orders("BTC/USDT", params={"trigger": True})
    assert trigger["triggerPrice"] == 45000.0 and trigger["clientOrderId"] == "t-stop"
    sim.set_price("BTC/USDT", D("46000"))
    assert gate.fetch_order(trigger["id"], "BTC/USDT", {"trigger": True})["status"] == "open"
    sim.set_price("BTC/USDT", D("44900"))
    fired = gate.fetch_order(trigger["id"], "BTC/USDT", {"trigger": True})
    assert fired["status"] == "closed"
    placed = gate.fetch_order(str(fired["info"]["fired_order_id"]), "BTC/USDT")
    assert placed["status"] == "closed" and placed["clientOrderId"] == "t-stop"


def test_price_triggered_order_can_be_cancelled(gate):
    gate.create_order("BTC/USDT", "limit", "sell", 0.01, 44000, {"stopLossPrice": 45000})
    [trigger] = gate.fetch_open_orders("BTC/USDT", params={"trigger": True})
    assert gate.cancel_order(trigger["id"], "BTC/USDT", {"trigger": True})["status"] == "canceled"
    assert gate.fetch_open_orders("BTC/USDT", params={"trigger": True}) == []


def test_countdown_cancel_all(gate, sim):
    clock = [1_800_000_000.0]
    sim.clock = lambda: clock[0]
    gate.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)
    response = gate.privateSpotPostCountdownCancelAll({"timeout": 30, "currency_pair": "BTC_USDT"})
    assert response["triggerTime"] == 1_800_000_030_000
    clock[0] += 31
    assert gate.fetch_open_orders("BTC/USDT") == []
