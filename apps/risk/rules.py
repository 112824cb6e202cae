"""Risk rules: small classes, each answering one question about one intended entry.

A rule's `check(ctx)` returns a `RiskBlock` when the entry must not go out, else None. Rules never read the
wall clock or build a broker: `now` and the broker come in on the `RiskContext`, which also caches the market,
price and equity it fetched so that no rule asks the exchange twice. Exits are never given to these rules
(see `apps.risk.services.risk_check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from apps.audit.actors import SYSTEM, Actor
from apps.exchange.breaker import CLOSED, get_breaker
from apps.exchange.broker import Broker
from apps.exchange.gateio import round_down
from apps.exchange.types import Market
from apps.reconciliation.models import Discrepancy
from apps.risk.selectors import Equity, Limits, equity_current, trading_status
from apps.risk.switch import drawdown_update
from apps.trading.models import LIVE_STATUSES, Order, OrderStatus, Position, Side
from apps.trading.selectors import positions, positions_open
from apps.trading.venues import current_venue, venue_of


@dataclass(frozen=True)
class RiskBlock:
    rule: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    severity: str = "warning"


@dataclass(frozen=True)
class Sizing:
    """An entry sized from POSITION_SIZE_USD: the quote to spend (market buy) and the base it buys at `price`."""

    quote_amount: Decimal
    amount: Decimal
    price: Decimal


@dataclass(frozen=True)
class Requested:
    """An order sized by its sender (the API), not by the rules: `PositionSize` caps its notional instead."""

    amount: Decimal | None = None  # base
    quote_amount: Decimal | None = None  # quote to spend (market buy)
    price: Decimal | None = None  # limit price; the market price otherwise

    def notional(self, market_price: Decimal | None) -> Decimal | None:
        if self.quote_amount is not None:
            return self.quote_amount
        price = self.price if self.price is not None else market_price
        if self.amount is None or price is None:
            return None
        return self.amount * price


@dataclass
class RiskContext:
    """What the rules look at. `market`, `price` and `equity` may be given already fetched (a backtest, a
    batch); otherwise they are fetched from `broker` once, on first use."""

    symbol: str
    side: str
    now: datetime  # timezone-aware
    broker: Broker | None
    limits: Limits
    actor: Actor = SYSTEM
    market: Market | None = None
    price: Decimal | None = None
    equity: Equity | None = None
    sizing: Sizing | None = None  # set by PositionSize
    requested: Requested | None = None  # an order sized by its sender: its notional is capped, not sized

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("RiskContext.now must be timezone-aware")

    @property
    def venue(self) -> str:
        """The books this entry would go into: the broker's venue (the mode's without a broker)."""
        return venue_of(self.broker) if self.broker is not None else current_venue()

    def _need_broker(self) -> Broker:
        if self.broker is None:
            raise ValueError("this rule needs a broker or already-fetched market data")
        return self.broker

    def get_market(self) -> Market:
        if self.market is None:
            self.market = self._need_broker().market(self.symbol)
        return self.market

    def get_price(self) -> Decimal:
        """The price an entry (a buy) would pay: the ask, else the last trade."""
        if self.price is None:
            ticker = self._need_broker().fetch_ticker(self.symbol)
            self.price = ticker.ask if ticker.ask else ticker.last
        return self.price

    def get_equity(self) -> Equity:
        if self.equity is None:
            self.equity = equity_current(broker=self._need_broker(), limits=self.limits)
        return self.equity


class Rule:
    name: ClassVar[str] = ""

    def check(self, ctx: RiskContext) -> RiskBlock | None:  # pragma: no cover - interface
        raise NotImplementedError

    def block(self, message: str, severity: str = "warning", **details: Any) -> RiskBlock:
        return RiskBlock(rule=self.name, message=message, details=details, severity=severity)


class TradingGate(Rule):
    """The kill switch, ENABLE_TRADING and MODE (see `trading_status`)."""

    name = "trading_gate"

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        status = trading_status()
        if status.entries_allowed:
            return None
        return self.block(
            status.why,
            mode=status.mode,
            enable_trading=status.enable_trading,
            halted=status.halted,
            halt_reason=status.halt_reason,
        )


class TradingHours(Rule):
    """Entries only inside the UTC window (which may wrap midnight)."""

    name = "trading_hours"

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        moment = ctx.now.astimezone(UTC)
        if ctx.limits.hours.contains(moment.time()):
            return None
        return self.block(
            f"{moment:%H:%M} UTC is outside the trading window {ctx.limits.hours}",
            now_utc=moment.isoformat(),
            window=str(ctx.limits.hours),
        )


class BreakerOpen(Rule):
    """No entries while the private-orders circuit breaker is open (or probing): the order would not go out."""

    name = "breaker_open"

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        breakers = getattr(ctx.broker, "breakers", None) or {}
        breaker = breakers.get("private_orders")
        if breaker is None:
            name = getattr(ctx.broker, "name", "") or "gateio"
            breaker = get_breaker(f"{name}:private_orders")
        state = breaker.state()
        if state == CLOSED:
            return None
        return self.block(f"circuit breaker {breaker.name} is {state}", breaker=breaker.name, state=state)


class UnresolvedDiscrepancies(Rule):
    """No entries on a symbol whose books disagree with the exchange until reconciliation resolves it."""

    name = "unresolved_discrepancies"

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        unresolved = Discrepancy.objects.filter(symbol=ctx.symbol, resolved=False, run__venue=ctx.venue)
        rows = list(unresolved.order_by("-created_at", "-id").values_list("id", "kind")[:20])
        if not rows:
            return None
        count = unresolved.count()
        return self.block(
            f"{ctx.symbol} has {count} unresolved reconciliation discrepanc{'y' if count == 1 else 'ies'}",
            count=count,
            discrepancy_ids=[pk for pk, _ in rows],
            kinds=sorted({kind for _, kind in rows}),
        )


class ConsecutiveLosses(Rule):
    """The last N closed positions all lost: entries pause for LOSS_COOLDOWN_MIN from the last loss."""

    name = "consecutive_losses"

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        n = ctx.limits.max_consecutive_losses
        last = list(
            positions(ctx.venue)
            .filter(status=Position.Status.CLOSED, closed_at__lte=ctx.now)
            .order_by("-closed_at", "-id")
            .values_list("id", "realized_pnl", "closed_at")[:n]
        )
        if len(last) < n or any(pnl >= 0 for _, pnl, _ in last):
            return None
        last_loss_at = last[0][2]
        until = last_loss_at + timedelta(minutes=ctx.limits.loss_cooldown_min)
        if ctx.now >= until:
            return None
        return self.block(
            f"{n} losing trades in a row; entries paused until {until:%Y-%m-%d %H:%M} UTC",
            losses=n,
            position_ids=[pk for pk, _, _ in last],
            realized_pnl=[pnl for _, pnl, _ in last],
            last_loss_at=last_loss_at.isoformat(),
            until=until.isoformat(),
            cooldown_min=ctx.limits.loss_cooldown_min,
        )


class MaxOpenPositions(Rule):
    """At most MAX_POSITIONS open positions. Every open position counts, the symbol's own included: adding
    to an open position is an entry like any other and is refused at the limit."""

    name = "max_positions"

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        open_symbols = sorted(positions_open(venue=ctx.venue).values_list("symbol", flat=True))
        limit = ctx.limits.max_positions
        if len(open_symbols) < limit:
            return None
        return self.block(
            f"{len(open_symbols)} open position(s), the limit is {limit}",
            open_positions=len(open_symbols),
            limit=limit,
            symbols=open_symbols,
            symbol_has_position=ctx.symbol in open_symbols,
        )


class EntryInFlight(Rule):
    """One entry at a time per symbol: while an earlier buy of the symbol is still on its way (new, sent, open,
    partly filled or of unknown outcome), a new signal entry would double it — a cycle re-run after a crash or
    on the next candle must wait for that order to end. Orders sized by their sender (the API) are idempotent
    by client id instead, and may rest several limit orders."""

    name = "entry_in_flight"

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        if ctx.requested is not None:
            return None
        pending = list(
            Order.objects.filter(
                venue=ctx.venue,
                symbol=ctx.symbol,
                side=Side.BUY,
                status__in=[OrderStatus.NEW, *LIVE_STATUSES],
            ).values_list("pk", flat=True)[:5]
        )
        if not pending:
            return None
        return self.block(f"an entry order for {ctx.symbol} is still in flight (order {pending[0]})", orders=pending)


class MaxDrawdown(Rule):
    """Equity down MAX_DRAWDOWN_PCT or more from its peak: the kill switch goes on (see `drawdown_update`)."""

    name = "max_drawdown"

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        equity = ctx.get_equity()
        state = drawdown_update(equity=equity.value, source=equity.source, now=ctx.now, record=False, venue=ctx.venue)
        if not state.breached:
            return None
        return self.block(
            f"drawdown {state.drawdown_pct:.2f}% from the equity peak {state.peak} reached the limit of "
            f"{state.limit_pct}%: trading halted",
            severity="critical",
            **state.details(),
            equity_details=equity.details,
        )


class PositionSize(Rule):
    """POSITION_SIZE_USD as a quote amount, and the base amount it buys, rounded down to the market's
    precision; refused when that is below the minimum amount or notional. Leaves the result in `ctx.sizing`.
    An order its sender sized (`ctx.requested`, the API) is refused when its notional is above
    POSITION_SIZE_USD: the per-order cap."""

    name = "position_size"

    def cap(self, ctx: RiskContext, requested: Requested) -> RiskBlock | None:
        limit = ctx.limits.position_size_usd
        market_price = None if requested.quote_amount is not None or requested.price is not None else ctx.get_price()
        notional = requested.notional(market_price)
        details: dict[str, Any] = {
            "position_size_usd": limit,
            "amount": requested.amount,
            "quote_amount": requested.quote_amount,
            "price": requested.price if requested.price is not None else market_price,
            "notional": notional,
        }
        if notional is None:
            return self.block(f"no usable price for {ctx.symbol} to value the order", **details)
        if notional > limit:
            return self.block(
                f"order notional {notional.normalize():f} is above the per-order cap POSITION_SIZE_USD={limit}",
                **details,
            )
        return None

    def size(self, ctx: RiskContext) -> Sizing | RiskBlock:
        market = ctx.get_market()
        price = ctx.get_price()
        target = ctx.limits.position_size_usd
        details: dict[str, Any] = {
            "position_size_usd": target,
            "price": price,
            "amount_precision": market.amount_precision,
            "price_precision": market.price_precision,
            "min_amount": market.min_amount,
            "min_notional": market.min_notional,
        }
        if not market.active:
            return self.block(f"{ctx.symbol} is not tradable now", **details)
        if price is None or price <= 0:
            return self.block(f"no usable price for {ctx.symbol}", **details)
        # Gate.io truncates a market buy's quote to the price precision; the base it buys is truncated too.
        quote = round_down(target, market.price_precision)
        amount = round_down(quote / price, market.amount_precision)
        notional = amount * price
        details.update(quote_amount=quote, amount=amount, notional=notional)
        if amount <= 0 or amount < market.min_amount:
            return self.block(
                f"{quote} {market.quote} buys {amount} {market.base}, below the minimum amount of "
                f"{market.min_amount} {market.base}",
                **details,
            )
        if quote < market.min_notional or notional < market.min_notional:
            return self.block(
                f"{amount} {market.base} at {price} is {notional} {market.quote}, below the minimum notional of "
                f"{market.min_notional} {market.quote}",
                **details,
            )
        return Sizing(quote_amount=quote, amount=amount, price=price)

    def check(self, ctx: RiskContext) -> RiskBlock | None:
        if ctx.requested is not None:
            return self.cap(ctx, ctx.requested)
        result = self.size(ctx)
        if isinstance(result, RiskBlock):
            return result
        ctx.sizing = result
        return None


# Cheap database checks first, the ones that call the exchange last; sizing is always the final step.
DEFAULT_RULES: tuple[Rule, ...] = (
    TradingGate(),
    TradingHours(),
    BreakerOpen(),
    UnresolvedDiscrepancies(),
    ConsecutiveLosses(),
    EntryInFlight(),
    MaxOpenPositions(),
    MaxDrawdown(),
    PositionSize(),
)

# MODE=backtest replays entries with a simulated broker and clock: the live gate (which never lets a backtest
# send orders), the live circuit breaker, the live reconciliation state and the live order books do not apply
# to it (its engine enters only when flat).
BACKTEST_RULES: tuple[Rule, ...] = tuple(
    rule
    for rule in DEFAULT_RULES
    if not isinstance(rule, TradingGate | BreakerOpen | UnresolvedDiscrepancies | EntryInFlight)
)
