"""Gate.io's documented list rules, enforced by the simulator: each test names its rule and where it is written.

Sources: the official SDK's docstrings (`pip install gate-api`, gate_api/api/spot_api.py: `list_orders`,
`list_my_trades`, `list_all_open_orders`), Gate.io API v4 docs, GATEIO.md.
"""

from __future__ import annotations

import json
import time
import urllib.request
from decimal import Decimal

import ccxt
import pytest

D = Decimal
DAY_MS = 86_400_000


@pytest.fixture
def gate(gate_client):
    exchange = gate_client()
    exchange.load_markets()
    return exchange


def _control(server, action: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.base_url}/_control/{action}",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _orders(gate, **params):
    return gate.privateSpotGetOrders(params)


# ----- GET /spot/orders?status=open ------------------------------------------------------------------------------
def test_open_orders_list_refuses_limit_over_100(gate):
    """SDK list_orders: 'When status is open ... limit can only be set to a maximum of 100.'"""
    gate.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)
    assert len(_orders(gate, currency_pair="BTC_USDT", status="open", limit=100)) == 1
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        _orders(gate, currency_pair="BTC_USDT", status="open", limit=101)
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        _orders(gate, currency_pair="BTC_USDT", status="open", limit=1000)


@pytest.mark.parametrize("param", [{"from": 1}, {"to": 2_000_000_000}, {"side": "buy"}])
def test_open_orders_list_refuses_from_to_and_side(gate, param):
    """SDK list_orders: with status open 'the side parameter and time range ... from and to are not supported'."""
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        _orders(gate, currency_pair="BTC_USDT", status="open", **param)


def test_open_orders_list_pages_newest_first_and_needs_a_pair(gate):
    """SDK list_orders: open orders page with page/limit only; currency_pair 'Required for open orders'."""
    ids = [gate.create_order("BTC/USDT", "limit", "buy", 0.001, 40000 + i)["id"] for i in range(5)]
    pages = [_orders(gate, currency_pair="BTC_USDT", status="open", limit=2, page=p) for p in (1, 2, 3)]
    assert [[o["id"] for o in page] for page in pages] == [ids[4:2:-1], ids[2:0:-1], ids[:1]]
    with pytest.raises(ccxt.ExchangeError, match="MISSING_REQUIRED_PARAM"):
        _orders(gate, status="open")


# ----- GET /spot/orders?status=finished --------------------------------------------------------------------------
def test_finished_orders_are_filtered_on_their_finish_time(gate, sim):
    """SDK list_orders: 'Time range filter parameters are processed according to the order end time.'"""
    clock = [time.time() - 3 * 86400]
    sim.clock = lambda: clock[0]
    order = gate.create_order("BTC/USDT", "limit", "buy", 0.001, 45000)
    created_s = int(clock[0])
    clock[0] += 2 * 86400
    sim.set_price("BTC/USDT", D("44000"))  # fills two days after creation
    finished_s = int(clock[0])

    def ids(**window):
        return [o["id"] for o in _orders(gate, currency_pair="BTC_USDT", status="finished", **window)]

    assert ids(**{"from": created_s + 86400}) == [order["id"]]
    assert ids(to=created_s + 86400) == []
    assert ids(**{"from": finished_s, "to": finished_s}) == [order["id"]]


def test_finished_orders_without_a_pair_cover_every_pair(gate, sim):
    """SDK list_orders: currency_pair is 'optional for filled orders'."""
    sim.add_historical_orders("BTC/USDT", 3)
    sim.add_historical_orders("ETH/USDT", 2)
    listed = _orders(gate, status="finished")
    assert sorted(o["currency_pair"] for o in listed) == ["BTC_USDT"] * 3 + ["ETH_USDT"] * 2


def test_finished_orders_limit_is_at_most_1000_and_side_filters(gate, sim):
    """SDK list_orders: limit 1..1000 (client-side check in the SDK); finished takes side."""
    sim.add_historical_orders("BTC/USDT", 40)
    everything = _orders(gate, currency_pair="BTC_USDT", status="finished", limit=1000)
    buys = _orders(gate, currency_pair="BTC_USDT", status="finished", limit=1000, side="buy")
    assert len(everything) == 40 and 0 < len(buys) < 40 and {o["side"] for o in buys} == {"buy"}
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        _orders(gate, currency_pair="BTC_USDT", status="finished", limit=1001)


