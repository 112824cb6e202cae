"""Conformance: two independent clients (ccxt's `gate` class and Gate.io's official `gate-api` SDK) against a
Gate.io API v4 spot server, over every endpoint this project uses, checking the rules the simulator enforces.

By default the bundled simulator is started here. To check another implementation (a Gate.io-compatible
server, or Gate.io's testnet with a throw-away account) point the module at it:

    GATEIO_CONFORMANCE_URL=https://host/api/v4 GATEIO_CONFORMANCE_KEY=... GATEIO_CONFORMANCE_SECRET=... \\
        .venv/bin/python -m pytest -q tests/exchange/test_conformance.py

Against another server the suite places small limit orders far from the market (and a sell stop far below
it) in GATEIO_CONFORMANCE_PAIR (default BTC_USDT), cancels them, and sets then clears that pair's dead-man
countdown; tests that need history seeded into the server run only against the bundled simulator.
Rule sources: the SDK's docstrings (gate_api/api/spot_api.py), Gate.io API v4 docs and its rate-limit
announcement of 2024-01-22, ccxt issue 13330, ccxt's recorded answers (ts/src/test/static/response/gate.json).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import ccxt
import pytest

from apps.exchange.simulator import ExchangeSimulator, SimulatorServer

from .conftest import make_gate_client
from .simhttp import signed

gate_api = pytest.importorskip("gate_api", reason="gate-api (requirements-dev.txt) is not installed")
from gate_api.exceptions import ApiException, GateApiException  # noqa: E402

D = Decimal
LAG_SEC = 15.0  # how long a read may lag behind a write (Gate.io's maintainers: report after 10 s)


@dataclass
class Venue:
    url: str  # ends in /api/v4
    key: str
    secret: str
    pair: str
    sim: ExchangeSimulator | None = None
    placed: list[str] = field(default_factory=list)  # order ids to cancel at the end
    stops: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url[: -len("/api/v4")] if self.url.endswith("/api/v4") else self.url

    @property
    def symbol(self) -> str:
        return self.pair.replace("_", "/")


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    url = os.environ.get("GATEIO_CONFORMANCE_URL", "").rstrip("/")
    pair = os.environ.get("GATEIO_CONFORMANCE_PAIR", "BTC_USDT")
    if url:
        key, secret = os.environ.get("GATEIO_CONFORMANCE_KEY", ""), os.environ.get("GATEIO_CONFORMANCE_SECRET", "")
        if not key or not secret:
            pytest.fail("GATEIO_CONFORMANCE_URL needs GATEIO_CONFORMANCE_KEY and GATEIO_CONFORMANCE_SECRET")
        yield Venue(url, key, secret, pair)
        return
    sim = ExchangeSimulator(
        api_key="conf-key",
        api_secret="conf-secret",
        balances={"USDT": D("100000"), "BTC": D("2"), "ETH": D("20")},
        symbols=["BTC/USDT", "ETH/USDT"],
        seed=10,
        prices={"BTC/USDT": D("50000"), "ETH/USDT": D("3000")},
    )
    with SimulatorServer(sim) as server:
        yield Venue(server.url, "conf-key", "conf-secret", pair, sim)


@pytest.fixture(scope="module")
def gate(venue: Venue) -> Iterator[ccxt.gate]:
    exchange = make_gate_client(venue.url, api_key=venue.key, secret=venue.secret, timeout_ms=15000)
    exchange.load_markets()
    yield exchange
    for order_id in venue.placed:  # leave nothing resting on a real server (most are already cancelled)
        try:
            exchange.cancel_order(order_id, venue.symbol)
        except (ccxt.OrderNotFound, ccxt.InvalidOrder):
            pass
    for stop_id in venue.stops:
        try:
            exchange.cancel_order(stop_id, venue.symbol, {"trigger": True})
        except (ccxt.OrderNotFound, ccxt.InvalidOrder):
            pass


def _sdk_config(venue: Venue, *, validate: bool = True):
    config = gate_api.Configuration(host=venue.url, key=venue.key, secret=venue.secret)
    config.client_side_validation = validate  # off: send what the SDK itself would refuse, to see the server
    return config


@pytest.fixture(scope="module")
def spot(venue: Venue):
    return gate_api.SpotApi(gate_api.ApiClient(_sdk_config(venue)))


@pytest.fixture(scope="module")
def raw_spot(venue: Venue):
    """The SDK without its own client-side checks."""
    return gate_api.SpotApi(gate_api.ApiClient(_sdk_config(venue, validate=False)))


@pytest.fixture(scope="module")
def far(gate, venue: Venue, spot) -> dict[str, str]:
    """A buy price far below the market and the smallest amount the pair takes there (as strings)."""
    info = spot.get_currency_pair(venue.pair)
    last = D(spot.list_tickers(currency_pair=venue.pair)[0].last)
    price = (last * D("0.6")).quantize(D(1).scaleb(-info.precision), rounding=ROUND_DOWN)
    low_price = (last * D("0.5")).quantize(D(1).scaleb(-info.precision), rounding=ROUND_DOWN)
    minimum = max(D(info.min_base_amount or 0), D(info.min_quote_amount or 0) / low_price) * D("1.2")
    amount = minimum.quantize(D(1).scaleb(-info.amount_precision), rounding=ROUND_UP)
    return {"price": str(price), "low": str(low_price), "amount": str(amount)}


def _text() -> str:
    return f"t-conf-{uuid.uuid4().hex[:12]}"


def _place(gate, venue: Venue, far: dict[str, str], text: str | None = None) -> dict:
    order = gate.create_order(
        venue.symbol, "limit", "buy", float(far["amount"]), float(far["price"]), {"clientOrderId": text or _text()}
    )
    venue.placed.append(order["id"])
    return order


def _eventually(read: Callable[[], object], check: Callable[[object], bool], timeout: float = LAG_SEC):
    """Read until `check` holds: a server may show a write only after its visibility lag."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = read()
            if check(value):
                return value
        except (ccxt.OrderNotFound, GateApiException):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"still not as expected after {timeout} s: {value!r}")
        time.sleep(0.25)


