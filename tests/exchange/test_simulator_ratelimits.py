"""Gate.io's request budgets in the simulator, with X-Gate-RateLimit-* headers.

Source: Gate.io's announcement of the APIv4 rate limits effective 2024-01-22 (spot): public endpoints 200 r/10 s
per endpoint and IP; private endpoints 200 r/10 s per endpoint and UID; placing orders 10 r/s per UID and
market; cancelling orders 200 r/s per UID. Headers per the API v4 docs: X-Gate-RateLimit-Requests-Remain,
X-Gate-RateLimit-Limit, X-Gat-RateLimit-Reset-Timestamp (ms).
"""

from __future__ import annotations

import time

from apps.exchange.simulator import ExchangeSimulator, SimulatorServer
from apps.exchange.simulator.ratelimit import GateRateLimits

from .simhttp import signed

ORDER = "/api/v4/spot/orders"


def _order(pair: str, n: int) -> dict:
    price = "40000" if pair == "BTC_USDT" else "2000"
    amount = "0.001" if pair == "BTC_USDT" else "0.01"
    return {"currency_pair": pair, "side": "buy", "amount": amount, "price": price, "text": f"t-rl-{pair}-{n}"}


def test_defaults_are_gateios_figures():
    limits = ExchangeSimulator().limiter
    assert (limits.endpoint.limit, limits.endpoint.window_sec) == (200, 10.0)
    assert (limits.orders.limit, limits.orders.window_sec) == (10, 1.0)
    assert (limits.cancels.limit, limits.cancels.window_sec) == (200, 1.0)


def test_every_endpoint_has_its_own_budget():
    """'200r/10s (per endpoint)': exhausting tickers leaves currency_pairs and private endpoints alone."""
    sim = ExchangeSimulator(rate_limit=5)
    with SimulatorServer(sim) as server:
        for _ in range(5):
            assert signed(server.base_url, "GET", "/api/v4/spot/tickers")[0] == 200
        status, headers, body = signed(server.base_url, "GET", "/api/v4/spot/tickers")
        assert (status, body["label"]) == (429, "TOO_MANY_REQUESTS")
        assert headers["X-Gate-RateLimit-Requests-Remain"] == "0" and headers["X-Gate-RateLimit-Limit"] == "5"
        assert int(headers["X-Gat-RateLimit-Reset-Timestamp"]) > time.time() * 1000
        assert signed(server.base_url, "GET", "/api/v4/spot/currency_pairs")[0] == 200
        assert signed(server.base_url, "GET", "/api/v4/spot/accounts")[0] == 200


def test_order_placement_is_10_per_second_per_market(sim, sim_server):
    """'Place orders 10r/s, UID + Market': the 11th order of a second in BTC_USDT is refused, ETH_USDT is not."""
    answers = [signed(sim_server.base_url, "POST", ORDER, payload=_order("BTC_USDT", n)) for n in range(11)]
    assert [a[0] for a in answers] == [200] * 10 + [429]
    status, headers, body = answers[-1]
    assert body["label"] == "TOO_MANY_REQUESTS" and headers["X-Gate-RateLimit-Limit"] == "10"
    assert int(headers["Retry-After"]) >= 1
    assert answers[0][1]["X-Gate-RateLimit-Requests-Remain"] == "9"
    assert signed(sim_server.base_url, "POST", ORDER, payload=_order("ETH_USDT", 0))[0] == 200
    assert sim.order_count("BTC/USDT") == 10 and sim.rate_limited_count == 1
    time.sleep(1.05)
    assert signed(sim_server.base_url, "POST", ORDER, payload=_order("BTC_USDT", 11))[0] == 200


def test_cancels_have_their_own_budget_of_200_per_second():
    limits = GateRateLimits(order_limit=10)
    assert all(limits.hit("key", "cancel_order", now=100.0).allowed for _ in range(200))
    assert not limits.hit("key", "cancel_order", now=100.5).allowed
    assert limits.hit("key", "cancel_order", now=101.01).allowed
    assert limits.hit("key", "list_orders", now=100.5).allowed  # other endpoints untouched
    assert limits.rejected == 1
