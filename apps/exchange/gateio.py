"""Gate.io specifics kept as data and small functions: symbol format and client order ids."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import overload

import numpy as np

from apps.exchange.broker import InvalidOrder
from apps.exchange.types import Candle, Candles, ExchangeOrder, ExchangeTrade, Market, OrderRequest, TriggerOrder

CLIENT_ID_RE = re.compile(r"^t-[0-9A-Za-z_.-]{1,26}$")


def to_native(symbol: str) -> str:
    """BTC/USDT -> BTC_USDT."""
    base, _, quote = symbol.partition("/")
    if not base or not quote:
        raise ValueError(f"{symbol!r} is not a unified symbol like BTC/USDT")
    return f"{base}_{quote}"


def to_unified(native: str) -> str:
    """BTC_USDT -> BTC/USDT."""
    base, _, quote = native.partition("_")
    if not base or not quote:
        raise ValueError(f"{native!r} is not a Gate.io pair like BTC_USDT")
    return f"{base}/{quote}"


def validate_client_order_id(text: str) -> str:
    """Gate.io's `text`: starts with t-, at most 28 characters in all, only 0-9 A-Z a-z _ - ."""
    if not CLIENT_ID_RE.match(text):
        raise ValueError(f"{text!r} must start with 't-', be at most 28 characters and use only 0-9 A-Z a-z _ - .")
    return text


# --- orders: status and finish_as onto our statuses -----------------------------------------------
# Gate.io reports a finished order as status `closed` (or `cancelled`) plus `finish_as` saying why it ended.
# The word alone is not enough: an IOC market order that filled completely ends as `ioc` or `filled`, one
# that took part of the book ends as `ioc` / `depth_not_enough` with something filled. So the status is
# decided from finish_as *and* the amounts (filled, left).

# finish_as values meaning someone (us, the exchange's self-trade prevention, a post-only check) cancelled it.
FINISH_CANCELLED = frozenset({"cancelled", "stp", "poc", "liquidate_cancelled", "auto_cancelled"})
# finish_as values meaning the exchange ended it by its time-in-force or the book: it expired.
FINISH_EXPIRED = frozenset(
    {"ioc", "fok", "depth_not_enough", "trader_not_enough", "expired", "price_protect_cancelled", "unknown"}
)
# `small`: what is left is below the minimum that can be traded, so the order is as complete as it can be.
FINISH_DONE = frozenset({"filled", "small"})


def cancelled_spelling(word: str) -> str:
    """Gate.io spells it both ways: the SDK says `cancelled`, a real recorded price order `canceled`."""
    word = (word or "").lower()
    return "cancelled" if word == "canceled" else word.replace("canceled", "cancelled")


def map_order_status(*, status: str, finish_as: str, filled: Decimal, left: Decimal | None) -> str:
    """Gate.io `status` + `finish_as` + amounts -> one of apps.trading.models.OrderStatus values."""
    status = cancelled_spelling(status)
    finish_as = cancelled_spelling(finish_as)
    if status == "open" or (not status and finish_as in ("", "open")):
        return "partially_filled" if filled > 0 else "open"
    if status == "_new":
        return "open"
    complete = filled > 0 and left is not None and left <= 0
    if finish_as in FINISH_DONE and filled > 0:
        return "filled"
    if complete:
        return "filled"
    if finish_as in FINISH_CANCELLED:
        return "cancelled"
    if finish_as in FINISH_EXPIRED or finish_as == "small":
        return "expired"
    if status == "cancelled":
        return "cancelled"
    if status in ("closed", "finished", "filled"):
        return "filled" if filled > 0 and (left is None or left <= 0) else "cancelled"
    raise ValueError(f"unknown Gate.io order status {status!r} / finish_as {finish_as!r}")


# --- precision and minimums -----------------------------------------------------------------------


def round_down(value: Decimal, places: int) -> Decimal:
    """Truncate towards zero at `places` decimals: never send more than was meant."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def round_price(value: Decimal, places: int) -> Decimal:
    """Prices round to the nearest step."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


# --- Gate.io JSON -> our dataclasses (from the raw strings, never from ccxt's floats) ---------------


@overload
def dec(value: object, default: Decimal) -> Decimal: ...
@overload
def dec(value: object, default: None = None) -> Decimal | None: ...
def dec(value: object, default: Decimal | None = None) -> Decimal | None:
    """A Decimal from Gate.io's string (or int) field; `default` when absent or empty."""
    if value is None or value == "":
        return default
    return Decimal(str(value))


def ms_to_datetime(value: object) -> datetime | None:
    """Gate.io's `create_time_ms` ("1626354833544" or "1626354833544.123") -> aware UTC datetime."""
    number = dec(value)
    if number is None:
        return None
    return datetime.fromtimestamp(float(number) / 1000, tz=UTC)


