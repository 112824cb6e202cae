"""Signing, the request budget, fault injection and the control endpoint of the simulator."""

from __future__ import annotations

import json
import time
import urllib.request
from decimal import Decimal

import ccxt
import pytest

from apps.exchange.simulator import ExchangeSimulator, SimulatorServer
from apps.exchange.simulator.auth import signature

from .conftest import make_gate_client

D = Decimal


def _raw(server: SimulatorServer, method: str, path: str, *, headers: dict | None = None, body: bytes = b""):
    request = urllib.request.Request(server.base_url + path, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def _signed_headers(path: str, query: str = "", body: bytes = b"", ts: float | None = None, secret="sim-secret"):
    stamp = str(int(time.time() if ts is None else ts))
    return {"KEY": "sim-key", "Timestamp": stamp, "SIGN": signature(secret, "GET", path, query, body, stamp)}


def _control(server: SimulatorServer, action: str, payload: dict | None = None):
    if payload is None:
        return _raw(server, "GET", f"/_control/{action}")[2]
    body = json.dumps(payload).encode()
    return _raw(server, "POST", f"/_control/{action}", body=body, headers={"Content-Type": "application/json"})[2]


# ----- signing ------------------------------------------------------------------------------------------------
def test_bad_secret_is_an_authentication_error(gate_client):
    exchange = gate_client(secret="not-the-secret")
    exchange.load_markets()  # public calls need no signature
    with pytest.raises(ccxt.AuthenticationError, match="INVALID_SIGNATURE"):
        exchange.fetch_balance()


def test_unknown_key_is_an_authentication_error(gate_client):
    exchange = gate_client(api_key="someone-else")
    exchange.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="INVALID_KEY"):
        exchange.fetch_balance()


def test_stale_timestamp_and_missing_headers_are_refused(sim_server):
    path = "/api/v4/spot/accounts"
    assert _raw(sim_server, "GET", path, headers=_signed_headers(path))[0] == 200
    # Gate.io answers 401 REQUEST_EXPIRED "gap between request Timestamp and server time exceeds 60"
    # (ccxt issue 13330); the simulator answered 403 before issue 10.
    status, _, body = _raw(sim_server, "GET", path, headers=_signed_headers(path, ts=time.time() - 61))
    assert (status, body["label"]) == (401, "REQUEST_EXPIRED")
    assert body["message"] == "gap between request Timestamp and server time exceeds 60"
    assert _raw(sim_server, "GET", path, headers=_signed_headers(path, ts=time.time() + 61))[0] == 401
    assert _raw(sim_server, "GET", path, headers=_signed_headers(path, ts=time.time() - 50))[0] == 200
    status, _, body = _raw(sim_server, "GET", path)
    assert (status, body["label"]) == (401, "MISSING_REQUIRED_HEADER")


def test_x_gate_exptime_in_the_past_drops_the_request(sim, sim_server):
    path = "/api/v4/spot/orders"
    body = json.dumps({"currency_pair": "BTC_USDT", "side": "buy", "amount": "0.001", "price": "40000"}).encode()
    stamp = str(int(time.time()))
    headers = {
        "KEY": "sim-key",
        "Timestamp": stamp,
        "SIGN": signature("sim-secret", "POST", path, "", body, stamp),
        "Content-Type": "application/json",
        "x-gate-exptime": str(int(time.time() * 1000) - 1),
    }
    status, _, answer = _raw(sim_server, "POST", path, headers=headers, body=body)
    assert (status, answer["label"]) == (403, "REQUEST_EXPIRED")
    assert sim.order_count() == 0
    headers["x-gate-exptime"] = str(int(time.time() * 1000) + 5000)
    assert _raw(sim_server, "POST", path, headers=headers, body=body)[0] == 200
    assert sim.order_count() == 1


