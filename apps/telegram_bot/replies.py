"""What each read-only command answers: sync functions that call the selectors and shape the text.

Handlers run these through `sync_to_async`; nothing here knows about Telegram objects.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from apps.exchange import services as exchange_services
from apps.exits.models import ProtectiveExit
from apps.monitoring.health import check_database, readiness
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.risk.models import RiskEvent
from apps.risk.selectors import trading_status
from apps.signals import selectors as signal_selectors
from apps.signals import services as signal_services
from apps.signals.models import Decision
from apps.telegram_bot.parsing import LIMIT_DEFAULT
from apps.trading.models import Fill, Order
from apps.trading.selectors import pnl_summary, positions_open, realized_pnl_since, realized_pnl_today
from apps.trading.venues import current_venue

logger = logging.getLogger(__name__)

HELP = """tradebot commands
/status — trading gate, positions, exits, today's PnL
/health — readiness of every component
/eval [SYMBOL] [TF] [LIMIT] — compute a decision now, without trading
/why [SYMBOL] [TF] [LIMIT] — the latest decision and why (fresh one if LIMIT is given)
/profit [SYMBOL] — PnL statistics and the equity chart
/positions [SYMBOL] — open positions
/exits — protective exits (stop-loss / take-profit) and performance per exit reason
/metrics — key figures of the last 24 hours
/test — smoke test: database, exchange, Redis, Celery
/balance — balances per currency and their value in the quote currency
/daily [N] [TZ], /weekly [N] [TZ], /monthly [N] [TZ] — realized PnL per day / week / month (TZ e.g. Europe/Berlin)
/performance — trades, win rate and PnL per pair, entry rule and exit reason
/entries — performance per entry rule
/trades [N] — the last closed trades: entry, exit, PnL, fees
/version — tradebot version and mode
Operators (trading chats): /stopentry [REASON] — stop opening positions now (exits keep running);
/pause [REASON], /resume [REASON], /close POSITION_ID, /closeall — each asks for confirmation."""


def num(value: Decimal | float | int | None, places: int | None = None) -> str:
    """A plain decimal string (never scientific notation); `places` rounds money for reading."""
    if value is None:
        return "—"
    value = Decimal(str(value)) if not isinstance(value, Decimal) else value
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
        return f"{value:,f}"
    text = f"{value.normalize():f}"
    return text


def signed(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "—"
    text = num(value, places)
    return text if text.startswith("-") else f"+{text}"


def _quote(symbol: str | None) -> str:
    return (symbol or settings.SYMBOLS[0]).split("/")[1]


def help_text() -> str:
    return HELP


def _tickers(symbols: list[str]) -> tuple[dict[str, Decimal], str]:
    """Last prices for `symbols`, best effort: ({}, why) when the exchange cannot be asked."""
    if not symbols:
        return {}, ""
    try:
        tickers = exchange_services.get_broker().fetch_tickers(sorted(set(symbols)))
    except Exception as exc:
        logger.warning("telegram: tickers unavailable: %s", exc)
        return {}, f"prices unavailable ({type(exc).__name__})"
    return {symbol: ticker.last for symbol, ticker in tickers.items()}, ""


def status_text() -> str:
    venue = current_venue()
    status = trading_status()
    gate = "🟢 entries allowed" if status.entries_allowed else "🔴 entries blocked"
    lines = [
        f"{gate}: {status.why}",
        f"mode {status.mode} · ENABLE_TRADING {'on' if status.enable_trading else 'off'} · "
        f"kill switch {'ON' if status.halted else 'off'}",
        f"symbols {', '.join(settings.SYMBOLS)} · timeframe {settings.TIMEFRAME}",
        f"open positions {positions_open().count()}/{settings.MAX_POSITIONS} · armed exits "
        f"{ProtectiveExit.objects.filter(status=ProtectiveExit.Status.ARMED, position__venue=venue).count()}",
        f"realized PnL today {signed(realized_pnl_today())} {_quote(None)}",
    ]
    if status.halted and status.halt_reason:
        lines.append(f"halt reason: {status.halt_reason}")
    return "\n".join(lines)


def health_text() -> str:
    report = readiness()
    icons = {"ok": "🟢", "degraded": "🟡", "down": "🔴"}
    lines = [f"{icons.get(report['status'], '⚪')} overall: {report['status']}"]
    for name, component in report["components"].items():
        detail = str(component.get("detail", ""))[:120]
        lines.append(
            f"{icons.get(component['status'], '⚪')} {name}: {component['status']} "
            f"({component.get('latency_ms', 0)} ms) {detail}".rstrip()
        )
    return "\n".join(lines)


def decision_text(decision: Any, *, explanation: str | None = None) -> str:
    lines = [
        f"{decision.symbol} {decision.timeframe}: {str(decision.action).upper()} · score {decision.score:+.3f}"
        + (f" · price {num(decision.price)}" if decision.price is not None else ""),
    ]
    if getattr(decision, "rule", ""):
        lines.append(f"rule: {decision.rule}")
    if getattr(decision, "risk_block", None):
        block = decision.risk_block
        lines.append(f"risk block: {block.get('rule', block) if isinstance(block, dict) else block}")
    text = explanation if explanation is not None else getattr(decision, "explanation", "")
    if text:
        lines.append(text.strip())
    stamp = getattr(decision, "created_at", None)
    lines.append(f"decision #{decision.pk}" + (f" at {stamp:%Y-%m-%d %H:%M:%S} UTC" if stamp else ""))
    return "\n".join(lines)[:4000]


def eval_text(symbol: str, timeframe: str, limit: int | None) -> str:
    return decision_text(_fresh_decision(symbol, timeframe, limit))


def _fresh_decision(symbol: str, timeframe: str, limit: int | None) -> Any:
    return signal_services.evaluate(
        symbol=symbol,
        timeframe=timeframe,
        limit=limit or LIMIT_DEFAULT,
        broker=exchange_services.get_broker(),
        source="telegram",
    )


def _explanation(decision: Any) -> str | None:
    explained = signal_selectors.decision_explain(decision)
    if isinstance(explained, str):
        return explained
    if isinstance(explained, dict):
        lines = [str(explained.get("summary") or explained.get("explanation") or "")]
        for key in ("contributions", "features"):
            part = explained.get(key)
            if isinstance(part, dict) and part:
                lines.append(f"{key}: " + ", ".join(f"{k} {_short(v)}" for k, v in list(part.items())[:12]))
        return "\n".join(line for line in lines if line)
    return None


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:+.3f}"
    return str(value)[:24]


def why_text(symbol: str, timeframe: str, limit: int | None) -> str:
    """The latest stored decision for symbol/timeframe with its full explanation; a fresh one if asked."""
    decision = None
    if limit is None:
        decision = signal_selectors.decision_latest(symbol=symbol, timeframe=timeframe)
    fresh = decision is None
    if fresh:
        decision = _fresh_decision(symbol, timeframe, limit)
    text = decision_text(decision, explanation=_explanation(decision))
    return ("(fresh decision)\n" if fresh else "") + text


def profit_report(symbol: str | None) -> tuple[str, bytes]:
    """Caption and PNG chart for /profit."""
    # start-up cost: matplotlib loads only to draw a chart
    from apps.telegram_bot.chart import equity_chart_png

    prices, note = _tickers(list(positions_open(symbol).values_list("symbol", flat=True)))
    summary = pnl_summary(symbol=symbol, prices=prices or None)
    quote = _quote(symbol)
    lines = [
        f"PnL {symbol or 'all symbols'} ({quote})",
        f"realized {signed(summary.realized_pnl)} · unrealized {signed(summary.unrealized_pnl)}",
        f"fees {num(summary.fees, 2)} · max drawdown {num(summary.max_drawdown, 2)}",
        f"closed {summary.closed_positions} (won {summary.wins}, lost {summary.losses}) · open "
        f"{summary.open_positions}",
        f"win rate {num(summary.win_rate, 2)}% · profit factor {num(summary.profit_factor, 2)}",
        f"avg win {signed(summary.average_win)} · avg loss {signed(summary.average_loss)}",
        f"best {signed(summary.best)} · worst {signed(summary.worst)}",
    ]
    if note:
        lines.append(note)
    png = equity_chart_png(summary.equity_curve, title=f"Cumulative realized PnL — {symbol or 'all'}", currency=quote)
    return "\n".join(lines)[:1024], png


def positions_text(symbol: str | None) -> str:
    positions = list(positions_open(symbol).order_by("symbol"))
    if not positions:
        return f"No open positions{f' for {symbol}' if symbol else ''}."
    prices, note = _tickers([p.symbol for p in positions])
    exits = {
        e.position_id: e
        for e in ProtectiveExit.objects.filter(
            position__in=positions, status__in=[ProtectiveExit.Status.ARMED, ProtectiveExit.Status.TRIGGERED]
        )
    }
    lines = [f"Open positions ({len(positions)})"]
    for p in positions:
        line = f"#{p.pk} {p.symbol} {num(p.amount)} @ {num(p.average_entry_price)} · cost {num(p.cost_basis, 2)}"
        last = prices.get(p.symbol)
        if last is not None:
            line += f" · last {num(last)} · uPnL {signed(p.amount * last - p.cost_basis)}"
        exit_ = exits.get(p.pk)
        if exit_:
            line += f"\n   exit {exit_.status}: SL {num(exit_.stop_loss_price)} / TP {num(exit_.take_profit_price)}"
        lines.append(line)
    if note:
        lines.append(note)
    return "\n".join(lines)[:4000]


def exits_text() -> str:
    mine = ProtectiveExit.objects.filter(position__venue=current_venue())  # the running mode's books
    active = list(
        mine.filter(status__in=[ProtectiveExit.Status.ARMED, ProtectiveExit.Status.TRIGGERED]).order_by("symbol", "id")[
            :30
        ]
    )
    since = timezone.now() - timedelta(hours=24)
    recent = list(
        mine.filter(
            status__in=[ProtectiveExit.Status.FILLED, ProtectiveExit.Status.FAILED], updated_at__gte=since
        ).order_by("-updated_at")[:10]
    )
    lines = [f"Protective exits: {len(active)} active"]
    for e in active:
        line = (
            f"#{e.pk} {e.symbol} pos #{e.position_id} {e.status}: SL {num(e.stop_loss_price)} / TP "
            f"{num(e.take_profit_price)}"
        )
        if e.exchange_stop_order_id:
            line += " · stop on exchange"
        if e.status == ProtectiveExit.Status.TRIGGERED:
            line += f" · {e.trigger_reason} at {num(e.trigger_price)}"
        lines.append(line)
    if recent:
        lines.append("Last 24 h:")
        for e in recent:
            lines.append(f"#{e.pk} {e.symbol} {e.status} {e.trigger_reason or ''} {num(e.trigger_price)}".rstrip())
    return "\n".join(lines)[:4000]


def metrics_text() -> str:
    """Key figures of the last 24 hours, from the database (shared by every process, unlike counters)."""

    since = timezone.now() - timedelta(hours=24)
    venue = current_venue()  # the books of the running mode only
    orders = dict(
        Order.objects.filter(venue=venue, created_at__gte=since).values_list("status").annotate(n=Count("id"))
    )
    decisions = dict(Decision.objects.filter(created_at__gte=since).values_list("action").annotate(n=Count("id")))
    blocks = RiskEvent.objects.filter(created_at__gte=since).values_list("rule").annotate(n=Count("id"))
    triggered = ProtectiveExit.objects.filter(triggered_at__gte=since, position__venue=venue).count()
    run = ReconciliationRun.objects.order_by("-started_at").first()
    lines = [
        "Last 24 h",
        f"orders {sum(orders.values())}: " + (", ".join(f"{k} {v}" for k, v in sorted(orders.items())) or "none"),
        f"fills {Fill.objects.filter(venue=venue, executed_at__gte=since).count()}",
        f"decisions {sum(decisions.values())}: "
        + (", ".join(f"{k} {v}" for k, v in sorted(decisions.items())) or "none")
        + f" · executed {Decision.objects.filter(created_at__gte=since, executed=True).count()}",
        "risk blocks: " + (", ".join(f"{rule} {n}" for rule, n in sorted(blocks, key=lambda r: -r[1])[:5]) or "none"),
        f"exits triggered {triggered} · armed now "
        f"{ProtectiveExit.objects.filter(status=ProtectiveExit.Status.ARMED, position__venue=venue).count()}",
        f"open positions {positions_open().count()} · realized PnL {signed(realized_pnl_since(since))}",
    ]
    if run:
        lines.append(
            f"reconciliation #{run.pk} {run.status} at {run.started_at:%H:%M:%S} UTC: checked {run.checked}, "
            f"fixed {run.fixed}, imported {run.imported}, missing {run.missing}; open discrepancies "
            f"{Discrepancy.objects.filter(resolved=False).count()}"
        )
    else:
        lines.append("reconciliation: no run yet")
    return "\n".join(lines)


def smoke_test_text() -> str:
    """One line per dependency: database, exchange, Redis, Celery."""

    def run(name: str, check) -> str:
        try:
            status, detail = check()
        except Exception as exc:
            status, detail = "fail", f"{type(exc).__name__}: {str(exc)[:150]}"
        icon = {"ok": "✅", "warn": "⚠️", "n/a": "➖"}.get(status, "❌")
        return f"{icon} {name}: {detail}"

    lines = ["Smoke test"] + [
        run("database", check_database),
        run("exchange", _check_exchange),
        run("redis", _check_redis),
        run("celery", _check_celery),
    ]
    return "\n".join(lines)


def _check_exchange() -> tuple[str, str]:
    broker = exchange_services.get_broker()
    symbol = settings.SYMBOLS[0]
    ticker = broker.fetch_ticker(symbol)
    return "ok", f"{getattr(broker, 'name', 'broker')} {symbol} last {num(ticker.last)}"


def _check_redis() -> tuple[str, str]:
    if not settings.REDIS_URL:
        return "n/a", "not configured (embedded default in use)"

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    client.ping()
    return "ok", "PING answered"


def _check_celery() -> tuple[str, str]:
    # start-up order: the Celery app module sets Django up itself
    from celery_app import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
    if not settings.REDIS_URL:
        return "ok", "embedded transport reachable (workers cannot be pinged on it)"
    replies = app.control.ping(timeout=1.0) or []
    if not replies:
        return "warn", "broker reachable, no worker answered the ping"
    return "ok", f"{len(replies)} worker(s) answered"