def _order_time(info: dict, ms_key: str, s_key: str) -> datetime | None:
    if info.get(ms_key) not in (None, ""):
        return ms_to_datetime(info[ms_key])
    if info.get(s_key) not in (None, ""):
        return datetime.fromtimestamp(float(Decimal(str(info[s_key]))), tz=UTC)
    return None


def parse_market(info: dict) -> Market:
    """A spot pair of `GET /spot/currency_pairs`."""
    amount_places = int(info["amount_precision"])
    return Market(
        symbol=to_unified(info["id"]),
        base=info["base"],
        quote=info["quote"],
        amount_precision=amount_places,
        price_precision=int(info["precision"]),
        min_amount=dec(info.get("min_base_amount"), Decimal(1).scaleb(-amount_places)),
        min_notional=dec(info.get("min_quote_amount"), Decimal(0)),
        active=info.get("trade_status", "tradable") == "tradable",
    )


def parse_candles(rows: list[list[str]]) -> Candles:
    """GET /spot/candlesticks rows, [time s, quote volume, close, high, low, open, base volume, closed], as
    Candles; the float arrays come straight from the strings (float(str) is cheaper than float(Decimal))."""
    candles = [
        Candle(
            time=datetime.fromtimestamp(int(row[0]), tz=UTC),  # whole seconds: as ms_to_datetime, without a Decimal
            open=Decimal(row[5]),
            high=Decimal(row[3]),
            low=Decimal(row[4]),
            close=Decimal(row[2]),
            volume=Decimal(row[6]),
        )
        for row in rows
    ]
    try:
        text = [x for row in rows for x in (row[5], row[3], row[4], row[2], row[6])]
        values = np.fromiter(map(float, text), dtype=np.float64, count=len(text)).reshape(-1, 5).T.copy()
        times_us = np.fromiter((int(row[0]) * 1_000_000 for row in rows), dtype=np.int64, count=len(rows))
    except (TypeError, ValueError):
        return Candles(candles)  # a value float() does not take (Decimal does, e.g. "sNaN"): arrays made on first use
    return Candles(candles, times_us=times_us, values=values)


def parse_order(info: dict) -> ExchangeOrder:
    """A spot order of `/spot/orders`. A market buy's `amount` and `left` are quote (what to spend)."""
    order_type = info.get("type") or "limit"
    side = info.get("side") or ""
    amount = dec(info.get("amount"), Decimal(0))
    left = dec(info.get("left"))
    filled_total = dec(info.get("filled_total"), Decimal(0))  # quote value of the fills
    average = dec(info.get("avg_deal_price"))
    if average is not None and average <= 0:
        average = None
    filled = dec(info.get("filled_amount"))  # base; newer Gate.io versions send it
    market_buy = order_type == "market" and side == "buy"
    exact = filled is not None
    if filled is None:
        # An older finished market order may lack filled_amount. A sell's (or a limit's) amount and left are
        # base, so amount - left is exact; a market buy's are quote, and filled_total / avg_deal_price is only
        # as exact as the rounded average: the broker sums the order's trades instead (filled_exact=False).
        if not market_buy and left is not None:
            filled, exact = amount - left, True
        else:
            filled = filled_total / average if market_buy and average else Decimal(0)  # an estimate
    if average is None and filled > 0 and filled_total > 0:
        average = filled_total / filled
    # While the base filled is unknown, something was filled when the quote value of the fills is positive.
    evidence = filled if exact else (Decimal(1) if filled_total > 0 else Decimal(0))
    status = map_order_status(
        status=info.get("status", ""), finish_as=info.get("finish_as", ""), filled=evidence, left=left
    )
    text = info.get("text") or None
    fee = dec(info.get("fee"))
    price = dec(info.get("price"))
    return ExchangeOrder(
        exchange_order_id=str(info["id"]),
        client_order_id=text if text and text.startswith("t-") else None,
        symbol=to_unified(info["currency_pair"]),
        side=side,
        type=order_type,
        status=status,
        amount=None if market_buy else amount,
        price=price if price else None,
        filled=filled,
        cost=filled_total,
        average_price=average,
        created_at=_order_time(info, "create_time_ms", "create_time") or datetime.now(UTC),
        updated_at=_order_time(info, "update_time_ms", "update_time"),
        quote_amount=amount if market_buy else None,
        fee=fee,
        fee_currency=info.get("fee_currency") or None,
        raw_status=info.get("status", ""),
        finish_as=info.get("finish_as", "") or "",
        filled_exact=exact,
    )


