"""The live risk rules, run offline: the same classes where they are pure, subclasses reading a simulated book
where the live rule reads our tables.

`TradingHours` and `PositionSize` only look at the context (clock, limits, market, price) and run unchanged.
`ConsecutiveLosses`, `MaxOpenPositions` and `MaxDrawdown` read positions and the kill switch from the
database; their offline versions keep the rule's name, question and message but read `SimBook` instead,
so a backtest never reads or writes the live book (no RiskEvent, no kill switch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from apps.risk.rules import (
    BACKTEST_RULES,
    ConsecutiveLosses,
    MaxDrawdown,
    MaxOpenPositions,
    RiskBlock,
    RiskContext,
    Rule,
)

PCT_PLACES = Decimal("0.0001")  # as apps.risk.services.drawdown_update


@dataclass
class SimBook:
    """The simulated account the offline rules read: open position, closed trades, equity peak, halt."""

    symbol: str
    position_open: bool = False
    closed: list[tuple[datetime, Decimal]] = field(default_factory=list)  # (closed_at, realized pnl)
    equity: Decimal = Decimal(0)
    peak: Decimal = Decimal(0)
    halted: bool = False
    halted_at: datetime | None = None
    # Running counters for the consecutive-loss rule: the losing streak at the end of `closed` and its last
    # trades' PnL, so the rule answers in constant time instead of rescanning every closed trade.
    streak: int = 0
    recent: list[Decimal] = field(default_factory=list)

    def __post_init__(self) -> None:
        for _at, pnl in list(self.closed):
            self._count(pnl)

    def record_close(self, at: datetime, pnl: Decimal) -> None:
        """A trade closed at `at` with realized `pnl` (closes arrive in time order)."""
        self.closed.append((at, pnl))
        self._count(pnl)

    def _count(self, pnl: Decimal) -> None:
        self.streak = self.streak + 1 if pnl < 0 else 0
        self.recent.append(pnl)
        if len(self.recent) > 64:
            del self.recent[:-32]

    def mark(self, equity: Decimal, now: datetime, limit_pct: Decimal) -> None:
        """The periodic drawdown check: track the peak; at the limit, stop entries for the rest of the run
        (live, an operator would have to resume)."""
        self.equity = equity
        if equity > self.peak:
            self.peak = equity
        if not self.halted and self.drawdown_pct() >= limit_pct:
            self.halted, self.halted_at = True, now

    def drawdown_pct(self) -> Decimal:
        if self.peak <= 0:
            return Decimal(0)
        return ((self.peak - self.equity) / self.peak * 100).quantize(PCT_PLACES)


@dataclass
class BacktestContext(RiskContext):
    """A RiskContext with no broker: market, price and equity given, and the simulated book."""

    book: SimBook | None = None


class OfflineConsecutiveLosses(ConsecutiveLosses):
    def check(self, ctx: RiskContext) -> RiskBlock | None:
        book = _book(ctx)
        n = ctx.limits.max_consecutive_losses
        if book.closed and book.closed[-1][0] > ctx.now:  # a book with closes after `now` (not the engine's)
            book = SimBook(book.symbol, closed=[t for t in book.closed if t[0] <= ctx.now])
        if book.streak < n:
            return None
        last_loss_at = book.closed[-1][0]
        until = last_loss_at + timedelta(minutes=ctx.limits.loss_cooldown_min)
        if ctx.now >= until:
            return None
        pnls = book.recent[-n:] if n <= len(book.recent) else [pnl for _, pnl in book.closed[-n:]]
        return self.block(
            f"{n} losing trades in a row; entries paused until {until:%Y-%m-%d %H:%M} UTC",
            losses=n,
            realized_pnl=[str(pnl) for pnl in pnls],
            last_loss_at=last_loss_at.isoformat(),
            until=until.isoformat(),
            cooldown_min=ctx.limits.loss_cooldown_min,
        )


class OfflineMaxOpenPositions(MaxOpenPositions):
    def check(self, ctx: RiskContext) -> RiskBlock | None:
        book = _book(ctx)
        count, limit = int(book.position_open), ctx.limits.max_positions
        if count < limit:
            return None
        return self.block(
            f"{count} open position(s), the limit is {limit}",
            open_positions=count,
            limit=limit,
            symbol_has_position=book.position_open,
        )


class OfflineMaxDrawdown(MaxDrawdown):
    def check(self, ctx: RiskContext) -> RiskBlock | None:
        book = _book(ctx)
        if not book.halted:
            return None
        return self.block(
            f"drawdown {book.drawdown_pct():.2f}% from the equity peak {book.peak} reached the limit of "
            f"{ctx.limits.max_drawdown_pct}%: trading halted",
            severity="critical",
            equity=str(book.equity),
            peak=str(book.peak),
            halted_at=book.halted_at.isoformat() if book.halted_at else None,
        )


_OFFLINE: dict[type[Rule], type[Rule]] = {
    ConsecutiveLosses: OfflineConsecutiveLosses,
    MaxOpenPositions: OfflineMaxOpenPositions,
    MaxDrawdown: OfflineMaxDrawdown,
}


def offline_rules(rules: Sequence[Rule] = BACKTEST_RULES) -> tuple[Rule, ...]:
    """BACKTEST_RULES in their order, each database-bound rule swapped for its offline version."""
    return tuple(_OFFLINE[type(r)]() if type(r) in _OFFLINE else r for r in rules)


def first_block(rules: Sequence[Rule], ctx: RiskContext) -> RiskBlock | None:
    """The first rule that refuses the entry, as `risk_check` walks them; None when every rule passes."""
    for rule in rules:
        block = rule.check(ctx)
        if block is not None:
            return block
    return None


def _book(ctx: RiskContext) -> SimBook:
    book = getattr(ctx, "book", None)
    if book is None:
        raise ValueError("offline risk rules need a BacktestContext with a SimBook")
    return book