# ----- the request budget -------------------------------------------------------------------------------------
def test_429_past_the_budget_with_gateio_headers_and_a_count():
    sim = ExchangeSimulator(seed=3, rate_limit=20, rate_window_sec=10)
    with SimulatorServer(sim) as server:
        exchange = make_gate_client(server.url)
        for _ in range(20):
            exchange.publicSpotGetTickers({"currency_pair": "BTC_USDT"})
        with pytest.raises(ccxt.RateLimitExceeded):
            exchange.publicSpotGetTickers({"currency_pair": "BTC_USDT"})
        status, headers, body = _raw(server, "GET", "/api/v4/spot/tickers")
        assert (status, body["label"]) == (429, "TOO_MANY_REQUESTS")
        assert headers["X-Gate-RateLimit-Requests-Remain"] == "0"
        assert headers["X-Gate-RateLimit-Limit"] == "20"
        assert int(headers["Retry-After"]) >= 1
        assert sim.rate_limited_count == 2
        sim.limiter.reset()
        assert _raw(server, "GET", "/api/v4/spot/tickers")[1]["X-Gate-RateLimit-Requests-Remain"] == "19"


def test_rolling_window_frees_the_budget():
    from apps.exchange.simulator.ratelimit import RollingWindowLimiter

    limiter = RollingWindowLimiter(3, 10)
    assert all(limiter.hit("k", now=100 + i).allowed for i in range(3))
    assert not limiter.hit("k", now=105).allowed
    assert limiter.hit("other", now=105).allowed
    assert limiter.hit("k", now=110.01).allowed
    assert limiter.rejected == 1


# ----- faults -------------------------------------------------------------------------------------------------
def test_5xx_fault_hits_only_its_endpoint(gate_client, sim):
    exchange = gate_client()
    exchange.load_markets()
    sim.faults.set("tickers", error_rate=1.0)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_ticker("BTC/USDT")
    assert exchange.fetch_balance()["USDT"]["free"] == 10000.0
    sim.faults.clear()
    assert exchange.fetch_ticker("BTC/USDT")["last"] == 50000.0


def test_injected_429_is_not_counted_as_budget_exceeded(gate_client, sim):
    exchange = gate_client()
    sim.faults.set("*", rate_limit_rate=1.0, times=2)
    for _ in range(2):
        with pytest.raises(ccxt.RateLimitExceeded):
            exchange.load_markets(reload=True)
    exchange.load_markets(reload=True)
    assert sim.rate_limited_count == 0
    assert sim.faults.injected["rate_limit"] == 2


def test_timeout_fault_does_nothing_and_hangs_past_the_client_timeout(gate_client, sim):
    exchange = gate_client(timeout_ms=300)
    exchange.load_markets()
    sim.faults.hang_sec = 1.0
    sim.faults.set("create_order", timeout_rate=1.0)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 40000, {"clientOrderId": "t-timeout"})
    assert sim.orders_with_text("t-timeout") == []


def test_disconnect_fault_is_a_network_error(gate_client, sim):
    exchange = gate_client()
    exchange.load_markets()
    sim.faults.set("accounts", disconnect_rate=1.0)
    with pytest.raises(ccxt.NetworkError):
        exchange.fetch_balance()


def test_dropped_responses_leave_exactly_one_order_each(gate_client, sim):
    exchange = gate_client()
    exchange.load_markets()
    sim.faults.set("create_order", drop_response_rate=1.0)
    for n in range(20):
        if n == 10:
            time.sleep(1.05)  # Gate.io: 10 orders / s per market (a 429 would be a NetworkError too)
        with pytest.raises(ccxt.NetworkError):
            exchange.create_order("ETH/USDT", "limit", "buy", 0.01, 2000 + n, {"clientOrderId": f"t-drop-{n}"})
    sim.faults.clear()
    assert sim.rate_limited_count == 0
    assert sim.order_count() == 20
    for n in range(20):
        [order] = sim.orders_with_text(f"t-drop-{n}")
        found = exchange.fetch_order(None, "ETH/USDT", {"clientOrderId": f"t-drop-{n}"})
        assert found["id"] == order.id