def with_fills_from_trades(order: ExchangeOrder, trades: list[ExchangeTrade]) -> ExchangeOrder:
    """The order with its filled amount, cost and average taken from its trades (my_trades of that order):
    what Gate.io's answer lacked when it had no filled_amount."""
    own = [t for t in trades if t.exchange_order_id == order.exchange_order_id]
    filled = sum((t.amount for t in own), Decimal(0))
    cost = sum((t.cost for t in own), Decimal(0))
    return replace(
        order,
        filled=filled,
        cost=cost if cost > 0 else order.cost,
        average_price=(cost / filled) if filled > 0 else order.average_price,
        filled_exact=True,
    )


def parse_trade(info: dict) -> ExchangeTrade:
    """One row of `GET /spot/my_trades`; the fee is in the currency Gate.io charged (GT / points when used)."""
    price = Decimal(str(info["price"]))  # always sent
    amount = Decimal(str(info["amount"]))
    fee, fee_currency = dec(info.get("fee"), Decimal(0)), info.get("fee_currency") or ""
    for key, currency in (("gt_fee", "GT"), ("point_fee", "POINT")):
        extra = dec(info.get(key), Decimal(0))
        if not fee and extra:
            fee, fee_currency = extra, currency
    text = info.get("text") or None
    role = info.get("role")
    return ExchangeTrade(
        trade_id=str(info["id"]),
        exchange_order_id=str(info.get("order_id", "")),
        client_order_id=text if text and text.startswith("t-") else None,
        symbol=to_unified(info["currency_pair"]),
        side=info.get("side", ""),
        price=price,
        amount=amount,
        cost=price * amount,
        fee=fee,
        fee_currency=fee_currency,
        is_maker=None if role is None else role == "maker",
        executed_at=_order_time(info, "create_time_ms", "create_time") or datetime.now(UTC),
    )


def parse_trigger_order(info: dict) -> TriggerOrder:
    """A `/spot/price_orders` entry: {id, market, trigger: {price, rule}, put: {side, amount, ...}, status}."""
    trigger = info.get("trigger") or {}
    put = info.get("put") or {}
    fired = info.get("fired_order_id")
    return TriggerOrder(
        exchange_order_id=str(info["id"]),
        symbol=to_unified(info["market"]),
        trigger_price=dec(trigger.get("price"), Decimal(0)),
        rule=str(trigger.get("rule", "")),
        side=put.get("side", ""),
        amount=dec(put.get("amount"), Decimal(0)),
        status=cancelled_spelling(info.get("status", "open")) or "open",
        fired_order_id=str(fired) if fired not in (None, "", 0, "0") else None,
    )


def prepare_order(market: Market, request: OrderRequest) -> OrderRequest:
    """The request rounded to the market's precision (amounts down, prices to the nearest step) and checked
    against min amount / min notional. Raises InvalidOrder (nothing is sent) when it cannot be placed."""

    symbol = request.symbol
    if not market.active:
        raise InvalidOrder(f"{symbol} is not tradable now", "INVALID_CURRENCY_PAIR")
    if request.side not in ("buy", "sell") or request.type not in ("market", "limit"):
        raise InvalidOrder(f"unsupported order: {request.type} {request.side}", "INVALID_PARAM_VALUE")
    price = request.price
    if request.type == "limit":
        if price is None or price <= 0:
            raise InvalidOrder(f"a limit order on {symbol} needs a positive price", "INVALID_PARAM_VALUE")
        price = round_price(price, market.price_precision)
        if price <= 0:
            raise InvalidOrder(f"price {request.price} rounds to 0 at {market.price_precision} places")
    if request.type == "market" and request.side == "buy":
        if request.quote_amount is None or request.amount is not None:
            raise InvalidOrder(f"a market buy on {symbol} is sized by quote_amount only", "INVALID_PARAM_VALUE")
        # Gate.io truncates the quote of a market buy to the price precision.
        quote = round_down(request.quote_amount, market.price_precision)
        if quote < market.min_notional or quote <= 0:
            raise InvalidOrder(
                f"market buy of {quote} {market.quote} is below the minimum of {market.min_notional} {market.quote}",
                "INVALID_PARAM_VALUE",
            )
        return replace(request, quote_amount=quote, price=None)
    if request.amount is None or request.quote_amount is not None:
        raise InvalidOrder(f"a {request.type} {request.side} on {symbol} is sized by amount (base)")
    amount = round_down(request.amount, market.amount_precision)
    if amount <= 0 or amount < market.min_amount:
        raise InvalidOrder(
            f"amount {request.amount} rounds down to {amount} {market.base}, below the minimum of "
            f"{market.min_amount} {market.base}",
            "INVALID_PARAM_VALUE",
        )
    # A market sell's notional is only known at the fill; the request's price (if given) estimates it.
    if price is not None and amount * price < market.min_notional:
        raise InvalidOrder(
            f"{amount} {market.base} at {price} is {amount * price} {market.quote}, below the minimum of "
            f"{market.min_notional} {market.quote}",
            "INVALID_PARAM_VALUE",
        )
    return replace(request, amount=amount, price=price)
