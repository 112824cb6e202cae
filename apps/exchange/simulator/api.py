"""Gate.io API v4 spot endpoints: parse and validate a request the way Gate.io does, call the engine, shape JSON.

Each handler takes the simulator and a `Request` and returns the JSON body; errors are `SimError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from apps.exchange.simulator.engine import ExchangeSimulator
from apps.exchange.simulator.errors import SimError, invalid_pair, invalid_param, order_not_found
from apps.exchange.simulator.markets import MarketSpec, decimals_of, fmt, parse_decimal

TEXT_RE = re.compile(r"^t-[0-9A-Za-z_.-]{1,28}$")
OPEN_LIST_MAX = 100  # SDK list_orders: "If `status` is `open`, maximum of `limit` is 100"
HISTORY_MAX = 1000  # SDK list_orders / list_my_trades: limit at most 1000
TRADES_DEFAULT_WINDOW_SEC = 7 * 86400  # SDK list_my_trades: no time, or only from / to -> 7 days
TRADES_MAX_RANGE_SEC = 30 * 86400  # SDK list_my_trades: "The range not allowed to exceed 30 days"
TRADES_MAX_OFFSET = 100_000  # SDK list_my_trades: limit * (page - 1) <= 100,000


@dataclass
class Request:
    query: dict[str, str] = field(default_factory=dict)
    body: object = None
    path: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _int(value: str | None, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None):
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise invalid_param(f"invalid argument: {name}") from None
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise invalid_param(f"invalid argument: {name}")
    return n


def _spec(sim: ExchangeSimulator, pair: str | None) -> MarketSpec:
    if not pair:
        raise SimError(400, "MISSING_REQUIRED_PARAM", "Missing required parameter: currency_pair")
    if "_" not in pair:
        raise invalid_pair(pair)  # BTC/USDT is not a Gate.io id
    return sim.spec(pair)


def _spec_if_given(sim: ExchangeSimulator, pair: str | None) -> MarketSpec | None:
    """The market of an optional `currency_pair`; None when it is not given."""
    return _spec(sim, pair) if pair else None


def _open_limit(sim: ExchangeSimulator, query: dict[str, str]) -> int:
    """limit of an open-orders list: at most 100; above it 400, or cut to 100 when the sim is set to clamp."""
    limit = _int(query.get("limit"), "limit", 100, 1)
    if limit > OPEN_LIST_MAX:
        if sim.open_limit_over_max != "clamp":
            raise invalid_param(f"invalid argument: limit must not exceed {OPEN_LIST_MAX} for open orders")
        limit = OPEN_LIST_MAX
    return limit


def _page(items: list, query: dict[str, str], default_limit: int = 100, max_limit: int = 1000) -> list:
    limit = _int(query.get("limit"), "limit", default_limit, 1, max_limit)
    page = _int(query.get("page"), "page", 1, 1)
    start = (page - 1) * limit
    return items[start : start + limit]


def _window(query: dict[str, str]) -> tuple[int | None, int | None]:
    frm = _int(query.get("from"), "from")
    to = _int(query.get("to"), "to")
    return (frm * 1000 if frm is not None else None), (to * 1000 if to is not None else None)


# ----- public ----------------------------------------------------------------------------------------------
def currency_pairs(sim: ExchangeSimulator, req: Request) -> object:
    return [spec.as_json() for spec in sim.markets.values()]


def currency_pair(sim: ExchangeSimulator, req: Request) -> object:
    return _spec(sim, req.path["pair"]).as_json()


def margin_currency_pairs(sim: ExchangeSimulator, req: Request) -> object:
    return []


def currencies(sim: ExchangeSimulator, req: Request) -> object:
    codes = sorted({s.base for s in sim.markets.values()} | {s.quote for s in sim.markets.values()})
    return [
        {
            "currency": code,
            "name": code,
            "delisted": False,
            "withdraw_disabled": False,
            "withdraw_delayed": False,
            "deposit_disabled": False,
            "trade_disabled": False,
            "chain": code,
            "chains": [{"name": code, "addr": "", "withdraw_disabled": False, "deposit_disabled": False}],
        }
        for code in codes
    ]


def server_time(sim: ExchangeSimulator, req: Request) -> object:
    return {"server_time": sim.now_ms()}


def tickers(sim: ExchangeSimulator, req: Request) -> object:
    spec = _spec_if_given(sim, req.query.get("currency_pair"))
    specs = [spec] if spec else list(sim.markets.values())
    result = []
    for s in specs:
        t = sim.ticker(s.pair)
        result.append(
            {
                "currency_pair": s.pair,
                "last": fmt(t["last"]),
                "lowest_ask": fmt(t["ask"]),
                "lowest_size": fmt(s.amount_step * 1000),
                "highest_bid": fmt(t["bid"]),
                "highest_size": fmt(s.amount_step * 1000),
                "change_percentage": fmt(t["change_percentage"]),
                "change_utc0": fmt(t["change_percentage"]),
                "change_utc8": fmt(t["change_percentage"]),
                "base_volume": "1234.5",
                "quote_volume": fmt((Decimal("1234.5") * t["last"]).quantize(Decimal("0.01"))),
                "high_24h": fmt(t["high"]),
                "low_24h": fmt(t["low"]),
            }
        )
    return result


def candlesticks(sim: ExchangeSimulator, req: Request) -> object:
    spec = _spec(sim, req.query.get("currency_pair"))
    q = req.query
    limit = _int(q.get("limit"), "limit")
    frm, to = _int(q.get("from"), "from"), _int(q.get("to"), "to")
    with sim.lock:
        return sim.candle_maker(spec.pair).candles(q.get("interval", "30m"), sim.clock(), limit, frm, to)


# ----- account ---------------------------------------------------------------------------------------------
def account_detail(sim: ExchangeSimulator, req: Request) -> object:
    # key.mode: 1 classic account, 2 unified account (how ccxt's load_unified_status reads it)
    mode = 2 if sim.unified_account else 1
    return {"user_id": 10000001, "ip_whitelist": [], "currency_pairs": [], "key": {"mode": mode}, "tier": 0}


def accounts(sim: ExchangeSimulator, req: Request) -> object:
    wanted = (req.query.get("currency") or "").upper()
    return [
        {"currency": c, "available": fmt(a), "locked": fmt(locked), "update_id": 1}
        for c, (a, locked) in sim.balances().items()
        if not wanted or c == wanted
    ]


# ----- orders ----------------------------------------------------------------------------------------------
def _check_min(spec: MarketSpec, base_amount: Decimal, quote_amount: Decimal) -> None:
    if base_amount < spec.min_base_amount:
        raise invalid_param(
            f"Your order size {fmt(base_amount)} {spec.base} is too small. "
            f"The minimum is {fmt(spec.min_base_amount)} {spec.base}"
        )
    if quote_amount < spec.min_quote_amount:
        raise invalid_param(
            f"Your order size {fmt(quote_amount)} {spec.quote} is too small. "
            f"The minimum is {fmt(spec.min_quote_amount)} {spec.quote}"
        )


def create_order(sim: ExchangeSimulator, req: Request) -> object:
    body = req.body if isinstance(req.body, dict) else None
    if body is None:
        raise SimError(400, "INVALID_REQUEST_BODY", "Request body must be a JSON object")
    spec = _spec(sim, body.get("currency_pair"))
    side, otype = body.get("side"), body.get("type", "limit")
    if side not in ("buy", "sell"):
        raise invalid_param("invalid argument: side")
    if otype not in ("limit", "market"):
        raise invalid_param("invalid argument: type")
    if body.get("account", "spot") not in ("spot", "unified"):
        raise invalid_param("invalid argument: account")
    text = body.get("text") or "apiv4"
    if text != "apiv4" and not TEXT_RE.match(str(text)):
        raise invalid_param("invalid argument: text")
    tif = str(body.get("time_in_force") or ("ioc" if otype == "market" else "gtc")).lower()
    if tif not in ("gtc", "ioc", "poc", "fok") or (otype == "market" and tif not in ("ioc", "fok")):
        raise invalid_param("invalid argument: time_in_force")
    amount = parse_decimal(body.get("amount"), "amount")
    if amount <= 0:
        raise invalid_param("invalid argument: amount")
    price = Decimal(0)
    market_buy = otype == "market" and side == "buy"
    # A market buy's amount is quote to spend and takes the quote's (price) precision.
    if decimals_of(amount) > (spec.precision if market_buy else spec.amount_precision):
        raise SimError(400, "INVALID_PRECISION", f"Invalid precision: amount {fmt(amount)}")
    if otype == "limit":
        price = parse_decimal(body.get("price"), "price")
        if price <= 0:
            raise invalid_param("invalid argument: price")
        if decimals_of(price) > spec.precision:
            raise SimError(400, "INVALID_PRECISION", f"Invalid precision: price {fmt(price)}")
        _check_min(spec, amount, amount * price)
    elif market_buy:
        _check_min(spec, spec.min_base_amount, amount)
    else:
        _check_min(spec, amount, amount * sim.price(spec.pair))
    order = sim.place_order(
        symbol=spec.pair, side=side, type=otype, amount=amount, price=price, time_in_force=tif, text=text
    )
    return order_json(sim, order)


def get_order(sim: ExchangeSimulator, req: Request) -> object:
    spec = _spec(sim, req.query.get("currency_pair"))
    order = sim.find_order(req.path["order_id"], spec.pair)
    if not sim.is_visible(order):
        raise order_not_found()  # visibility lag: a new order may not be queryable yet
    return order_json(sim, order)


def cancel_order(sim: ExchangeSimulator, req: Request) -> object:
    spec = _spec(sim, req.query.get("currency_pair"))
    with sim.lock:
        order = sim.find_order(req.path["order_id"], spec.pair)
        if not order.is_open or not sim.is_visible(order):
            raise order_not_found()  # Gate.io: a finished order cannot be found among cancellable ones
        return order_json(sim, sim.cancel(order))


def order_json(sim: ExchangeSimulator, order) -> dict:
    return order.as_json(omit_filled_amount=sim.omit_market_filled_amount)


def list_orders(sim: ExchangeSimulator, req: Request) -> object:
    """GET /spot/orders, by the rules of the SDK's `list_orders` docstring (gate_api/api/spot_api.py):
    `open` takes only page and limit (<= 100) and refuses from / to / side; `finished` filters from / to on the
    order's finish time, takes side, limit <= 1000, and currency_pair is optional there."""
    q = req.query
    status = q.get("status")
    if status not in ("open", "finished"):
        raise invalid_param("invalid argument: status")
    if status == "open":
        refused = [name for name in ("from", "to", "side") if q.get(name) not in (None, "")]
        if refused:
            raise invalid_param(f"{', '.join(refused)} not supported when status is open")
        orders = [o for o in sim.open_orders(_spec(sim, q.get("currency_pair")).pair) if sim.is_visible(o)]
        orders.sort(key=lambda o: (o.create_ms, int(o.id)), reverse=True)
        limit = _open_limit(sim, q)
        page = _int(q.get("page"), "page", 1, 1)
        return [order_json(sim, o) for o in orders[(page - 1) * limit : page * limit]]
    spec = _spec_if_given(sim, q.get("currency_pair"))
    frm, to = _window(q)
    side = q.get("side")
    if side not in (None, "", "buy", "sell"):
        raise invalid_param("invalid argument: side")
    orders = [
        o
        for o in sim.finished_orders(spec.pair if spec else None)
        if (frm is None or o.finish_ms >= frm)
        and (to is None or o.finish_ms <= to + 999)
        and (not side or o.side == side)
        and sim.is_visible(o)
    ]
    orders.sort(key=lambda o: (o.finish_ms, int(o.id)), reverse=True)
    return [order_json(sim, o) for o in _page(orders, q, 100, HISTORY_MAX)]


