"""The offline risk rules: the live rule names and questions, answered from the simulated book."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from apps.backtest.rules import BacktestContext, SimBook, first_block, offline_rules
from apps.risk.rules import BACKTEST_RULES, PositionSize, TradingHours
from apps.risk.selectors import Limits
from tests.backtest.candles import MARKET, T0

LIMITS = Limits.from_settings()


def ctx(book: SimBook, now=T0, **limits) -> BacktestContext:
    from dataclasses import replace

    return BacktestContext(
        symbol="BTC/USDT",
        side="buy",
        now=now,
        broker=None,
        limits=replace(LIMITS, **limits),
        market=MARKET,
        price=Decimal("50000"),
        book=book,
    )


def test_offline_rules_keep_the_backtest_list_and_the_pure_rules():
    rules = offline_rules()
    assert [r.name for r in rules] == [r.name for r in BACKTEST_RULES]
    assert any(type(r) is TradingHours for r in rules) and any(type(r) is PositionSize for r in rules)


def test_consecutive_losses_pause_entries_for_the_cooldown():
    book = SimBook("BTC/USDT", closed=[(T0 + timedelta(minutes=i), Decimal("-1")) for i in range(3)])
    last = T0 + timedelta(minutes=2)
    block = first_block(offline_rules(), ctx(book, now=last + timedelta(minutes=10), max_consecutive_losses=3))
    assert block is not None and block.rule == "consecutive_losses"
    later = ctx(book, now=last + timedelta(minutes=61), max_consecutive_losses=3, loss_cooldown_min=60)
    assert first_block(offline_rules(), later) is None


def test_a_win_breaks_the_losing_streak():
    closed = [
        (T0, Decimal("-1")),
        (T0 + timedelta(minutes=1), Decimal("2")),
        (T0 + timedelta(minutes=2), Decimal("-1")),
    ]
    assert first_block(offline_rules(), ctx(SimBook("BTC/USDT", closed=closed), now=T0 + timedelta(minutes=3))) is None


def test_one_position_at_a_time_when_the_limit_is_one():
    block = first_block(offline_rules(), ctx(SimBook("BTC/USDT", position_open=True), max_positions=1))
    assert block is not None and block.rule == "max_positions"


def test_the_drawdown_stop_halts_entries_for_the_rest_of_the_run():
    book = SimBook("BTC/USDT", equity=Decimal(1000), peak=Decimal(1000))
    book.mark(Decimal(940), T0, Decimal(5))
    assert book.halted and book.drawdown_pct() == Decimal("6.0000")
    book.mark(Decimal(1000), T0 + timedelta(minutes=1), Decimal(5))  # recovering does not resume (as live)
    block = first_block(offline_rules(), ctx(book))
    assert block is not None and block.rule == "max_drawdown" and block.severity == "critical"


def test_a_passing_check_leaves_the_sizing():
    context = ctx(SimBook("BTC/USDT"))
    assert first_block(offline_rules(), context) is None
    assert context.sizing is not None and context.sizing.quote_amount == Decimal("100.0")
