"""Gate.io spot through ccxt's own `gate` class: the only module of tradebot that imports ccxt.

Every HTTP request ccxt makes first takes a slot from the shared rate limiter (so load_markets' two calls
count as two); every broker method runs behind the circuit breaker of its endpoint class (order and trade
reads have their own, `private_reads`, so a reconciliation's 429s never open the breaker that order placement
checks); reads are retried by apps.exchange.retry, writes never are.

Lists follow Gate.io's documented limits (the `gate-api` SDK's docstrings): open orders 100 a page, paged
until a short page (and checked against the per-pair `total` of GET /spot/open_orders); finished orders and
my trades 1000 a page, in windows of at most 7 days with both `from` and `to` (my_trades answers only 7 days
without them, and refuses a range over 30 days; finished orders filter on their finish time).

Answers are parsed from Gate.io's own strings (apps.exchange.gateio)
into Decimal dataclasses. Amounts are rounded down to the market's precision and checked against its
minimums before anything is sent.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
from django.conf import settings

from apps.exchange import gateio
from apps.exchange.breaker import ENDPOINT_CLASSES, CircuitBreaker, get_breaker
from apps.exchange.broker import (
    AuthenticationError,
    BusinessError,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    TransientExchangeError,
)
from apps.exchange.limiter import RateLimiter, get_limiter
from apps.exchange.retry import call_read
from apps.exchange.types import (
    Balance,
    Candle,
    ExchangeOrder,
    ExchangeTrade,
    Market,
    OrderRequest,
    Ticker,
    TriggerOrder,
)
from tradebot.config import timeframe_seconds

T = TypeVar("T")
# Parameters that make ccxt's create_order send a price-triggered order instead of a plain one.
_TRIGGER_PARAMS = ("trigger", "triggerPrice", "stopPrice", "stopLossPrice", "takeProfitPrice")
PAGE_LIMIT = 1000  # per page for finished orders and trades: Gate.io's maximum, so 10,000 orders take 10 calls
OPEN_PAGE_LIMIT = 100  # GET /spot/orders?status=open and /spot/open_orders: at most 100 (400 above it)
WINDOW = timedelta(days=7)  # my_trades answers 7 days when `from`/`to` are missing; so every read gives both
MAX_PAGES = 1000
CANDLE_PAGE = 1000  # Gate.io answers at most 1000 candles for one from/to range


class _GateClient(ccxt.gate):
    """ccxt's gate class with our limiter in front of each HTTP request and HTTP-status-first error mapping."""

    def __init__(self, config: dict, limiter: RateLimiter, order_expiry_ms: int | None = None) -> None:
        super().__init__(config)
        self.tb_limiter = limiter
        self.tb_network_seconds = 0.0  # time spent inside HTTP requests (the bench subtracts it)
        self.tb_requests = 0
        self.tb_order_expiry_ms = int(order_expiry_ms if order_expiry_ms is not None else self.timeout)
        self.tb_local = threading.local()  # per thread: the x-gate-exptime of its last order request

    def fetch(self, url, method="GET", headers=None, body=None):
        self.tb_limiter.acquire("gateio")
        if method == "POST" and url.split("?")[0].endswith("/spot/orders") and body:
            pair = json.loads(body).get("currency_pair", "")
            self.tb_limiter.acquire(f"gateio_orders:{pair}")
            # Set when the request really leaves, after every rate-limit wait: Gate.io drops it after this.
            expires_ms = int(time.time() * 1000) + self.tb_order_expiry_ms
            self.tb_local.order_expires_ms = expires_ms
            headers = dict(headers or {})
            headers["x-gate-exptime"] = str(expires_ms)
        started = time.perf_counter()
        try:
            self.tb_requests += 1
            return super().fetch(url, method, headers, body)
        finally:
            self.tb_network_seconds += time.perf_counter() - started

    def handle_errors(self, code, reason, url, method, headers, body, response, requestHeaders, requestBody):
        # A 429 or 5xx is transient whatever label it carries; Gate.io's labels decide the rest.
        if code == 429:
            exc = ccxt.RateLimitExceeded(f"gate {method} {url} 429 {body}")
            retry_after = (headers or {}).get("Retry-After")
            exc.retry_after = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
            raise exc
        if code is not None and code >= 500:
            raise ccxt.ExchangeNotAvailable(f"gate {method} {url} {code} {body}")
        return super().handle_errors(code, reason, url, method, headers, body, response, requestHeaders, requestBody)