def open_orders(sim: ExchangeSimulator, req: Request) -> object:
    """GET /spot/open_orders: every pair with open orders, one entry each; page and limit (<= 100, SDK
    list_all_open_orders) apply within each pair; `total` arrives as a string in real answers."""
    q = req.query
    spec = _spec_if_given(sim, q.get("currency_pair"))
    limit = _open_limit(sim, q)
    page = _int(q.get("page"), "page", 1, 1)
    result = []
    for pair in [spec.pair] if spec else list(sim.markets):
        orders = sorted(
            (o for o in sim.open_orders(pair) if sim.is_visible(o)),
            key=lambda o: (o.create_ms, int(o.id)),
            reverse=True,
        )
        if orders:
            chunk = orders[(page - 1) * limit : page * limit]
            result.append(
                {"currency_pair": pair, "total": str(len(orders)), "orders": [order_json(sim, o) for o in chunk]}
            )
    return result


def trades_window(sim: ExchangeSimulator, query: dict[str, str]) -> tuple[int, int]:
    """The [from, to] of GET /spot/my_trades in ms, by the SDK's list_my_trades docstring: no time -> the last
    7 days; only from -> 7 days from it; only to -> 7 days before it; a range over 30 days -> 400."""
    frm = _int(query.get("from"), "from")
    to = _int(query.get("to"), "to")
    if frm is None and to is None:
        to = sim.now_ms() // 1000
        frm = to - TRADES_DEFAULT_WINDOW_SEC
    elif to is None:
        to = frm + TRADES_DEFAULT_WINDOW_SEC
    elif frm is None:
        frm = to - TRADES_DEFAULT_WINDOW_SEC
    if to < frm:
        raise invalid_param("invalid argument: from is later than to")
    if to - frm > TRADES_MAX_RANGE_SEC:
        raise invalid_param("time range (to - from) exceeds 30 days")
    return frm * 1000, to * 1000 + 999


