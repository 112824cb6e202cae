"""The paper broker: the Broker interface with orders, trades and balances in our database.

Market data (markets, tickers, candles) come from a real GateBroker: the simulator when GATEIO_API_URL
points at it, Gate.io's public data otherwise. Market orders fill at once at the current price moved
against us by PAPER_SLIPPAGE_BPS; limit orders fill at their price when the last price crosses it, which
is checked whenever orders are read. The fee (PAPER_FEE_PCT) is charged like Gate.io does: in the
currency received (base for a buy, quote for a sell).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.exchange import gateio
from apps.exchange.broker import InsufficientFunds, InvalidOrder, OrderNotFound
from apps.exchange.models import PaperBalance, PaperOrder, PaperTrade
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

PLACES = Decimal("1e-16")
OPEN_STATUSES = ("open", "partially_filled")
DEFAULT_BALANCES = {"USDT": Decimal("10000")}


def _q(value: Decimal) -> Decimal:
    return value.quantize(PLACES)


class PaperBroker:
    name = "paper"
    venue = "paper"

    def __init__(
        self,
        *,
        data,  # a Broker for market data (GateBroker)
        fee_pct: Decimal,
        slippage_bps: Decimal,
        initial_balances: dict[str, Decimal] | None = None,
    ) -> None:
        self.data = data
        self.fee_rate = Decimal(fee_pct) / 100
        self.slippage = Decimal(slippage_bps) / 10_000
        self.initial_balances = DEFAULT_BALANCES if initial_balances is None else initial_balances

    @classmethod
    def from_settings(cls) -> PaperBroker:
        # start-up cost: ccxt loads only for the broker that uses it
        from apps.exchange.ccxt_broker import GateBroker

        # Public data needs no keys; the simulator (GATEIO_API_URL) or Gate.io itself answers.
        data = GateBroker(api_url=settings.GATEIO_API_URL, sandbox=settings.GATEIO_SANDBOX)
        return cls(data=data, fee_pct=settings.PAPER_FEE_PCT, slippage_bps=settings.PAPER_SLIPPAGE_BPS)

    # --- what submission asks around a create_order (apps.exchange.broker.Broker) --------------------

    def check_available(self, endpoint: str = "private_orders") -> None:
        """Paper orders never reach an exchange: there is no breaker to refuse them."""

    def lost_answer_settles_at(self, error: BaseException, sent_at: datetime) -> datetime:
        """A paper answer is never lost in flight: nothing can appear later."""
        return sent_at

    def order_reached_exchange(self) -> None:
        """Nothing to count: paper orders have no breaker."""

    # --- market data: delegated ------------------------------------------------------------------

    def load_markets(self, reload: bool = False) -> dict[str, Market]:
        return self.data.load_markets(reload)

    def market(self, symbol: str) -> Market:
        return self.data.market(symbol)

    def fetch_ticker(self, symbol: str) -> Ticker:
        return self.data.fetch_ticker(symbol)

    def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        return self.data.fetch_tickers(symbols)

    def fetch_ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        return self.data.fetch_ohlcv(symbol, timeframe, limit)

    def fetch_ohlcv_range(self, symbol: str, timeframe: str, since: datetime, until: datetime) -> list[Candle]:
        return self.data.fetch_ohlcv_range(symbol, timeframe, since, until)

    # --- balances --------------------------------------------------------------------------------

    def _seed(self) -> None:
        if not PaperBalance.objects.exists():
            for currency, amount in self.initial_balances.items():
                PaperBalance.objects.get_or_create(currency=currency, defaults={"free": amount})

    def fetch_balance(self) -> dict[str, Balance]:
        self._seed()
        return {b.currency: Balance(b.currency, b.free, b.used) for b in PaperBalance.objects.all()}

    def _wallet(self, currency: str) -> PaperBalance:
        row, _ = PaperBalance.objects.select_for_update().get_or_create(currency=currency)
        return row

    # --- orders ----------------------------------------------------------------------------------

    def prepare_order(self, request: OrderRequest) -> OrderRequest:
        return gateio.prepare_order(self.market(request.symbol), request)

    def create_order(self, request: OrderRequest) -> ExchangeOrder:
        prepared = self.prepare_order(request)
        gateio.validate_client_order_id(prepared.client_order_id)
        existing = PaperOrder.objects.filter(client_order_id=prepared.client_order_id).first()
        if existing is not None:  # the same client id twice is the same order
            return self._order(existing)
        market = self.market(prepared.symbol)
        ticker = self.fetch_ticker(prepared.symbol)
        self._seed()
        try:
            with transaction.atomic():
                order = self._create(prepared, market, ticker)
        except IntegrityError:
            order = PaperOrder.objects.get(client_order_id=prepared.client_order_id)
        return self._order(order)

    def _create(self, request: OrderRequest, market: Market, ticker: Ticker) -> PaperOrder:
        now = timezone.now()
        order = PaperOrder.objects.create(
            exchange_order_id=f"paper-{timezone.now().timestamp():.0f}-{request.client_order_id[-8:]}",
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            amount=request.amount,
            quote_amount=request.quote_amount,
            price=request.price,
            status="open",
            created_at=now,
        )
        order.exchange_order_id = f"paper-{order.pk}"
        order.save(update_fields=["exchange_order_id"])
        if request.type == "market":
            self._fill_market(order, market, ticker)
        else:
            self._lock_funds(order, market)
            self._fill_limit_if_crossed(order, market, ticker.last)
        return order

    def _fill_market(self, order: PaperOrder, market: Market, ticker: Ticker) -> None:
        if order.side == "buy":
            price = _q((ticker.ask or ticker.last) * (1 + self.slippage))
            amount = gateio.round_down(order.quote_amount / price, market.amount_precision)
            if amount <= 0:
                raise InvalidOrder(f"{order.quote_amount} {market.quote} buys nothing at {price}")
        else:
            price = _q((ticker.bid or ticker.last) * (1 - self.slippage))
            amount = order.amount
        self._trade(order, market, price, amount, is_maker=False)
        order.status, order.finish_as = "filled", "filled"
        order.save()

    def _lock_funds(self, order: PaperOrder, market: Market) -> None:
        currency = market.quote if order.side == "buy" else market.base
        need = _q(order.amount * order.price) if order.side == "buy" else order.amount
        wallet = self._wallet(currency)
        if wallet.free < need:
            raise InsufficientFunds(f"paper: {need} {currency} needed, {wallet.free} free", "BALANCE_NOT_ENOUGH")
        wallet.free -= need
        wallet.used += need
        wallet.save()
        order.locked = need
        order.save(update_fields=["locked"])

    def _trade(self, order: PaperOrder, market: Market, price: Decimal, amount: Decimal, *, is_maker: bool) -> None:
        cost = _q(price * amount)
        base, quote = self._wallet(market.base), self._wallet(market.quote)
        if order.side == "buy":
            fee, fee_currency = _q(amount * self.fee_rate), market.base
            if order.type == "limit":
                release = min(order.locked, cost)
                quote.used -= release
                order.locked -= release
            elif quote.free < cost:
                raise InsufficientFunds(f"paper: {cost} {market.quote} needed, {quote.free} free", "BALANCE_NOT_ENOUGH")
            else:
                quote.free -= cost
            base.free += amount - fee
        else:
            fee, fee_currency = _q(cost * self.fee_rate), market.quote
            if order.type == "limit":
                base.used -= amount
                order.locked -= amount
            elif base.free < amount:
                raise InsufficientFunds(f"paper: {amount} {market.base} needed, {base.free} free", "BALANCE_NOT_ENOUGH")
            else:
                base.free -= amount
            quote.free += cost - fee
        base.save()
        quote.save()
        trade = PaperTrade.objects.create(
            order=order,
            trade_id="pending",
            symbol=order.symbol,
            side=order.side,
            price=price,
            amount=amount,
            cost=cost,
            fee=fee,
            fee_currency=fee_currency,
            is_maker=is_maker,
            executed_at=timezone.now(),
        )
        PaperTrade.objects.filter(pk=trade.pk).update(trade_id=f"paper-t{trade.pk}")
        order.filled += amount
        order.cost += cost

    def _fill_limit_if_crossed(self, order: PaperOrder, market: Market, last: Decimal) -> None:
        crossed = last <= order.price if order.side == "buy" else last >= order.price
        if order.status not in OPEN_STATUSES or not crossed:
            return
        self._trade(order, market, order.price, order.amount - order.filled, is_maker=True)
        if order.side == "buy" and order.locked > 0:  # price improvement: give back what was held
            quote = self._wallet(market.quote)
            quote.used -= order.locked
            quote.free += order.locked
            quote.save()
            order.locked = Decimal(0)
        order.status, order.finish_as = "filled", "filled"
        order.save()

    def _match(self, symbol: str) -> None:
        """Fill the open limit orders of `symbol` that the current price crosses."""
        if not PaperOrder.objects.filter(symbol=symbol, status__in=OPEN_STATUSES).exists():
            return
        market = self.market(symbol)
        last = self.fetch_ticker(symbol).last
        with transaction.atomic():
            for order in PaperOrder.objects.select_for_update().filter(symbol=symbol, status__in=OPEN_STATUSES):
                self._fill_limit_if_crossed(order, market, last)

    def fetch_order(self, symbol: str, exchange_order_id: str) -> ExchangeOrder:
        self._match(symbol)
        order = PaperOrder.objects.filter(symbol=symbol, exchange_order_id=exchange_order_id).first()
        if order is None:
            raise OrderNotFound(f"paper order {exchange_order_id} not found", "ORDER_NOT_FOUND")
        return self._order(order)

    def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        self._match(symbol)
        order = PaperOrder.objects.filter(symbol=symbol, client_order_id=client_order_id).first()
        return self._order(order) if order is not None else None

    def fetch_open_orders(self, symbol: str) -> list[ExchangeOrder]:
        self._match(symbol)
        return [self._order(o) for o in PaperOrder.objects.filter(symbol=symbol, status__in=OPEN_STATUSES)]

    def fetch_closed_orders(self, symbol: str, since: datetime) -> list[ExchangeOrder]:
        self._match(symbol)
        rows = PaperOrder.objects.filter(symbol=symbol, created_at__gte=since).exclude(status__in=OPEN_STATUSES)
        return [self._order(o) for o in rows]

    def fetch_my_trades(self, symbol: str, since: datetime, order_id: str | None = None) -> list[ExchangeTrade]:
        self._match(symbol)
        rows = PaperTrade.objects.filter(symbol=symbol, executed_at__gte=since).select_related("order")
        if order_id:
            rows = rows.filter(order__exchange_order_id=order_id)
        return [
            ExchangeTrade(
                trade_id=t.trade_id,
                exchange_order_id=t.order.exchange_order_id,
                client_order_id=t.order.client_order_id,
                symbol=t.symbol,
                side=t.side,
                price=t.price,
                amount=t.amount,
                cost=t.cost,
                fee=t.fee,
                fee_currency=t.fee_currency,
                is_maker=t.is_maker,
                executed_at=t.executed_at,
            )
            for t in rows
        ]

    def cancel_order(self, symbol: str, exchange_order_id: str) -> ExchangeOrder:
        self._match(symbol)
        market = self.market(symbol)
        with transaction.atomic():
            order = PaperOrder.objects.select_for_update().filter(exchange_order_id=exchange_order_id).first()
            if order is None or order.status not in OPEN_STATUSES:
                raise OrderNotFound(f"paper order {exchange_order_id} is not open", "ORDER_NOT_FOUND")
            if order.locked > 0:
                wallet = self._wallet(market.quote if order.side == "buy" else market.base)
                wallet.used -= order.locked
                wallet.free += order.locked
                wallet.save()
                order.locked = Decimal(0)
            order.status, order.finish_as = "cancelled", "cancelled"
            order.save()
        return self._order(order)

    def create_trigger_order(
        self, symbol: str, side: str, amount: Decimal, trigger_price: Decimal, rule: str, client_order_id: str
    ) -> TriggerOrder:
        raise InvalidOrder("the paper broker has no exchange-side stops; protective exits run in tradebot")

    def fetch_trigger_order(self, symbol: str, exchange_order_id: str) -> TriggerOrder:
        raise OrderNotFound("the paper broker has no exchange-side stops", "ORDER_NOT_FOUND")

    def cancel_trigger_order(self, symbol: str, exchange_order_id: str) -> TriggerOrder:
        raise OrderNotFound("the paper broker has no exchange-side stops", "ORDER_NOT_FOUND")

    @staticmethod
    def _order(order: PaperOrder) -> ExchangeOrder:
        fees = list(order.trades.values_list("fee", "fee_currency"))
        return ExchangeOrder(
            exchange_order_id=order.exchange_order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            status=order.status,
            amount=order.amount,
            price=order.price,
            filled=order.filled,
            cost=order.cost,
            average_price=_q(order.cost / order.filled) if order.filled else None,
            created_at=order.created_at,
            updated_at=order.updated_at,
            quote_amount=order.quote_amount,
            fee=sum((f for f, _ in fees), Decimal(0)) if fees else None,
            fee_currency=fees[0][1] if fees else None,
            raw_status=order.status,
            finish_as=order.finish_as,
        )