def test_dropped_response_can_hang_until_the_client_times_out(gate_client, sim):
    exchange = gate_client(timeout_ms=300)
    exchange.load_markets()
    sim.faults.hang_sec = 1.0
    sim.faults.drop_mode = "hang"
    sim.faults.set("create_order", drop_response_rate=1.0)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order("BTC/USDT", "market", "sell", 0.001, None, {"clientOrderId": "t-hang"})
    [order] = sim.orders_with_text("t-hang")
    assert order.status == "closed"


def test_latency_fault_delays_the_answer(gate_client, sim):
    exchange = gate_client()
    sim.faults.set("currency_pairs", latency_ms=250)
    started = time.monotonic()
    exchange.load_markets()
    assert time.monotonic() - started >= 0.25


def test_fault_rolls_are_deterministic_by_seed():
    def rolls(seed: int) -> list[str]:
        sim = ExchangeSimulator(seed=seed)
        sim.faults.set("*", error_rate=0.3, timeout_rate=0.2)
        return [sim.faults.decide("tickers").action for _ in range(50)]

    assert rolls(7) == rolls(7)
    assert rolls(7) != rolls(8)
    assert {"pass", "error", "timeout"} <= set(rolls(7))


def test_unknown_fault_option_is_refused(sim):
    with pytest.raises(ValueError, match="unknown fault option"):
        sim.faults.set("tickers", eror_rate=1.0)


# ----- behind the bot's back ----------------------------------------------------------------------------------
def test_cancel_behind_the_bots_back(gate_client, sim):
    exchange = gate_client()
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)
    sim.cancel_behind_back(order["id"])
    assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"


def test_fill_while_the_bot_is_down(gate_client, sim):
    exchange = gate_client()
    order = exchange.create_order("BTC/USDT", "limit", "sell", 0.01, 60000, {"clientOrderId": "t-away"})
    sim.fill_open_orders("BTC/USDT", ratio=D("0.5"))
    assert exchange.fetch_order(order["id"], "BTC/USDT")["filled"] == 0.005
    sim.fill_open_orders(order_id=order["id"])
    assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "closed"
    assert sim.price("BTC/USDT") == D("50000")


def test_cancelled_unfilled_orders_drop_out_after_the_retention(gate_client, sim):
    clock = [time.time()]
    sim.clock = lambda: clock[0]
    exchange = gate_client()
    empty = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)
    partial = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 45000)
    sim.fill_open_orders(order_id=partial["id"], ratio=D("0.5"))
    exchange.cancel_order(empty["id"], "BTC/USDT")
    exchange.cancel_order(partial["id"], "BTC/USDT")
    clock[0] += 61
    with pytest.raises(ccxt.OrderNotFound):
        exchange.fetch_order(empty["id"], "BTC/USDT")
    assert [o["id"] for o in exchange.fetch_closed_orders("BTC/USDT")] == [partial["id"]]
    assert sim.order_count() == 2  # the simulator still counts it for tests


# ----- the control endpoint -----------------------------------------------------------------------------------
def test_control_endpoint_drives_faults_price_cancel_fill_and_state(gate_client, sim, sim_server):
    exchange = gate_client()
    resting = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 49000)
    other = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30000)
    third = exchange.create_order("ETH/USDT", "limit", "sell", 0.01, 4000)

    answer = _control(sim_server, "faults", {"endpoint": "tickers", "error_rate": 1, "error_status": 503})
    assert answer["rules"]["tickers"]["error_rate"] == 1
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_ticker("BTC/USDT")
    _control(sim_server, "faults", {"clear": True})

    moved = _control(sim_server, "price", {"symbol": "BTC/USDT", "price": "48000"})
    assert moved["price"] == "48000" and len(moved["trades"]) == 1
    assert exchange.fetch_order(resting["id"], "BTC/USDT")["status"] == "closed"

    assert _control(sim_server, "cancel", {"order_id": other["id"]})["status"] == "cancelled"
    assert len(_control(sim_server, "fill", {"order_id": third["id"]})["trades"]) == 1

    state = _control(sim_server, "state")
    assert state["prices"]["BTC/USDT"] == "48000"
    assert state["open_orders"] == 0 and state["orders"] == 3
    assert state["calls"]["create_order"] == 3
    assert state["rate_limited"] == 0