def _label(exc: BaseException) -> str:
    text = str(exc)
    start = text.find("{")
    if start >= 0:
        try:
            return json.loads(text[start:]).get("label", "")
        except (ValueError, AttributeError):
            return ""
    return ""


def translate(exc: BaseException, *, write: bool) -> ExchangeError:
    """ccxt's exception -> ours. For a write, any transport failure means the outcome is unknown."""
    label = _label(exc)
    message = str(exc)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimited(message, retry_after=getattr(exc, "retry_after", None))
    if isinstance(exc, ccxt.NetworkError | ccxt.BadResponse):
        return OutcomeUnknown(message) if write else TransientExchangeError(message)
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthenticationError(message, label)
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(message, label)
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientFunds(message, label)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.BadSymbol | ccxt.ArgumentsRequired):
        return InvalidOrder(message, label)
    if isinstance(exc, ccxt.BaseError):
        return BusinessError(message, label)
    # Not ccxt's: our parser choked on the answer (a missing field, a number that is not one).
    message = f"malformed answer from the exchange: {type(exc).__name__}: {exc}"
    return OutcomeUnknown(message) if write else TransientExchangeError(message)


@dataclass(frozen=True)
class PairOpenOrders:
    """The open orders of one pair, and whether the list is known to hold all of them."""

    symbol: str
    orders: list[ExchangeOrder]
    complete: bool