def _sdk_error(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value.status, getattr(caught.value, "label", "")


def _needs_sim(venue: Venue) -> ExchangeSimulator:
    if venue.sim is None:
        pytest.skip("needs history seeded into the bundled simulator")
    return venue.sim


# ----- public endpoints and signing ----------------------------------------------------------------------------
def test_public_endpoints_answer_both_clients(gate, spot, venue):
    """GET /spot/currency_pairs (and /margin/currency_pairs, for ccxt's load_markets), /spot/tickers,
    /spot/candlesticks."""
    market = gate.market(venue.symbol)
    assert market["spot"] and market["id"] == venue.pair
    pair = spot.get_currency_pair(venue.pair)
    assert pair.id == venue.pair and pair.amount_precision is not None and pair.precision is not None
    assert venue.pair in {p.id for p in spot.list_currency_pairs()}
    assert gate.fetch_ticker(venue.symbol)["last"] > 0
    assert D(spot.list_tickers(currency_pair=venue.pair)[0].last) > 0
    assert len(gate.fetch_ohlcv(venue.symbol, "1m", limit=5)) == 5
    candles = spot.list_candlesticks(venue.pair, interval="1m", limit=5)
    assert len(candles) == 5 and all(len(c) >= 6 for c in candles)


def test_signed_endpoints_accept_both_clients_signatures(gate, spot, venue):
    """Signing (GATEIO.md): KEY, Timestamp, SIGN = HMAC-SHA512 over method, /api/v4 path, query, body hash, time.
    ccxt signs seconds, the SDK a float timestamp: both are accepted. GET /spot/accounts, /account/detail."""
    assert isinstance(gate.fetch_balance()["free"], dict)
    assert all(a.currency for a in spot.list_spot_accounts())
    detail = gate_api.AccountApi(spot.api_client).get_account_detail()
    assert detail.key.mode in (1, 2)


def test_bad_signature_and_unknown_key_are_401(venue):
    """INVALID_SIGNATURE / INVALID_KEY, HTTP 401 (Gate.io API v4 docs, error labels)."""
    wrong_secret = gate_api.SpotApi(
        gate_api.ApiClient(gate_api.Configuration(host=venue.url, key=venue.key, secret="not-the-secret"))
    )
    assert _sdk_error(wrong_secret.list_spot_accounts) == (401, "INVALID_SIGNATURE")
    wrong_key = make_gate_client(venue.url, api_key="no-such-key", secret=venue.secret)
    with pytest.raises(ccxt.AuthenticationError, match="INVALID_KEY"):
        wrong_key.privateSpotGetAccounts()


@pytest.mark.parametrize("offset", [-61, 61])
def test_a_timestamp_more_than_60_s_off_is_401_request_expired(venue, offset):
    """Gate.io: 401 {"label": "REQUEST_EXPIRED", "message": "gap between request Timestamp and server time
    exceeds 60"} (ccxt issue 13330); 50 s off is still accepted."""
    path = "/api/v4/spot/accounts"
    status, _, body = signed(venue.base_url, "GET", path, key=venue.key, secret=venue.secret, ts=time.time() + offset)
    assert (status, body["label"]) == (401, "REQUEST_EXPIRED")
    assert "exceeds 60" in body["message"]
    assert signed(venue.base_url, "GET", path, key=venue.key, secret=venue.secret, ts=time.time() - 50)[0] == 200


# ----- orders ----------------------------------------------------------------------------------------------------
def test_an_order_seen_by_both_clients_through_every_read_endpoint(gate, spot, venue, far):
    """POST /spot/orders (ccxt), GET /spot/orders/{id} by id and by text, the open list, /spot/open_orders,
    DELETE (SDK), then the finished list. Shapes as real answers (ccxt's recorded gate.json): create_time_ms and
    update_time_ms strings, no avg_deal_price while open, open_orders `total` a string."""
    text = _text()
    order = _place(gate, venue, far, text)
    raw = order["info"]
    assert isinstance(raw["create_time_ms"], str) and isinstance(raw["update_time_ms"], str)
    assert "avg_deal_price" not in raw and raw["text"] == text and raw["status"] == "open"

    by_id = _eventually(lambda: spot.get_order(order["id"], venue.pair), lambda o: o.id == order["id"])
    assert (by_id.text, by_id.status, by_id.side, D(by_id.price)) == (text, "open", "buy", D(far["price"]))
    assert spot.get_order(text, venue.pair).id == order["id"]  # by text, while open
    listed = _eventually(
        lambda: spot.list_orders(venue.pair, "open", limit=100), lambda os: order["id"] in {o.id for o in os}
    )
    assert all(o.status == "open" for o in listed)
    groups = {g["currency_pair"]: g for g in gate.privateSpotGetOpenOrders({"limit": 100})}
    assert isinstance(groups[venue.pair]["total"], str)
    assert order["id"] in {o.id for g in spot.list_all_open_orders(limit=100) for o in g.orders}

    cancelled = spot.cancel_order(order["id"], venue.pair)
    assert cancelled.status == "cancelled" and cancelled.finish_as == "cancelled"
    assert gate.fetch_order(order["id"], venue.symbol)["status"] == "canceled"
    finished = _eventually(
        lambda: spot.list_orders(venue.pair, "finished", limit=100), lambda os: order["id"] in {o.id for o in os}
    )
    assert next(o for o in finished if o.id == order["id"]).status == "cancelled"


def test_cancelling_a_finished_order_is_not_found(gate, spot, venue, far):
    """DELETE of an order that is no longer open: 404 ORDER_NOT_FOUND (ccxt: OrderNotFound)."""
    order = _place(gate, venue, far)
    _eventually(lambda: spot.get_order(order["id"], venue.pair), lambda o: True)
    spot.cancel_order(order["id"], venue.pair)
    assert _sdk_error(lambda: spot.cancel_order(order["id"], venue.pair)) == (404, "ORDER_NOT_FOUND")
    with pytest.raises(ccxt.OrderNotFound):
        gate.cancel_order(order["id"], venue.symbol)


def test_open_list_refuses_a_limit_over_100(gate, raw_spot, venue):
    """SDK list_orders: 'When status is open ... limit can only be set to a maximum of 100.' A server that
    silently clamps fails here (a client reading 1000 a page would lose orders past the 100th)."""
    assert _sdk_error(lambda: raw_spot.list_orders(venue.pair, "open", limit=101)) == (400, "INVALID_PARAM_VALUE")
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        gate.privateSpotGetOrders({"currency_pair": venue.pair, "status": "open", "limit": 1000})
    assert isinstance(raw_spot.list_orders(venue.pair, "open", limit=100), list)
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        gate.privateSpotGetOpenOrders({"limit": 101})


@pytest.mark.parametrize("param", ["_from", "to", "side"])
def test_open_list_refuses_from_to_and_side(gate, raw_spot, venue, param):
    """SDK list_orders: with status open 'The side parameter and time range query parameters from and to are
    not supported.'"""
    value = "buy" if param == "side" else int(time.time()) - 3600
    status, label = _sdk_error(lambda: raw_spot.list_orders(venue.pair, "open", **{param: value}))
    assert (status, label) == (400, "INVALID_PARAM_VALUE")
    wire = {"_from": "from"}.get(param, param)
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        gate.privateSpotGetOrders({"currency_pair": venue.pair, "status": "open", wire: value})


def test_finished_orders_are_windowed_on_their_finish_time(gate, spot, venue, far):
    """SDK list_orders: 'Time range filter parameters are processed according to the order end time.' An order
    created at T and cancelled at T + 2 s is inside from = T + 1 (and outside to = T + 1)."""
    order = _place(gate, venue, far)
    created_s = int(D(order["info"]["create_time_ms"]) / 1000)
    _eventually(lambda: spot.get_order(order["id"], venue.pair), lambda o: True)
    time.sleep(max(0.0, created_s + 2.2 - time.time()))
    spot.cancel_order(order["id"], venue.pair)
    inside = _eventually(
        lambda: spot.list_orders(venue.pair, "finished", _from=created_s + 1, limit=100),
        lambda os: order["id"] in {o.id for o in os},
    )
    assert all(int(o.update_time_ms) >= (created_s + 1) * 1000 for o in inside)
    before = spot.list_orders(venue.pair, "finished", _from=created_s - 60, to=created_s + 1, limit=100)
    assert order["id"] not in {o.id for o in before}


def test_finished_orders_take_no_pair_and_at_most_1000(gate, raw_spot, venue):
    """SDK list_orders: currency_pair 'optional for filled orders'; limit at most 1000."""
    assert isinstance(gate.privateSpotGetOrders({"status": "finished", "limit": 10}), list)
    status, label = _sdk_error(lambda: raw_spot.list_orders(venue.pair, "finished", limit=1001))
    assert (status, label) == (400, "INVALID_PARAM_VALUE")
    assert len(raw_spot.list_orders(venue.pair, "finished", limit=1000)) <= 1000


# ----- my trades -------------------------------------------------------------------------------------------------
def test_my_trades_refuse_a_range_over_30_days_and_a_limit_over_1000(gate, raw_spot, venue):
    """SDK list_my_trades: 'The range not allowed to exceed 30 days'; limit 1..1000."""
    now = int(time.time())
    assert isinstance(raw_spot.list_my_trades(currency_pair=venue.pair, _from=now - 30 * 86400, to=now), list)
    status, label = _sdk_error(
        lambda: raw_spot.list_my_trades(currency_pair=venue.pair, _from=now - 31 * 86400, to=now)
    )
    assert (status, label) == (400, "INVALID_PARAM_VALUE")
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        gate.privateSpotGetMyTrades({"currency_pair": venue.pair, "from": now - 40 * 86400, "to": now})
    with pytest.raises(ccxt.BadRequest, match="INVALID_PARAM_VALUE"):
        gate.privateSpotGetMyTrades({"currency_pair": venue.pair, "limit": 1001})


def test_my_trades_windows_without_time_or_with_one_end(gate, spot, venue):
    """SDK list_my_trades: no time -> the last 7 days; only from (or to) -> the 7 days from (before) it."""
    sim = _needs_sim(venue)
    sim.add_historical_orders("ETH/USDT", 120, hours=30 * 24)
    fills = sorted(t.create_us // 1000 for t in sim.trades("ETH/USDT"))
    now = int(time.time())

    def sdk_times(**window) -> list[int]:
        return sorted(
            int(D(t.create_time_ms)) for t in spot.list_my_trades(currency_pair="ETH_USDT", limit=1000, **window)
        )

    def ccxt_times(**window) -> list[int]:
        answer = gate.privateSpotGetMyTrades({"currency_pair": "ETH_USDT", "limit": 1000, **window})
        return sorted(int(D(t["create_time_ms"])) for t in answer)

    last_week = sdk_times()
    assert last_week == ccxt_times() and last_week
    assert min(last_week) >= (now - 7 * 86400 - 2) * 1000 and len(last_week) < len(fills)
    frm = now - 20 * 86400
    assert sdk_times(_from=frm) == [t for t in fills if frm * 1000 <= t <= (frm + 7 * 86400) * 1000 + 999]
    assert ccxt_times(**{"from": frm}) == sdk_times(_from=frm)
    to = now - 10 * 86400
    assert ccxt_times(to=to) == [t for t in fills if (to - 7 * 86400) * 1000 <= t <= to * 1000 + 999]
    windows = [(now - 31 * 86400, now - 15 * 86400), (now - 15 * 86400 + 1, now + 1)]
    assert sorted(t for a, b in windows for t in sdk_times(_from=a, to=b)) == fills


# ----- price-triggered orders (exchange-side stops) -------------------------------------------------------------
def test_a_stop_seen_and_cancelled_by_both_clients(gate, spot, venue, far):
    """POST/GET/DELETE /spot/price_orders: ccxt places it (put.account normal, as ccxt sends), the SDK reads,
    lists and cancels it; cancelled reads `cancelled` (SDK) or `canceled` (a real recorded answer, GATEIO.md)."""
    gate.create_order(
        venue.symbol, "limit", "sell", float(far["amount"]), float(far["low"]), {"stopLossPrice": float(far["low"])}
    )
    stops = _eventually(lambda: spot.list_spot_price_triggered_orders("open", market=venue.pair), lambda s: len(s) >= 1)
    stop = max(stops, key=lambda s: int(s.id))
    venue.stops.append(str(stop.id))
    assert (stop.put.account, stop.put.side, stop.trigger.rule) == ("normal", "sell", "<=")
    assert D(stop.trigger.price) == D(far["low"])
    assert spot.get_spot_price_triggered_order(str(stop.id)).status == "open"
    cancelled = spot.cancel_spot_price_triggered_order(str(stop.id))
    assert cancelled.status in ("cancelled", "canceled")
    assert str(stop.id) not in {str(s.id) for s in spot.list_spot_price_triggered_orders("open", market=venue.pair)}


def test_a_stop_keeps_the_put_account_it_was_sent_with(spot, venue, far):
    """SDK SpotPricePutOrder.account: normal (default) | margin | unified ('Unified account must be set to
    unified'); the server keeps what was sent."""
    detail = gate_api.AccountApi(spot.api_client).get_account_detail()
    account = "unified" if detail.key.mode == 2 else "normal"
    order = gate_api.SpotPriceTriggeredOrder(
        market=venue.pair,
        trigger=gate_api.SpotPriceTrigger(price=far["low"], rule="<=", expiration=3600),
        put=gate_api.SpotPricePutOrder(side="sell", price=far["low"], amount=far["amount"], account=account),
    )
    created = spot.create_spot_price_triggered_order(order)
    venue.stops.append(str(created.id))
    assert spot.get_spot_price_triggered_order(str(created.id)).put.account == account
    spot.cancel_spot_price_triggered_order(str(created.id))


# ----- rate limits and the dead-man switch ----------------------------------------------------------------------
def test_answers_carry_gateio_rate_limit_headers(gate, venue, far):
    """Gate.io API v4 docs: X-Gate-RateLimit-Requests-Remain and X-Gate-RateLimit-Limit on answers; placing
    orders is budgeted 10 / s per market (announcement of 2024-01-22)."""
    _place(gate, venue, far)
    headers = {k.lower(): v for k, v in (gate.last_response_headers or {}).items()}
    assert int(headers["x-gate-ratelimit-limit"]) >= 1
    assert 0 <= int(headers["x-gate-ratelimit-requests-remain"]) < int(headers["x-gate-ratelimit-limit"])


def test_countdown_cancel_all_is_set_and_cleared(spot, venue):
    """POST /spot/countdown_cancel_all: timeout seconds (optional pair) -> triggerTime; timeout 0 clears it."""
    task = gate_api.CountdownCancelAllSpotTask(timeout=600, currency_pair=venue.pair)
    answer = spot.countdown_cancel_all_spot(task)
    assert int(answer.trigger_time) >= int(time.time() * 1000) + 590_000
    cleared = spot.countdown_cancel_all_spot(gate_api.CountdownCancelAllSpotTask(timeout=0, currency_pair=venue.pair))
    assert int(cleared.trigger_time) == 0