def my_trades(sim: ExchangeSimulator, req: Request) -> object:
    q = req.query
    spec = _spec_if_given(sim, q.get("currency_pair"))
    order_id = q.get("order_id")
    if order_id and spec is None:
        # SDK: "`currency_pair` is also required if this field is present"
        raise SimError(400, "MISSING_REQUIRED_PARAM", "Missing required parameter: currency_pair")
    limit = _int(q.get("limit"), "limit", 100, 1, HISTORY_MAX)
    page = _int(q.get("page"), "page", 1, 1)
    if limit * (page - 1) > TRADES_MAX_OFFSET:
        raise invalid_param("limit * (page - 1) must not exceed 100000")
    frm, to = trades_window(sim, q)
    trades = [
        t
        for t in sim.trades(spec.pair if spec else None)
        if frm <= t.create_us // 1000 <= to and (not order_id or t.order_id == order_id) and sim.is_visible(t)
    ]
    trades.sort(key=lambda t: t.create_us, reverse=True)
    return [t.as_json() for t in trades[(page - 1) * limit : page * limit]]


def countdown_cancel_all(sim: ExchangeSimulator, req: Request) -> object:
    body = req.body if isinstance(req.body, dict) else {}
    timeout = _int(str(body.get("timeout", "")), "timeout", None, 0)
    if timeout is None:
        raise SimError(400, "MISSING_REQUIRED_PARAM", "Missing required parameter: timeout")
    pair = body.get("currency_pair") or ""
    if pair:
        pair = _spec(sim, pair).pair
    return {"triggerTime": sim.countdown_cancel_all(timeout, pair)}