# ----- GET /spot/my_trades ---------------------------------------------------------------------------------------
@pytest.fixture
def forty_days_of_fills(sim):
    """One fill a few hours apart over the last 40 days (the simulator's history seeding)."""
    sim.add_historical_orders("BTC/USDT", 200, hours=40 * 24)
    return sorted(t.create_us // 1000 for t in sim.trades("BTC/USDT"))


def _trade_times(gate, **params) -> list[int]:
    answer = gate.privateSpotGetMyTrades({"currency_pair": "BTC_USDT", "limit": 1000, **params})
    return sorted(int(D(t["create_time_ms"])) for t in answer)


def test_my_trades_without_time_are_the_last_7_days(gate, forty_days_of_fills):
    """SDK list_my_trades: 'If no time parameters are specified, only data for the last 7 days can be obtained.'"""
    now_ms = int(time.time() * 1000)
    expected = [t for t in forty_days_of_fills if t >= now_ms - 7 * DAY_MS - 1000]
    got = _trade_times(gate)
    assert got and min(got) >= now_ms - 7 * DAY_MS - 5000
    assert set(got) <= set(expected) and len(expected) - len(got) <= 1  # one may sit on the edge second
    assert len(got) < len(forty_days_of_fills)


def test_my_trades_with_only_from_are_7_days_from_it(gate, forty_days_of_fills):
    """SDK list_my_trades: 'If only ... from or to is specified, only 7-day data from the start (or end)'."""
    frm = forty_days_of_fills[0] // 1000 + 86400
    got = _trade_times(gate, **{"from": frm})
    assert got == [t for t in forty_days_of_fills if frm * 1000 <= t <= (frm + 7 * 86400) * 1000 + 999]


def test_my_trades_with_only_to_are_7_days_before_it(gate, forty_days_of_fills):
    """SDK list_my_trades: only `to` -> the 7 days that end at it."""
    to = forty_days_of_fills[-1] // 1000 - 10 * 86400
    got = _trade_times(gate, to=to)
    assert got == [t for t in forty_days_of_fills if (to - 7 * 86400) * 1000 <= t <= to * 1000 + 999]


def test_my_trades_range_over_30_days_is_refused(gate, forty_days_of_fills):
    """SDK list_my_trades: 'The range not allowed to exceed 30 days.'"""
    to = int(time.time())
    assert len(_trade_times(gate, **{"from": to - 30 * 86400, "to": to})) > 0
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        _trade_times(gate, **{"from": to - 30 * 86400 - 1, "to": to})


def test_my_trades_a_full_lookback_needs_windows_with_from_and_to(gate, forty_days_of_fills):
    """A 40-day lookback is complete only when read in windows of <= 30 days with both ends given."""
    now = int(time.time()) + 1
    windows = [(now - 40 * 86400, now - 20 * 86400 - 1), (now - 20 * 86400, now)]
    got = sorted(t for frm, to in windows for t in _trade_times(gate, **{"from": frm, "to": to}))
    assert got == forty_days_of_fills


def test_my_trades_limit_and_order_id_rules(gate, sim):
    """SDK list_my_trades: limit 1..1000; 'currency_pair is also required if [order_id] is present';
    'limit * (page - 1) <= 100,000'."""
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        gate.privateSpotGetMyTrades({"currency_pair": "BTC_USDT", "limit": 1001})
    with pytest.raises(ccxt.ExchangeError, match="MISSING_REQUIRED_PARAM"):
        gate.privateSpotGetMyTrades({"order_id": "123"})
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        gate.privateSpotGetMyTrades({"currency_pair": "BTC_USDT", "limit": 1000, "page": 102})


# ----- GET /spot/open_orders -------------------------------------------------------------------------------------
def test_all_pairs_open_orders_one_entry_per_pair_total_as_a_string(gate):
    """SDK list_all_open_orders: every pair with open orders, paging within each pair, limit <= 100;
    `total` is a string in real answers (GATEIO.md, ccxt's recorded gate.json)."""
    for i in range(3):
        gate.create_order("BTC/USDT", "limit", "buy", 0.001, 40000 + i)
    gate.create_order("ETH/USDT", "limit", "buy", 0.01, 2000)
    answer = {g["currency_pair"]: g for g in gate.privateSpotGetOpenOrders({"limit": 2})}
    assert set(answer) == {"BTC_USDT", "ETH_USDT"}
    assert (answer["BTC_USDT"]["total"], len(answer["BTC_USDT"]["orders"])) == ("3", 2)
    page2 = {g["currency_pair"]: g for g in gate.privateSpotGetOpenOrders({"limit": 2, "page": 2})}
    # 'All trading pairs with pending orders will be returned', whatever the page.
    assert len(page2["BTC_USDT"]["orders"]) == 1 and page2["ETH_USDT"] == {**answer["ETH_USDT"], "orders": []}
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        gate.privateSpotGetOpenOrders({"limit": 101})


# ----- shapes ----------------------------------------------------------------------------------------------------
def test_order_times_are_strings_and_open_orders_lack_avg_deal_price(gate, sim):
    """Real answers (ccxt's recorded gate.json, GATEIO.md): create_time_ms / update_time_ms are strings
    ("1706382263841") and an open order has no avg_deal_price."""
    order = gate.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)["info"]
    assert isinstance(order["create_time_ms"], str) and order["create_time_ms"].isdigit()
    assert isinstance(order["update_time_ms"], str)
    assert "avg_deal_price" not in order
    sim.set_price("BTC/USDT", D("39000"))
    done = gate.privateSpotGetOrdersOrderId({"order_id": order["id"], "currency_pair": "BTC_USDT"})
    assert done["avg_deal_price"] == "40000"


