"""Reading the trading gate, the risk limits in force and the account equity."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum

from apps.exchange.broker import Broker, ExchangeError
from apps.risk.models import RiskLimits, TradingSwitch
from apps.trading.models import Position
from apps.trading.selectors import positions_open
from apps.trading.venues import venue_of
from tradebot.config import HoursWindow, parse_hours

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TradingStatus:
    mode: str
    enable_trading: bool
    halted: bool
    halt_reason: str
    entries_allowed: bool
    why: str


def trading_status() -> TradingStatus:
    """Whether entries may be sent now: ENABLE_TRADING on, kill switch off, and not a backtest."""
    switch = TradingSwitch.get()
    if settings.MODE == "backtest":
        allowed, why = False, "MODE=backtest never sends orders"
    elif not settings.ENABLE_TRADING:
        allowed, why = False, "ENABLE_TRADING is false"
    elif switch.halted:
        allowed, why = False, f"kill switch on: {switch.reason}"
    else:
        allowed, why = True, f"trading on ({settings.MODE})"
    return TradingStatus(
        mode=settings.MODE,
        enable_trading=settings.ENABLE_TRADING,
        halted=switch.halted,
        halt_reason=switch.reason,
        entries_allowed=allowed,
        why=why,
    )


# --- limits ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The risk limits in force: the `RiskLimits` row where an operator set a value, the settings otherwise."""

    max_positions: int
    position_size_usd: Decimal
    max_drawdown_pct: Decimal
    max_consecutive_losses: int
    loss_cooldown_min: int
    hours: HoursWindow

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_positions=settings.MAX_POSITIONS,
            position_size_usd=Decimal(settings.POSITION_SIZE_USD),
            max_drawdown_pct=Decimal(settings.MAX_DRAWDOWN_PCT),
            max_consecutive_losses=settings.MAX_CONSECUTIVE_LOSSES,
            loss_cooldown_min=settings.LOSS_COOLDOWN_MIN,
            hours=settings.RISK_HOURS_UTC,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_positions": self.max_positions,
            "position_size_usd": str(self.position_size_usd),
            "max_drawdown_pct": str(self.max_drawdown_pct),
            "max_consecutive_losses": self.max_consecutive_losses,
            "loss_cooldown_min": self.loss_cooldown_min,
            "hours": str(self.hours),
        }


def risk_limits() -> Limits:
    """The limits in force now. Reads the row without creating it; a missing row means the settings."""
    base = Limits.from_settings()
    row = RiskLimits.objects.filter(pk=1).first()
    if row is None:
        return base
    hours = base.hours
    if row.hours:
        try:
            hours = parse_hours(row.hours)
        except ValueError:  # clean() refuses it; a row written around it falls back to the setting
            hours = base.hours
    return Limits(
        max_positions=base.max_positions if row.max_positions is None else row.max_positions,
        position_size_usd=base.position_size_usd if row.position_size_usd is None else row.position_size_usd,
        max_drawdown_pct=base.max_drawdown_pct if row.max_drawdown_pct is None else row.max_drawdown_pct,
        max_consecutive_losses=(
            base.max_consecutive_losses if row.max_consecutive_losses is None else row.max_consecutive_losses
        ),
        loss_cooldown_min=base.loss_cooldown_min if row.loss_cooldown_min is None else row.loss_cooldown_min,
        hours=hours,
    )


# --- equity ----------------------------------------------------------------------------------------

EQUITY_BALANCE = "balance"
EQUITY_REALIZED = "realized"


@dataclass(frozen=True)
class Equity:
    """Account equity in the quote currency and how it was measured.

    `balance`: the exchange's total (free + locked) balance of the quote currencies we trade, plus every open
    position (our books) at the last price. `realized`, when balances cannot be read: a nominal capital of
    POSITION_SIZE_USD x MAX_POSITIONS plus the realized PnL (after fees) of every closed position plus the
    unrealized PnL of open ones. The two are not comparable, so the drawdown peak restarts when the source
    changes. Open positions whose price cannot be read are valued at their cost basis (`priced_at_cost`).
    """

    value: Decimal
    source: str
    details: dict[str, Any] = field(default_factory=dict)


def _quote_currencies(symbols: list[str]) -> list[str]:
    return sorted({s.split("/")[1] for s in [*settings.SYMBOLS, *symbols] if "/" in s})


def equity_current(*, broker: Broker, limits: Limits | None = None) -> Equity:
    """Equity now (see `Equity`); one balance call and one tickers call at most."""
    limits = limits or risk_limits()
    venue = venue_of(broker)
    positions = list(positions_open(venue=venue))
    symbols = sorted({p.symbol for p in positions})
    prices: dict[str, Decimal] = {}
    if symbols:
        try:
            prices = {s: t.last for s, t in broker.fetch_tickers(symbols).items() if t.last is not None}
        except ExchangeError as exc:
            log.warning("equity: tickers unavailable, open positions valued at cost: %s", exc)
    priced_at_cost = [p.symbol for p in positions if p.symbol not in prices]
    at_market = sum(
        (p.amount * prices[p.symbol] if p.symbol in prices else p.cost_basis for p in positions), Decimal(0)
    )
    try:
        balances = broker.fetch_balance()
    except ExchangeError as exc:
        log.warning("equity: balances unavailable, using realized-PnL equity: %s", exc)
        balances = None
    if balances is not None:
        quotes = _quote_currencies(symbols)
        quote_total = sum((balances[c].total for c in quotes if c in balances), Decimal(0))
        return Equity(
            value=quote_total + at_market,
            source=EQUITY_BALANCE,
            details={
                "quote_balance": quote_total,
                "quote_currencies": quotes,
                "positions_value": at_market,
                "priced_at_cost": priced_at_cost,
            },
        )
    capital = limits.position_size_usd * max(limits.max_positions, 1)
    closed = Position.objects.filter(venue=venue, status=Position.Status.CLOSED)
    realized = closed.aggregate(total=Sum("realized_pnl"))["total"]
    realized = realized or Decimal(0)
    unrealized = at_market - sum((p.cost_basis for p in positions), Decimal(0))
    return Equity(
        value=capital + realized + unrealized,
        source=EQUITY_REALIZED,
        details={
            "capital": capital,
            "realized_pnl": realized,
            "unrealized_pnl": unrealized,
            "priced_at_cost": priced_at_cost,
        },
    )