# ----- price-triggered orders --------------------------------------------------------------------------------
def create_price_order(sim: ExchangeSimulator, req: Request) -> object:
    body = req.body if isinstance(req.body, dict) else {}
    spec = _spec(sim, body.get("market"))
    trigger, put = body.get("trigger"), body.get("put")
    if not isinstance(trigger, dict) or not isinstance(put, dict):
        raise SimError(400, "MISSING_REQUIRED_PARAM", "Missing required parameter: trigger / put")
    trigger_price = parse_decimal(trigger.get("price"), "trigger.price")
    rule = trigger.get("rule")
    if rule not in (">=", "<="):
        raise invalid_param("invalid argument: Trigger.rule")
    expiration = _int(str(trigger.get("expiration") or 0), "trigger.expiration", 0, 0)
    if put.get("side") not in ("buy", "sell") or put.get("type", "limit") not in ("limit", "market"):
        raise invalid_param("invalid argument: put")
    amount = parse_decimal(put.get("amount"), "put.amount")
    if put.get("type", "limit") == "limit":
        parse_decimal(put.get("price"), "put.price")
    text = trigger.get("text") or put.get("text") or ""
    if text and not TEXT_RE.match(str(text)):
        raise invalid_param("invalid argument: text")
    # SDK SpotPricePutOrder.account: "normal" (spot, the default), "margin", "unified" ("Unified account must be
    # set to unified"); "spot" is taken as normal. The value sent is kept in the order's put, for tests to check.
    account = put.get("account") or "normal"
    if account not in ("normal", "spot", "unified"):
        raise invalid_param("invalid argument: put.account")
    clean_put = {
        "type": put.get("type", "limit"),
        "side": put["side"],
        "price": fmt(parse_decimal(put.get("price") or "0", "put.price")),
        "amount": fmt(amount),
        "account": account,
        "time_in_force": put.get("time_in_force", "gtc"),
    }
    po = sim.add_price_order(
        pair=spec.pair, trigger_price=trigger_price, rule=rule, expiration=expiration, put=clean_put, text=text
    )
    return {"id": po.id}


def list_price_orders(sim: ExchangeSimulator, req: Request) -> object:
    q = req.query
    status = q.get("status")
    if status not in ("open", "finished"):
        raise invalid_param("invalid argument: status")
    market = q.get("market")
    orders = [
        po
        for po in sim.price_orders()
        if (po.status == "open") == (status == "open") and (not market or po.pair == market)
    ]
    orders.sort(key=lambda po: po.id, reverse=True)
    limit = _int(q.get("limit"), "limit", 100, 1, 100)
    offset = _int(q.get("offset"), "offset", 0, 0)
    return [po.as_json() for po in orders[offset : offset + limit]]


def get_price_order(sim: ExchangeSimulator, req: Request) -> object:
    return sim.price_order(req.path["order_id"]).as_json()


def cancel_price_order(sim: ExchangeSimulator, req: Request) -> object:
    with sim.lock:
        po = sim.price_order(req.path["order_id"])
        if po.status == "finish" and sim.fired_price_order_cancel == "fired":
            return po.as_json()  # one way Gate.io may answer: the order as it is, fired_order_id included
        if po.status != "open":
            raise order_not_found()
        return sim.cancel_price_order(po).as_json()