def test_finished_market_orders_can_lack_filled_amount(gate, sim, sim_server):
    """GATEIO.md: an older finished market order may come without filled_amount (sum the trades then).
    Switch: `omit_market_filled_amount` (Python or /_control/settings)."""
    status, settings = _control(sim_server, "settings", {"omit_market_filled_amount": True})
    assert status == 200 and settings["omit_market_filled_amount"] is True
    market = gate.create_order("BTC/USDT", "market", "sell", 0.001)
    limit = gate.create_order("BTC/USDT", "limit", "sell", 0.001, 40000)  # marketable: fills at once
    fetched = gate.privateSpotGetOrdersOrderId({"order_id": market["id"], "currency_pair": "BTC_USDT"})
    assert "filled_amount" not in fetched and fetched["status"] == "closed"
    assert "filled_amount" in limit["info"]
    sim.configure(omit_market_filled_amount=False)
    assert "filled_amount" in gate.privateSpotGetOrdersOrderId({"order_id": market["id"], "currency_pair": "BTC_USDT"})


def test_unknown_or_bad_settings_are_refused(sim, sim_server):
    assert _control(sim_server, "settings", {"visibility_lag_sec": -1})[0] == 400
    assert _control(sim_server, "settings", {"no_such_switch": 1})[0] == 400
    with pytest.raises(ValueError, match="unknown simulator setting"):
        sim.configure(lag=1)
    assert sim.visibility_lag_sec == 0


# ----- fault control over HTTP -------------------------------------------------------------------------------------
def test_control_faults_accept_fractional_rates(sim, sim_server):
    """Fault control over HTTP with fractional rates: JSON 0.2 parses as a Decimal and must work as a rate."""
    status, answer = _control(sim_server, "faults", {"endpoint": "tickers", "error_rate": 0.2, "latency_ms": 1.5})
    assert status == 200 and answer["rules"]["tickers"]["error_rate"] == 0.2
    actions = [sim.faults.decide("tickers").action for _ in range(400)]
    assert 40 < actions.count("error") < 120
    assert _control(sim_server, "faults", {"endpoint": "tickers", "error_rate": 1.5})[0] == 400
    assert _control(sim_server, "faults", {"rules": {"*": {"timeout_rate": "0.25", "times": 3}}})[0] == 200
    assert sim.faults.rules()["*"].timeout_rate == 0.25


def test_open_orders_limit_can_be_clamped_instead_of_refused(gate, sim):
    """Switch open_limit_over_max=clamp: a lenient server cuts limit 1000 to 100 without a word; a client that
    takes the page for the whole list loses orders 101+ (issue 10). Default: refuse, as documented."""
    sim.configure(open_limit_over_max="clamp")
    sim.limiter.orders.limit = 1000  # placing 105 orders at once is not what this test is about
    for i in range(105):
        gate.create_order("BTC/USDT", "limit", "buy", 0.001, 30000 + i)
    first = _orders(gate, currency_pair="BTC_USDT", status="open", limit=1000)
    second = _orders(gate, currency_pair="BTC_USDT", status="open", limit=1000, page=2)
    assert (len(first), len(second)) == (100, 5)
    [entry] = gate.privateSpotGetOpenOrders({"limit": 1000})
    assert (entry["total"], len(entry["orders"])) == ("105", 100)
