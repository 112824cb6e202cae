"""The simulator's exchange: markets, balances, orders, matching against a moving price, fees.

Pure Python, in memory, one re-entrant lock around all state. The HTTP layer (`server.py`, `api.py`) and
tests both call it; nothing here knows about HTTP except the Gate.io error labels it raises.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN, Decimal

from apps.exchange.simulator.candles import CandleMaker, PriceHistory
from apps.exchange.simulator.control import BehindTheBackMixin
from apps.exchange.simulator.errors import SimError, invalid_pair, order_not_found
from apps.exchange.simulator.faults import Faults
from apps.exchange.simulator.markets import MarketSpec, market_spec
from apps.exchange.simulator.orders import ZERO, PriceOrder, SimOrder, SimTrade
from apps.exchange.simulator.price_orders import PriceOrdersMixin
from apps.exchange.simulator.process import DEFAULT_VOLATILITY, PriceProcess
from apps.exchange.simulator.ratelimit import GateRateLimits
from apps.exchange.simulator.switches import SETTINGS

FEE_QUANT = Decimal("1e-12")


class ExchangeSimulator(PriceOrdersMixin, BehindTheBackMixin):
    """A Gate.io spot account and market in memory. See the package docstring for the public API."""

    def __init__(
        self,
        *,
        api_key: str = "sim-key",
        api_secret: str = "sim-secret",
        balances: dict[str, Decimal] | None = None,
        symbols: Iterable[str] = ("BTC/USDT", "ETH/USDT"),
        seed: int = 0,
        prices: dict[str, Decimal] | None = None,
        taker_fee: Decimal = Decimal("0.002"),
        maker_fee: Decimal = Decimal("0.002"),
        slippage: Decimal = Decimal("0.0005"),
        max_fill_quote: Decimal | None = Decimal("25000"),
        cancelled_retention_sec: float = 60.0,
        text_lookup_grace_sec: float = 0.0,
        rate_limit: int = 200,
        rate_window_sec: float = 10.0,
        order_rate_limit: int = 10,
        clock: Callable[[], float] = time.time,
        visibility_lag_sec: float = 0.0,
        omit_market_filled_amount: bool = False,
        open_limit_over_max: str = "refuse",
        price_order_cancelled_status: str = "cancelled",
        fired_price_order_cancel: str = "not_found",
        unified_account: bool = False,
        volatility: float = DEFAULT_VOLATILITY,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.seed = seed
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.slippage = slippage
        # Liquidity: at most this much quote is filled per order per price move (None: no cap).
        self.max_fill_quote = max_fill_quote
        self.cancelled_retention_sec = cancelled_retention_sec
        self.text_lookup_grace_sec = text_lookup_grace_sec
        self.clock = clock
        # Gate.io's maintainers: a new order may not be queryable at once (report it if still not found after
        # 10 s). For this long after creation an order (or a fill) is absent from lookups and lists.
        self.visibility_lag_sec = visibility_lag_sec
        # Some real finished market orders come without `filled_amount` (GATEIO.md): leave it out of answers.
        self.omit_market_filled_amount = omit_market_filled_amount
        # status=open lists (limit <= 100): "refuse" answers 400 as documented; "clamp" silently cuts to 100,
        # as a lenient server might (the client must still page until a short page).
        self.open_limit_over_max = open_limit_over_max
        # A cancelled price order's status: the SDK says "cancelled", a real recorded answer "canceled".
        self.price_order_cancelled_status = price_order_cancelled_status
        # DELETE of a price order that already fired: "not_found" (404) or "fired" (200 with the fired order).
        self.fired_price_order_cancel = fired_price_order_cancel
        # On a unified account a price order's put.account must be "unified" (SDK SpotPricePutOrder); one put
        # with "normal" / "spot" is accepted when created and fails when it fires (status failed).
        self.unified_account = unified_account
        self.lock = threading.RLock()
        self.faults = Faults(seed)
        self.limiter = GateRateLimits(rate_limit, rate_window_sec, order_limit=order_rate_limit)
        self._rng = random.Random(f"engine:{seed}")
        self.markets: dict[str, MarketSpec] = {}
        self._price: dict[str, Decimal] = {}
        self._history: dict[str, PriceHistory] = {}
        self._candles: dict[str, CandleMaker] = {}
        self._process: dict[str, PriceProcess] = {}
        # advance(): (the price it last set, the process's log price then, the price of process level 0)
        self._following: dict[str, tuple[Decimal, float, float]] = {}
        now = clock()
        self._anchor_minute_start = (now // 60) * 60
        for symbol in symbols:
            spec = market_spec(symbol)
            self.markets[spec.pair] = spec
            price = Decimal((prices or {}).get(symbol, spec.initial_price))
            self._price[spec.pair] = price
            self._history[spec.pair] = PriceHistory(now, price)
            self._process[spec.pair] = PriceProcess(seed, spec.pair, volatility)
            self._following[spec.pair] = (price, 0.0, float(price))
            self._candles[spec.pair] = CandleMaker(seed, spec, self._history[spec.pair], self._process[spec.pair])
        self._available: dict[str, Decimal] = {}
        self._locked: dict[str, Decimal] = {}
        for currency, amount in (balances or {"USDT": Decimal("10000")}).items():
            self._available[currency.upper()] = Decimal(amount)
            self._locked[currency.upper()] = ZERO
        self._orders: dict[str, SimOrder] = {}
        self._open: dict[str, dict[str, SimOrder]] = {pair: {} for pair in self.markets}
        self._finished: dict[str, dict[str, SimOrder]] = {pair: {} for pair in self.markets}
        self._trades: dict[str, list[SimTrade]] = {pair: [] for pair in self.markets}
        self._expiring: deque[SimOrder] = deque()  # cancelled with nothing filled, in finish order
        self._purged: list[SimOrder] = []
        self._price_orders: dict[int, PriceOrder] = {}
        self._countdowns: dict[str, int] = {}  # pair ("" = all) -> deadline ms
        self._next_order_id = 300_000_000_000 + seed * 1000
        self._next_trade_id = 7_000_000_000 + seed * 1000
        self._next_price_order_id = 1_000_000 + seed * 100
        self._last_us = 0
        self.configure(**self.settings())  # the constructor's switches pass the same checks

    # ----- time and ids -------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _now_us(self) -> int:
        self._last_us = max(self._last_us + 1, int(self.clock() * 1_000_000))
        return self._last_us

    def _new_order_id(self) -> str:
        self._next_order_id += 1 + self._rng.randrange(3)
        return str(self._next_order_id)

    def _new_trade_id(self) -> str:
        self._next_trade_id += 1
        return str(self._next_trade_id)

    # ----- markets and prices -------------------------------------------------------------------------
    def spec(self, symbol_or_pair: str) -> MarketSpec:
        pair = symbol_or_pair.upper().replace("/", "_")
        spec = self.markets.get(pair)
        if spec is None:
            raise invalid_pair(symbol_or_pair)
        return spec

    def price(self, symbol: str) -> Decimal:
        with self.lock:
            return self._price[self.spec(symbol).pair]

    def history(self, symbol: str) -> PriceHistory:
        return self._history[self.spec(symbol).pair]

    def candle_maker(self, symbol: str) -> CandleMaker:
        return self._candles[self.spec(symbol).pair]

    def set_price(self, symbol: str, price: Decimal, *, max_fill: Decimal | None = None) -> list[SimTrade]:
        """Move the market; resting limit orders and price-triggered orders that the move crosses fill or fire.

        `max_fill` caps the base amount filled per order on this move (partial fills); by default the cap is
        `max_fill_quote` worth of quote."""
        with self.lock:
            spec = self.spec(symbol)
            price = spec.round_price(Decimal(price))
            if price <= 0:
                raise ValueError("price must be positive")
            self._price[spec.pair] = price
            self._history[spec.pair].add(self.clock(), price)
            self.housekeeping()
            trades: list[SimTrade] = []
            for order in list(self._open[spec.pair].values()):
                if order.type != "limit":
                    continue
                crosses = price <= order.price if order.side == "buy" else price >= order.price
                if crosses:
                    amount = min(order.left, self._cap(spec, order.price, max_fill))
                    trades.append(self._fill(order, amount, order.price, "maker"))
                    self._finish_if_done(order)
            self._fire_price_orders(spec, price)
            return trades

    def walk(self, volatility: Decimal = Decimal("0.0005")) -> None:
        """One step of a seeded random walk on every pair (the command's background ticker)."""
        with self.lock:
            for pair in self.markets:
                r = Decimal(str(round(self._rng.gauss(0, float(volatility)), 8)))
                self.set_price(pair, self._price[pair] * (1 + r))

    def advance(self) -> None:
        """Move every pair to the price process at this moment (the command's background ticker): the live
        path continues the history's process (`process.py`). A price set meanwhile by hand (`set_price`, the
        control endpoint, `walk`) is kept: the process's moves continue from it."""
        with self.lock:
            seconds = self.clock() - self._anchor_minute_start
            for pair, process in self._process.items():
                level = process.at(seconds)
                last_set, last_level, base = self._following[pair]
                if self._price[pair] != last_set:  # moved by hand: continue from there
                    base = float(self._price[pair]) / math.exp(last_level)
                target = self.markets[pair].round_price(Decimal(repr(base * math.exp(level))))
                target = max(target, self.markets[pair].price_step)
                if target != self._price[pair]:
                    self.set_price(pair, target)
                self._following[pair] = (self._price[pair], level, base)

    def regime(self, symbol: str) -> str:
        """The price process's regime now (calm, rising, falling, choppy, or the opening rally); see `process.py`."""
        with self.lock:
            minute = int((self.clock() - self._anchor_minute_start) // 60)
            return self._process[self.spec(symbol).pair].regime(minute)

    def ticker(self, symbol: str) -> dict[str, Decimal]:
        with self.lock:
            spec = self.spec(symbol)
            last = self._price[spec.pair]
            history = self._history[spec.pair]
            day_ago = history.price_at(self.clock() - 86400)
            half_spread = max(spec.price_step, spec.round_price(last * Decimal("0.0001")))
            return {
                "last": last,
                "ask": last + half_spread,
                "bid": max(last - half_spread, spec.price_step),
                "high": max(history.prices[-2000:] + [last]),
                "low": min(history.prices[-2000:] + [last]),
                "change_percentage": ((last / day_ago - 1) * 100).quantize(Decimal("0.01")),
            }

    def _cap(self, spec: MarketSpec, price: Decimal, max_fill: Decimal | None) -> Decimal:
        if max_fill is not None:
            cap = spec.floor_amount(Decimal(max_fill))
        elif self.max_fill_quote is not None:
            cap = spec.floor_amount(self.max_fill_quote / price)
        else:
            return Decimal("Infinity")
        return max(cap, spec.amount_step)

    # ----- balances -----------------------------------------------------------------------------------
    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """currency -> (available, locked)."""
        with self.lock:
            return {c: (self._available[c], self._locked.get(c, ZERO)) for c in sorted(self._available)}

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        with self.lock:
            c = currency.upper()
            return self._available.get(c, ZERO), self._locked.get(c, ZERO)

    def set_balance(self, currency: str, available: Decimal) -> None:
        with self.lock:
            self._available[currency.upper()] = Decimal(available)
            self._locked.setdefault(currency.upper(), ZERO)

    def _lock_funds(self, currency: str, amount: Decimal) -> None:
        if self._available.get(currency, ZERO) < amount:
            raise SimError(400, "BALANCE_NOT_ENOUGH", "Not enough balance")
        self._available[currency] -= amount
        self._locked[currency] = self._locked.get(currency, ZERO) + amount

    def _credit(self, currency: str, amount: Decimal) -> None:
        self._available[currency] = self._available.get(currency, ZERO) + amount
        self._locked.setdefault(currency, ZERO)

    # ----- orders -------------------------------------------------------------------------------------
    def place_order(
        self,
        *,
        symbol: str,
        side: str,
        type: str,
        amount: Decimal,
        price: Decimal = ZERO,
        time_in_force: str = "gtc",
        text: str = "apiv4",
    ) -> SimOrder:
        """Create an order the way Gate.io does (already validated by `api.py` when it comes over HTTP)."""
        with self.lock:
            self.housekeeping()
            spec = self.spec(symbol)
            now = self.now_ms()
            order = SimOrder(
                id=self._new_order_id(),
                text=text,
                pair=spec.pair,
                base=spec.base,
                quote=spec.quote,
                side=side,
                type=type,
                amount=amount,
                price=price if type == "limit" else ZERO,
                time_in_force=time_in_force,
                create_ms=now,
                update_ms=now,
            )
            if side == "buy":
                need = amount if type == "market" else amount * price
                self._lock_funds(spec.quote, need)
            else:
                self._lock_funds(spec.base, amount)
            order.locked = self._available_locked_for(order, amount, price)
            self._orders[order.id] = order
            self._open[spec.pair][order.id] = order
            if type == "market":
                self._execute_market(spec, order)
            else:
                self._execute_limit(spec, order)
            return order

    @staticmethod
    def _available_locked_for(order: SimOrder, amount: Decimal, price: Decimal) -> Decimal:
        if order.side == "sell" or order.type == "market":
            return amount
        return amount * price

    def _execute_market(self, spec: MarketSpec, order: SimOrder) -> None:
        last = self._price[spec.pair]
        slip = self.slippage * Decimal(str(round(0.5 + self._rng.random(), 4)))
        px = spec.round_price(last * (1 + slip) if order.side == "buy" else last * (1 - slip))
        px = max(px, spec.price_step)
        amount = spec.floor_amount(order.amount / px) if order.is_market_buy else order.amount
        if amount > 0:
            self._fill(order, amount, px, "taker")
        self._finish(order, "filled" if order.filled_amount > 0 else "cancelled")

    def _execute_limit(self, spec: MarketSpec, order: SimOrder) -> None:
        last = self._price[spec.pair]
        crosses = order.price >= last if order.side == "buy" else order.price <= last
        tif = order.time_in_force
        if crosses and tif == "poc":
            self._finish(order, "poc")
            return
        if crosses:
            px = min(order.price, last) if order.side == "buy" else max(order.price, last)
            cap = self._cap(spec, px, None)
            if tif == "fok" and cap < order.left:
                self._finish(order, "fok")
                return
            self._fill(order, min(order.left, cap), px, "taker")
        if order.left == 0:
            self._finish(order, "filled")
        elif tif in ("ioc", "fok"):
            self._finish(order, tif)

    def _fill(self, order: SimOrder, amount: Decimal, price: Decimal, role: str) -> SimTrade:
        rate = self.maker_fee if role == "maker" else self.taker_fee
        quote = amount * price
        if order.side == "buy":
            fee = (amount * rate).quantize(FEE_QUANT, rounding=ROUND_DOWN)
            self._locked[order.quote] -= quote
            order.locked -= quote
            self._credit(order.base, amount - fee)
        else:
            fee = (quote * rate).quantize(FEE_QUANT, rounding=ROUND_DOWN)
            self._locked[order.base] -= amount
            order.locked -= amount
            self._credit(order.quote, quote - fee)
        order.filled_amount += amount
        order.filled_total += quote
        order.fee += fee
        trade = SimTrade(
            id=self._new_trade_id(),
            order_id=order.id,
            pair=order.pair,
            side=order.side,
            role=role,
            amount=amount,
            price=price,
            fee=fee,
            fee_currency=order.fee_currency,
            text=order.text,
            create_us=self._now_us(),
        )
        order.update_ms = trade.create_us // 1000
        self._trades[order.pair].append(trade)
        return trade

    def _finish_if_done(self, order: SimOrder) -> None:
        if order.left == 0:
            self._finish(order, "filled")

    def _finish(self, order: SimOrder, finish_as: str) -> None:
        """End an order: release what it still locks, move it to the finished book."""
        if order.locked > 0:
            currency = order.quote if order.side == "buy" else order.base
            self._locked[currency] -= order.locked
            self._credit(currency, order.locked)
            order.locked = ZERO
        order.finish_as = finish_as
        order.status = "closed" if finish_as == "filled" else "cancelled"
        order.update_ms = max(order.update_ms, self.now_ms())
        order.finish_ms = order.update_ms
        self._open[order.pair].pop(order.id, None)
        self._finished[order.pair][order.id] = order
        if order.status == "cancelled" and order.filled_amount == 0:
            self._expiring.append(order)

    def cancel(self, order: SimOrder, finish_as: str = "cancelled") -> SimOrder:
        with self.lock:
            if order.is_open:
                self._finish(order, finish_as)
            return order

    def housekeeping(self) -> None:
        """Drop long-cancelled unfilled orders, run due countdowns, expire price-triggered orders."""
        with self.lock:
            now = self.now_ms()
            horizon = now - int(self.cancelled_retention_sec * 1000)
            while self._expiring and self._expiring[0].update_ms <= horizon:
                order = self._expiring.popleft()
                self._finished[order.pair].pop(order.id, None)
                self._orders.pop(order.id, None)
                self._purged.append(order)
            for key, deadline in list(self._countdowns.items()):
                if now >= deadline:
                    del self._countdowns[key]
                    for pair in [key] if key else list(self._open):
                        for order in list(self._open.get(pair, {}).values()):
                            self._finish(order, "cancelled")
            for po in self._price_orders.values():
                if po.status == "open" and po.expiration and now >= po.create_ms + po.expiration * 1000:
                    po.status, po.finish_ms = "expired", now

    def find_order(self, order_id: str, pair: str | None = None) -> SimOrder:
        """Look an order up by exchange id, or by `text` among open orders (Gate.io's rule)."""
        with self.lock:
            self.housekeeping()
            order = self._orders.get(order_id)
            if order is not None and (pair is None or order.pair == pair):
                return order
            if order_id.startswith("t-"):
                grace = int(self.text_lookup_grace_sec * 1000)
                books = [self._open[pair]] if pair in self._open else list(self._open.values())
                for book in books:
                    for o in book.values():
                        if o.text == order_id:
                            return o
                if grace:
                    now = self.now_ms()
                    for o in self._orders.values():
                        if o.text == order_id and (pair is None or o.pair == pair) and now - o.update_ms <= grace:
                            return o
            raise order_not_found()

    # ----- the dead-man switch --------------------------------------------------------------------------
    def countdown_cancel_all(self, timeout_sec: int, pair: str = "") -> int:
        """Cancel all open orders (of `pair`, or all) after `timeout_sec` unless renewed; 0 disables it."""
        with self.lock:
            if timeout_sec <= 0:
                self._countdowns.pop(pair, None)
                return 0
            deadline = self.now_ms() + timeout_sec * 1000
            self._countdowns[pair] = deadline
            return deadline

    # ----- behaviour switches ---------------------------------------------------------------------------
    def configure(self, **settings: object) -> dict[str, object]:
        """Set behaviour switches (see SETTINGS) all at once or not at all; returns every switch's value."""
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise ValueError(f"unknown simulator setting(s): {', '.join(sorted(unknown))}")
        parsed = {}
        for name, value in settings.items():
            try:
                parsed[name] = SETTINGS[name](value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"setting {name}: {exc}") from None
        with self.lock:
            for name, value in parsed.items():
                setattr(self, name, value)
            return self.settings()

    def settings(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in SETTINGS}

    # ----- views for the API and tests ------------------------------------------------------------------
    def is_visible(self, item: SimOrder | SimTrade) -> bool:
        """False while an order (or fill) is younger than `visibility_lag_sec`: the API answers as if absent."""
        if self.visibility_lag_sec <= 0:
            return True
        created_ms = item.create_ms if isinstance(item, SimOrder) else item.create_us // 1000
        return self.now_ms() - created_ms >= int(self.visibility_lag_sec * 1000)

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        with self.lock:
            self.housekeeping()
            pairs = [self.spec(symbol).pair] if symbol else list(self._open)
            return [o for p in pairs for o in self._open[p].values()]

    def recent_orders(self, count: int = 10) -> list[SimOrder]:
        """The last `count` orders created, open or finished, oldest first."""
        with self.lock:
            return sorted(self._orders.values(), key=lambda o: (o.create_ms, o.id))[-count:]

    def finished_orders(self, symbol: str | None = None) -> list[SimOrder]:
        with self.lock:
            self.housekeeping()
            pairs = [self.spec(symbol).pair] if symbol else list(self._finished)
            return [o for p in pairs for o in self._finished[p].values()]

    def trades(self, symbol: str | None = None) -> list[SimTrade]:
        with self.lock:
            pairs = [self.spec(symbol).pair] if symbol else list(self._trades)
            return [t for p in pairs for t in self._trades[p]]

    @property
    def rate_limited_count(self) -> int:
        """How many 429s were served because the budget was exceeded (not injected ones)."""
        return self.limiter.rejected