class GateBroker:
    """The Broker of Gate.io spot (or a Gate.io-compatible server such as the simulator)."""

    name = "gateio"
    venue = "live"

    def __init__(
        self,
        *,
        api_key: str = "",
        api_secret: str = "",
        api_url: str = "",
        sandbox: bool = False,
        timeout_ms: int = 10_000,
        limiter: RateLimiter | None = None,
        breakers: dict[str, CircuitBreaker] | None = None,
        retry_sleep: Callable[[float], None] | None = None,
        order_expiry_seconds: float | None = None,
        visibility_lag_seconds: float = 10.0,
        clock_skew_seconds: float = 2.0,
        unified_account: bool = False,
    ) -> None:
        config: dict[str, Any] = {
            "enableRateLimit": False,  # our limiter is the one that counts, across processes
            "timeout": timeout_ms,
            "options": {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "unifiedAccount": False,  # so ccxt does not probe GET /account/detail
                "createMarketBuyOrderRequiresPrice": False,  # a market buy's amount is the quote to spend
            },
        }
        if api_key:
            config["apiKey"], config["secret"] = api_key, api_secret
        expiry_ms = None if order_expiry_seconds is None else int(order_expiry_seconds * 1000)
        self.client = _GateClient(config, limiter or get_limiter(), expiry_ms)
        self.client.has["fetchCurrencies"] = False
        if sandbox:
            self.client.set_sandbox_mode(True)
        if api_url:
            for section in self.client.urls["api"].values():
                for key in section:
                    section[key] = api_url.rstrip("/")
        self.breakers = dict(breakers or {cls: get_breaker(f"{self.name}:{cls}") for cls in ENDPOINT_CLASSES})
        if "private_reads" not in self.breakers:  # callers that predate the separate read breaker
            self.breakers["private_reads"] = get_breaker(f"{self.name}:private_reads")
        self.retry_sleep = retry_sleep
        # Gate.io drops an order request that reaches it after this (x-gate-exptime), so once it has passed
        # a lost order request can no longer execute; add the visibility lag (a new order may be missing from
        # every lookup for a while: Gate.io's maintainers say to report it only after 10 s) and the skew
        # between our clock and Gate.io's, and "not found" really means "not there".
        self.order_expiry_seconds = self.client.tb_order_expiry_ms / 1000
        self.visibility_lag_seconds = visibility_lag_seconds
        self.clock_skew_seconds = clock_skew_seconds
        self.unified_account = unified_account
        self._markets: dict[str, Market] | None = None
        self._markets_lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> GateBroker:
        return cls(
            api_key=settings.GATEIO_API_KEY,
            api_secret=settings.GATEIO_API_SECRET,
            api_url=settings.GATEIO_API_URL,
            sandbox=settings.GATEIO_SANDBOX,
            order_expiry_seconds=float(settings.GATEIO_ORDER_EXPIRY_SEC),
            visibility_lag_seconds=float(settings.GATEIO_VISIBILITY_LAG_SEC),
            clock_skew_seconds=float(settings.GATEIO_CLOCK_SKEW_SEC),
            unified_account=settings.GATEIO_UNIFIED_ACCOUNT,
        )

    @property
    def network_seconds(self) -> float:
        return self.client.tb_network_seconds

    # --- plumbing --------------------------------------------------------------------------------

    def _read(self, endpoint: str, fn: Callable[[], T]) -> T:
        """A safe read: breaker, translation, retries of transient failures."""
        breaker = self.breakers[endpoint]

        def attempt() -> T:
            return breaker.call(lambda: self._translated(fn, write=False))

        return call_read(attempt, sleep=self.retry_sleep) if self.retry_sleep else call_read(attempt)

    def _write(self, endpoint: str, fn: Callable[[], T]) -> T:
        """A write: breaker and translation, never retried."""
        return self.breakers[endpoint].call(lambda: self._translated(fn, write=True))

    @staticmethod
    def _translated(fn: Callable[[], T], *, write: bool) -> T:
        """Every call parses the answer inside this wrapper, so a malformed answer (a missing field, a number
        that is not one) becomes an exchange error too: transient for a read, outcome unknown for a write."""
        try:
            return fn()
        except ExchangeError:
            raise
        except Exception as exc:
            raise translate(exc, write=write) from exc

    def check_available(self, endpoint: str = "private_orders") -> None:
        """Raise CircuitOpen when calls of this endpoint class would be refused now (nothing is sent)."""
        self.breakers[endpoint].check()

    # --- markets and market data -----------------------------------------------------------------

    def load_markets(self, reload: bool = False) -> dict[str, Market]:
        with self._markets_lock:
            if self._markets is None or reload:
                self._markets = self._read(
                    "public",
                    lambda: {
                        symbol: gateio.parse_market(m["info"])
                        for symbol, m in self.client.load_markets(reload=reload).items()
                        if m.get("spot")
                    },
                )
            return self._markets

    def market(self, symbol: str) -> Market:
        markets = self.load_markets()
        try:
            return markets[symbol]
        except KeyError:
            raise InvalidOrder(f"{symbol} is not a spot market on {self.name}", "INVALID_CURRENCY_PAIR") from None

    def fetch_ticker(self, symbol: str) -> Ticker:
        self.market(symbol)
        return self._read("public", lambda: self._ticker(symbol, self.client.fetch_ticker(symbol)["info"]))

    def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        for symbol in symbols:
            self.market(symbol)
        return self._read(
            "public",
            lambda: {
                s: self._ticker(s, t["info"]) for s, t in self.client.fetch_tickers(symbols).items() if s in symbols
            },
        )

    @staticmethod
    def _ticker(symbol: str, info: dict) -> Ticker:
        return Ticker(
            symbol=symbol,
            last=Decimal(str(info["last"])),  # always sent; a malformed one is a failed read (_translated)
            bid=gateio.dec(info.get("highest_bid")),
            ask=gateio.dec(info.get("lowest_ask")),
            timestamp=datetime.now().astimezone(),
        )

    def fetch_ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        market = self.market(symbol)
        request = {"currency_pair": gateio.to_native(market.symbol), "interval": timeframe, "limit": limit}
        # The raw endpoint keeps Gate.io's strings, so nothing goes through a float before it is a Decimal.
        return self._read("public", lambda: gateio.parse_candles(self.client.publicSpotGetCandlesticks(request)))

    def fetch_ohlcv_range(self, symbol: str, timeframe: str, since: datetime, until: datetime) -> list[Candle]:
        """Candles opening in [since, until), oldest first, paged with Gate.io's from/to (1000 a page).
        Gate.io keeps about the last 10,000 candles of a timeframe."""
        market = self.market(symbol)
        step = timeframe_seconds(timeframe)
        first, last = int(since.timestamp()), int(until.timestamp()) - 1
        candles: dict[datetime, Candle] = {}
        for start in range(first, last + 1, step * CANDLE_PAGE):
            request = {
                "currency_pair": gateio.to_native(market.symbol),
                "interval": timeframe,
                "from": start,
                "to": min(last, start + step * (CANDLE_PAGE - 1)),
            }

            def read_page(r: dict[str, Any] = request) -> list[Candle]:
                return gateio.parse_candles(self.client.publicSpotGetCandlesticks(r))

            page = self._read("public", read_page)
            candles.update((c.time, c) for c in page if since <= c.time < until)
        return [candles[t] for t in sorted(candles)]

    # --- account ---------------------------------------------------------------------------------

    def fetch_balance(self) -> dict[str, Balance]:
        def read() -> dict[str, Balance]:
            return {
                row["currency"]: Balance(
                    currency=row["currency"],
                    free=gateio.dec(row.get("available"), Decimal(0)),
                    used=gateio.dec(row.get("locked"), Decimal(0)),
                )
                for row in self.client.fetch_balance()["info"]
            }

        return self._read("private_account", read)

    # --- orders ----------------------------------------------------------------------------------

    def prepare_order(self, request: OrderRequest) -> OrderRequest:
        """Round to the market's precision (amounts down) and check its minimums: InvalidOrder, nothing sent."""
        return gateio.prepare_order(self.market(request.symbol), request)

    def create_order(self, request: OrderRequest) -> ExchangeOrder:
        prepared = self.prepare_order(request)
        gateio.validate_client_order_id(prepared.client_order_id)
        params = {**prepared.params, "text": prepared.client_order_id}
        if prepared.type == "market" and prepared.side == "buy":
            amount = str(prepared.quote_amount)  # Gate.io spends this much quote
        else:
            amount = str(prepared.amount)
        price = str(prepared.price) if prepared.price is not None else None

        def send() -> dict:
            client = self.client
            if any(key in params for key in _TRIGGER_PARAMS):  # ccxt sends these to another endpoint
                return client.create_order(prepared.symbol, prepared.type, prepared.side, amount, price, params)["info"]
            # What ccxt's create_order does for a plain spot order, without its parse_order, which we would
            # throw away: our own parser reads Gate.io's answer.
            client.load_unified_status()
            request = client.create_order_request(prepared.symbol, prepared.type, prepared.side, amount, price, params)
            return client.privateSpotPostOrders(request)

        self.client.tb_local.order_expires_ms = None
        try:
            answer = self._write("private_orders", lambda: gateio.parse_order(send()))
        except TransientExchangeError as exc:
            expires_ms = getattr(self.client.tb_local, "order_expires_ms", None)
            exc.request_expires_at = None if expires_ms is None else datetime.fromtimestamp(expires_ms / 1000, UTC)
            raise
        return self._complete_fill(answer, after_write=True)

    def lost_answer_settles_at(self, error: BaseException, sent_at: datetime) -> datetime:
        """When a create_order whose answer was lost can no longer appear: its x-gate-exptime (measured when
        the request left, after the rate-limit waits; `sent_at` + the expiry when it never got that far),
        plus the clock skew and the visibility lag."""
        expires_at = getattr(error, "request_expires_at", None)
        if expires_at is None:
            expires_at = sent_at + timedelta(seconds=self.order_expiry_seconds)
        return expires_at + timedelta(seconds=self.clock_skew_seconds + self.visibility_lag_seconds)

    def order_reached_exchange(self) -> None:
        """A create_order whose answer was lost was found on the exchange: the exchange works (only an answer
        was lost), which the order breaker counts as a success, as it would have counted the answer."""
        on_success = getattr(self.breakers["private_orders"], "on_success", None)
        if on_success is not None:
            on_success(False)

    def _complete_fill(self, order: ExchangeOrder, *, after_write: bool = False) -> ExchangeOrder:
        """An answer without filled_amount gets its filled amount from the order's trades. After a write that
        went through, a failing trades read leaves the estimate (filled_exact=False) rather than hide it."""
        if order.filled_exact:
            return order
        since = order.created_at - timedelta(minutes=2)
        try:
            trades = self.fetch_my_trades(order.symbol, since, order_id=order.exchange_order_id)
        except ExchangeError:
            if after_write:
                return order
            raise
        return gateio.with_fills_from_trades(order, trades)

    def fetch_order(self, symbol: str, exchange_order_id: str) -> ExchangeOrder:
        self.market(symbol)
        order = self._read(
            "private_reads", lambda: gateio.parse_order(self.client.fetch_order(exchange_order_id, symbol)["info"])
        )
        return self._complete_fill(order)

    def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        """Works only while the order is open (Gate.io looks custom ids up among pending orders)."""
        self.market(symbol)
        params = {"clientOrderId": client_order_id}
        try:
            order = self._read(
                "private_reads",
                lambda: gateio.parse_order(self.client.fetch_order(client_order_id, symbol, params)["info"]),
            )
        except OrderNotFound:
            return None
        return self._complete_fill(order)

    def fetch_open_orders(self, symbol: str) -> list[ExchangeOrder]:
        """Every open order of `symbol`: pages of 100 (Gate.io's maximum for status=open) until a short page."""
        return self.read_open_orders(symbol).orders

    def read_open_orders(self, symbol: str, *, total: int | None = None) -> PairOpenOrders:
        """Open orders of `symbol` page by page until a short page. Complete when a short page was reached and,
        when `total` (GET /spot/open_orders' count for the pair) is known, at least that many were read."""
        market = self.market(symbol)
        request = {"currency_pair": gateio.to_native(market.symbol), "status": "open", "limit": OPEN_PAGE_LIMIT}
        orders, short = self._pages(
            lambda page: self.client.privateSpotGetOrders({**request, "page": page}),
            gateio.parse_order,
            key=lambda o: o.exchange_order_id,
            limit=OPEN_PAGE_LIMIT,
        )
        return PairOpenOrders(symbol, orders, short and (total is None or len(orders) >= total))

    def fetch_all_open_orders(self) -> dict[str, PairOpenOrders]:
        """Open orders of every pair (GET /spot/open_orders: each pair with open orders, at most 100 of them,
        and its `total`); a pair with more is read again page by page. The way to find orders placed by hand
        in pairs we do not trade."""
        rows = self._read(
            "private_reads", lambda: self.client.privateSpotGetOpenOrders({"page": 1, "limit": OPEN_PAGE_LIMIT})
        )
        result: dict[str, PairOpenOrders] = {}
        for row in rows:
            symbol = gateio.to_unified(row["currency_pair"])

            def parse_orders(r: dict[str, Any] = row) -> list[ExchangeOrder]:
                return [gateio.parse_order(o) for o in r.get("orders") or []]

            orders = self._translated(parse_orders, write=False)
            total = gateio.dec(row.get("total"))
            count = int(total) if total is not None else None
            if count is not None and len(orders) >= count:
                result[symbol] = PairOpenOrders(symbol, orders, True)
            elif symbol in self.load_markets():  # more than a page (or no total): the pair's own list, paged
                paged = self.read_open_orders(symbol, total=count)
                merged = {o.exchange_order_id: o for o in [*orders, *paged.orders]}
                complete = paged.complete and (count is None or len(merged) >= count)
                result[symbol] = PairOpenOrders(symbol, list(merged.values()), complete)
            else:
                result[symbol] = PairOpenOrders(symbol, orders, False)
        return result

    def fetch_closed_orders(self, symbol: str, since: datetime, until: datetime | None = None) -> list[ExchangeOrder]:
        """Finished orders of `symbol` that finished in [since, until] (Gate.io filters finished orders on their
        finish time), read in windows of at most 7 days with both `from` and `to`, every page of each."""
        market = self.market(symbol)
        request = {"currency_pair": gateio.to_native(market.symbol), "status": "finished", "limit": PAGE_LIMIT}
        # The raw endpoint (as for candles): Gate.io's strings straight into parse_order, without ccxt's own
        # per-order parsing, which costs about 0.2 ms an order and is thrown away (10,000 orders: 2 s of CPU).
        return self._windows(
            since,
            until,
            lambda window, page: self.client.privateSpotGetOrders({**request, **window, "page": page}),
            gateio.parse_order,
            key=lambda o: o.exchange_order_id,
        )

    def fetch_my_trades(
        self, symbol: str, since: datetime, order_id: str | None = None, until: datetime | None = None
    ) -> list[ExchangeTrade]:
        """Our fills of `symbol` in [since, until] (of one order when `order_id`), in windows of at most 7 days
        with both `from` and `to` (so a 30-day lookback loses nothing), every page, fees as charged."""
        market = self.market(symbol)
        request = {"currency_pair": gateio.to_native(market.symbol), "limit": PAGE_LIMIT}
        if order_id:
            request["order_id"] = order_id
        trades = self._windows(
            since,
            until,
            lambda window, page: self.client.privateSpotGetMyTrades({**request, **window, "page": page}),
            gateio.parse_trade,
            key=lambda t: t.trade_id,
        )
        return [t for t in trades if not order_id or t.exchange_order_id == order_id]

    def _windows(
        self, since: datetime, until: datetime | None, fetch: Callable[[dict, int], list], parse: Callable, key
    ) -> list:
        """Every item of [since, until] (default now), newest window first, each window paged."""
        first = int(since.timestamp())
        last = int((until or datetime.now(UTC)).timestamp()) + 1  # `to` in whole seconds: round up
        step = int(WINDOW.total_seconds())
        seen: dict[str, Any] = {}
        end = last
        while end > first:
            start = max(first, end - step)
            window = {"from": start, "to": end}
            items, _ = self._pages(functools.partial(fetch, window), parse, key=key, limit=PAGE_LIMIT)
            for item in items:
                seen.setdefault(key(item), item)
            end = start
        return list(seen.values())

    def _pages(
        self, fetch_page: Callable[[int], list], parse: Callable, key: Callable, limit: int
    ) -> tuple[list, bool]:
        """Every page until one shorter than `limit`; (items, True when that short page was reached)."""
        seen: dict[str, Any] = {}
        for page in range(1, MAX_PAGES + 1):

            def read_page(p: int = page) -> list:
                return [parse(row) for row in fetch_page(p)]

            rows = self._read("private_reads", read_page)
            for item in rows:
                seen.setdefault(key(item), item)
            if len(rows) < limit:
                return list(seen.values()), True
        return list(seen.values()), False

    def cancel_order(self, symbol: str, exchange_order_id: str) -> ExchangeOrder:
        self.market(symbol)
        answer = self._write(
            "private_orders", lambda: gateio.parse_order(self.client.cancel_order(exchange_order_id, symbol)["info"])
        )
        return self._complete_fill(answer, after_write=True)

    # --- price-triggered orders (an exchange-side stop) ------------------------------------------

    def create_trigger_order(
        self, symbol: str, side: str, amount: Decimal, trigger_price: Decimal, rule: str, client_order_id: str
    ) -> TriggerOrder:
        """A market order of `amount` (base) placed by Gate.io when the last price meets `rule` `trigger_price`."""
        market = self.market(symbol)
        if rule not in ("<=", ">="):
            raise InvalidOrder(f"rule must be <= or >=, not {rule!r}")
        rounded = gateio.round_down(amount, market.amount_precision)
        price = gateio.round_price(trigger_price, market.price_precision)
        if rounded < market.min_amount or rounded * price < market.min_notional:
            raise InvalidOrder(f"{rounded} {market.base} at {price} is below the minimums of {symbol}")
        # ccxt: a stop-loss triggers on `>=` for a buy and `<=` for a sell, a take-profit the other way.
        stop_rule = ">=" if side == "buy" else "<="
        key = "stopLossPrice" if rule == stop_rule else "takeProfitPrice"
        params: dict[str, Any] = {key: str(price), "clientOrderId": client_order_id}
        if self.unified_account:  # ccxt puts account "normal" in the stop's `put` unless told
            params["unifiedAccount"] = True

        def send() -> dict:
            return self.client.create_order(symbol, "market", side, str(rounded), str(price), params)

        raw = self._write("private_orders", lambda: {"id": str(send()["info"]["id"])})
        return TriggerOrder(
            exchange_order_id=raw["id"],
            symbol=symbol,
            trigger_price=price,
            rule=rule,
            side=side,
            amount=rounded,
            status="open",
        )

    def fetch_trigger_order(self, symbol: str, exchange_order_id: str) -> TriggerOrder:
        self.market(symbol)
        params = {"trigger": True}
        return self._read(
            "private_reads",
            lambda: gateio.parse_trigger_order(self.client.fetch_order(exchange_order_id, symbol, params)["info"]),
        )

    def cancel_trigger_order(self, symbol: str, exchange_order_id: str) -> TriggerOrder:
        self.market(symbol)
        params = {"trigger": True}
        return self._write(
            "private_orders",
            lambda: gateio.parse_trigger_order(self.client.cancel_order(exchange_order_id, symbol, params)["info"]),
        )
