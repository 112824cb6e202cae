"""What the report commands answer (/balance, /daily, /weekly, /monthly, /performance, /entries, /exits, /trades,
/version):
sync functions over `apps.reports.selectors` that shape the text. Nothing here knows about Telegram objects."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from apps.exchange import services as exchange_services
from apps.monitoring.metrics import VERSION
from apps.reports import selectors
from apps.telegram_bot.replies import num, signed

LIMIT = 4000  # Telegram's message is 4096 characters
BAR_WIDTH = 12


def _fit(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text if len(text) <= LIMIT else text[: LIMIT - 2] + " …"


def balance_text() -> str:
    report = selectors.balances_report(broker=exchange_services.get_broker())
    lines = [f"Balances ({report.source}), valued in {report.quote}"]
    if not report.rows:
        lines.append("no balance")
    for row in report.rows:
        line = f"{row.currency}: {num(row.total)} (free {num(row.free)}, in orders {num(row.used)})"
        if row.currency != report.quote:
            line += f" ≈ {num(row.quote_value, 2)} {report.quote}" if row.quote_value is not None else " · no price"
        lines.append(line)
    lines.append(f"total ≈ {num(report.total_quote, 2)} {report.quote}")
    if report.unpriced:
        lines.append(f"not counted (no {report.quote} market traded): {', '.join(report.unpriced)}")
    return _fit(lines)


def period_text(period: str, count: int, tz: str | None) -> str:
    """One line per period, oldest first, with a text bar scaled to the largest absolute PnL."""
    rows = selectors.pnl_by_period(period=period, count=count, tz=tz)
    quote = settings.SYMBOLS[0].split("/")[1]
    title = {"day": "Daily", "week": "Weekly", "month": "Monthly"}[period]
    widest = max((abs(r.realized_pnl) for r in rows), default=0) or 1
    lines = [f"{title} realized PnL ({quote}, {tz or 'UTC'}), last {count}"]
    for row in rows:
        bar = ("▇" if row.realized_pnl >= 0 else "▁") * round(BAR_WIDTH * abs(row.realized_pnl) / widest)
        label = row.start.strftime("%Y-%m") if period == "month" else row.start.isoformat()
        lines.append(f"{label} {signed(row.realized_pnl):>10} · {row.trades} trades {bar}".rstrip())
    total = sum((r.realized_pnl for r in rows), Decimal(0))
    lines.append(f"total {signed(total)} over {sum(r.trades for r in rows)} trades")
    return _fit(lines)


GROUP_TITLES = {"pair": "per pair", "entry_rule": "per entry rule", "exit_reason": "per exit reason"}


def _performance_lines(by: str) -> list[str]:
    rows = selectors.performance(by=by)
    lines = [f"Performance {GROUP_TITLES[by]}"]
    if not rows:
        return [*lines, "no closed trade yet"]
    for r in rows[:15]:
        lines.append(
            f"{r.key}: {r.trades} trades, win {num(r.win_rate, 1)}% · PnL {signed(r.pnl)} · avg {signed(r.average)}"
        )
    return lines


def performance_text() -> str:
    lines: list[str] = []
    for by in GROUP_TITLES:
        group = _performance_lines(by)
        lines.extend(group)
        if group[-1] == "no closed trade yet":
            break  # no trade at all: the other groups would say the same
    return _fit(lines)


def entries_text() -> str:
    """/entries: Freqtrade's per-entry-rule performance (the decision's policy rule, or operator / external)."""
    return _fit(_performance_lines("entry_rule"))


def exit_reasons_text() -> str:
    """The per-exit-reason performance (stop_loss, take_profit, exchange_stop, signal, operator)."""
    return _fit(_performance_lines("exit_reason"))


def trades_text(count: int) -> str:
    total, rows = selectors.trades_closed(limit=count)
    if not rows:
        return "No closed trades yet."
    lines = [f"Closed trades: the last {len(rows)} of {total}"]
    for r in rows:
        lines.append(
            f"#{r.position_id} {r.symbol} {num(r.amount)} · in {num(r.entry_price)} → out {num(r.exit_price)} · "
            f"PnL {signed(r.realized_pnl)} · fees {num(r.fees_quote, 2)} · {r.entry_rule} / {r.exit_reason}"
            + (f" · {r.closed_at:%Y-%m-%d %H:%M} UTC" if r.closed_at else "")
        )
    return _fit(lines)


def version_text() -> str:
    return f"tradebot {VERSION} · mode {settings.MODE} · exchange {settings.EXCHANGE}"
