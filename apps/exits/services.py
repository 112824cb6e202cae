"""Protective exits: armed by fills (`exit_sync`), checked by a periodic pass (`exits_check`), and the
operator's close at market (`position_close`), all through one exit per position and one order per attempt.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exchange.broker import Broker, ExchangeError
from apps.exits import notify
from apps.exits.levels import exit_levels, remember_price_places
from apps.exits.models import ProtectiveExit
from apps.exits.orders import advance, claim, run_safely, send_attempt
from apps.operations.shutdown import interruptible, stop_requested
from apps.trading.models import Fill, Order, Position, Side
from apps.trading.venues import check_venue, venue_of

log = logging.getLogger(__name__)

S = ProtectiveExit.Status
R = ProtectiveExit.Reason
ACTIVE = (S.ARMED, S.TRIGGERED)
PLACES = Decimal("1e-16")
SAME_PRICE = Decimal("1e-12")


class PositionNotOpen(ValueError):
    """The position is already closed (or holds nothing): there is nothing to sell."""


class ExitNotSent(RuntimeError):
    """The close was accepted but no order could be sent now; the exits pass keeps trying."""


@dataclass
class ExitsPassResult:
    checked: int = 0  # armed exits compared with the prices
    symbols: int = 0
    tickers_calls: int = 0
    triggered: int = 0  # exits this pass claimed (armed -> triggered)
    orders_sent: int = 0
    in_progress: int = 0  # triggered exits looked after (earlier triggers, retries)
    stuck: int = 0
    failed: int = 0
    stops_placed: int = 0
    stops_cancelled: int = 0
    stops_fired: int = 0
    errors: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    prices: dict[str, Decimal] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("prices")
        data["ok"] = self.ok
        return data


# --- arming, re-pricing, retiring (called by fill_apply inside its transaction) --------------------------


def _snapshot(exit: ProtectiveExit) -> dict:
    return {
        "status": exit.status,
        "entry_price": str(exit.entry_price),
        "stop_loss_price": str(exit.stop_loss_price),
        "take_profit_price": str(exit.take_profit_price),
    }


def _closed_by_own_order(exit: ProtectiveExit, position_id: int) -> bool:
    """Did the sell that closed the position come from this exit (any attempt, or its exchange stop)?"""
    last = (
        Fill.objects.filter(order__position_id=position_id, side=Side.SELL)
        .order_by("-executed_at", "-id")
        .values_list("order_id", "order__intent")
        .first()
    )
    if last is None:
        return False
    order_id, intent = last
    return order_id == exit.exit_order_id or (intent or "").startswith(f"exit:{exit.pk}:")


def _average_fill_price(position_id: int) -> Decimal:
    """The actual average price the position's entries filled at (fees aside): what the levels are set from."""
    totals = Fill.objects.filter(order__position_id=position_id, side=Side.BUY).aggregate(
        cost=Sum("cost"), amount=Sum("amount")
    )
    if not totals["amount"]:
        return Decimal(0)
    return (totals["cost"] / totals["amount"]).quantize(PLACES)


def exit_sync(*, position_id: int, actor: Actor) -> ProtectiveExit | None:
    """Bring the position's exit in line with the position: arm at STOP_LOSS_PCT / TAKE_PROFIT_PCT from the
    actual average fill price of its entries, re-price an armed exit after more entry fills, and retire the exit
    when the position closes (filled by its own order, cancelled otherwise). Idempotent; no network."""
    with transaction.atomic():
        position = Position.objects.select_for_update().get(pk=position_id)
        active = ProtectiveExit.objects.select_for_update().filter(position_id=position_id, status__in=ACTIVE).first()
        now = timezone.now()
        if position.status == Position.Status.OPEN and position.amount > 0:
            entry = _average_fill_price(position_id)
            # (a tolerance, not ==: SQLite keeps about 15 significant digits of a decimal)
            unchanged = active is not None and abs(active.entry_price - entry) <= entry * SAME_PRICE
            if entry <= 0 or (active is not None and (active.status != S.ARMED or unchanged)):
                return active
            stop, take = exit_levels(position.symbol, entry)
            if active is None:
                active = ProtectiveExit.objects.create(
                    position=position,
                    symbol=position.symbol,
                    entry_price=entry,
                    stop_loss_price=stop,
                    take_profit_price=take,
                    armed_at=now,
                )
                audit_record(actor=actor, action="exit.arm", obj=active, after=_snapshot(active))
                return active
            before = _snapshot(active)
            active.entry_price, active.stop_loss_price, active.take_profit_price = entry, stop, take
            active.save(update_fields=["entry_price", "stop_loss_price", "take_profit_price", "updated_at"])
            audit_record(actor=actor, action="exit.reprice", obj=active, before=before, after=_snapshot(active))
            return active
        if active is None or position.status == Position.Status.OPEN:
            return active
        before = _snapshot(active)
        if active.status == S.TRIGGERED and _closed_by_own_order(active, position_id):
            active.status, active.filled_at = S.FILLED, position.closed_at or now
            pnl = position.realized_pnl
            notify.alert(
                kind="exit_filled",
                key=f"exit-filled:{active.pk}",
                severity="info",
                text=f"Exit filled: {position.symbol} {active.get_trigger_reason_display()} #{active.pk}, "
                f"position #{position.pk} closed, realized PnL {pnl.normalize():f} {position.quote_currency} "
                f"after fees.",
            )
        else:
            active.status, active.cancelled_at = S.CANCELLED, now
        active.save(update_fields=["status", "filled_at", "cancelled_at", "updated_at"])
        audit_record(actor=actor, action=f"exit.{active.status}", obj=active, before=before, after=_snapshot(active))
        return active


# --- the periodic pass -----------------------------------------------------------------------------------


def _decide(rows: list[tuple], prices: dict[str, Decimal]) -> list[tuple[int, str, Decimal]]:
    """(exit id, reason, last) of every armed exit the prices cross. Pure Python over value tuples."""
    hits = []
    for exit_id, symbol, stop, take in rows:
        last = prices.get(symbol)
        if last is None:
            continue
        if last <= stop:
            hits.append((exit_id, R.STOP_LOSS, last))
        elif last >= take:
            hits.append((exit_id, R.TAKE_PROFIT, last))
    return hits


def exits_check(*, broker: Broker, actor: Actor, now: datetime | None = None) -> ExitsPassResult:
    """One pass: one tickers call for every symbol with an armed exit, one exit order per crossed exit,
    then triggered exits are followed up (refresh, retry, stuck, failed) and exchange-side stops synced.
    Safe with several workers at once: see apps.exits.orders. Only the exits of the broker's venue are seen:
    a paper position is never sold on the exchange, a live one never on paper."""
    started = time.perf_counter()
    now = now or timezone.now()
    result = ExitsPassResult()
    mine = ProtectiveExit.objects.filter(position__venue=venue_of(broker))
    rows = list(mine.filter(status=S.ARMED).values_list("id", "symbol", "stop_loss_price", "take_profit_price"))
    in_progress = list(mine.filter(status=S.TRIGGERED).select_related("exit_order"))
    symbols = sorted({row[1] for row in rows} | {e.symbol for e in in_progress})
    result.checked, result.symbols = len(rows), len(symbols)
    if symbols:
        try:
            result.tickers_calls += 1
            with interruptible():  # nothing sent yet: a stopping worker leaves this pass to the next one
                tickers = broker.fetch_tickers(symbols)
            result.prices = {s: t.last for s, t in tickers.items() if t.last is not None and t.last > 0}
        except ExchangeError as exc:
            result.errors.append(f"tickers: {exc}")
        # The markets are loaded for the tickers anyway: learn the traded symbols' price steps for exit_sync.
        _remember_precision(broker, sorted(set(symbols) | set(settings.SYMBOLS)))
    claimed = set()
    for exit_id, reason, last in _decide(rows, result.prices):
        if not claim(exit_id=exit_id, reason=reason, price=last, now=now, actor=actor):
            continue  # another worker got it
        result.triggered += 1
        claimed.add(exit_id)
        context = {"broker": broker, "actor": actor, "now": now, "result": result, "last": last}
        run_safely(f"exit {exit_id}", result.errors, send_attempt, exit_id=exit_id, **context)
    if stop_requested():
        # The exits just triggered are sent; follow-ups and the exchange-side stops wait for the next pass, so
        # the worker stops within its 30 s.
        in_progress = []
        result.errors.append("worker stopping: follow-ups and stop sync left to the next pass")
    for exit in in_progress:
        if exit.pk in claimed:
            continue
        result.in_progress += 1
        context = {
            "broker": broker,
            "actor": actor,
            "now": now,
            "result": result,
            "last": result.prices.get(exit.symbol),
        }
        run_safely(f"exit {exit.pk}", result.errors, advance, exit=exit, **context)
    from apps.exits.stops import sync_stops

    if not stop_requested():
        sync_stops(broker=broker, actor=actor, now=now, result=result)
    result.duration_ms = (time.perf_counter() - started) * 1000
    notify.set_gauges(armed=len(rows) - result.triggered, stuck=result.stuck)
    notify.observe_pass(result.duration_ms / 1000)
    if result.triggered or result.stuck or result.failed or result.errors:
        log.info("exits pass: %s", result.as_dict())
    return result


def _remember_precision(broker: Broker, symbols: list[str]) -> None:
    places = {}
    for symbol in symbols:
        try:
            places[symbol] = broker.market(symbol).price_precision
        except Exception:  # markets not loadable now: levels fall back to significant digits
            return
    try:
        remember_price_places(places)
    except Exception:
        log.warning("exits: price precision not cached", exc_info=True)


# --- the operator's close at market ----------------------------------------------------------------------


def position_close(*, position: Position, broker: Broker, actor: Actor) -> Order:
    """Sell the whole position at market now (admin, API and Telegram call this). Goes through the position's
    one active exit (reason `operator`), so it never races a stop-loss into a second sell. Raises
    PositionNotOpen for a closed position, ExitNotSent when no order could be sent now, WrongVenue (nothing
    changed) for a position of other books than the broker's."""
    check_venue(venue=position.venue, broker=broker, what=f"position #{position.pk} {position.symbol}")
    now = timezone.now()
    with transaction.atomic():
        locked = Position.objects.select_for_update().get(pk=position.pk)
        if locked.status != Position.Status.OPEN or locked.amount <= 0:
            raise PositionNotOpen(f"position #{locked.pk} {locked.symbol} is already closed; nothing to sell")
        active = ProtectiveExit.objects.filter(position_id=locked.pk, status__in=ACTIVE).first()
        if active is None:
            entry = _average_fill_price(locked.pk) or locked.average_entry_price
            stop, take = exit_levels(locked.symbol, entry)
            active = ProtectiveExit.objects.create(
                position=locked,
                symbol=locked.symbol,
                entry_price=entry,
                stop_loss_price=stop,
                take_profit_price=take,
                armed_at=now,
            )
        exit_id = active.pk
    claimed = claim(exit_id=exit_id, reason=R.OPERATOR, price=None, now=now, actor=actor)
    audit_record(actor=actor, action="position.close", obj=locked, message="" if claimed else "exit already running")
    result = ExitsPassResult()
    if claimed:
        order = send_attempt(exit_id=exit_id, broker=broker, actor=actor, now=now, result=result, last=None)
    else:  # a stop-loss or take-profit is already selling it: follow that one up instead of a second sell
        exit = ProtectiveExit.objects.select_related("exit_order").get(pk=exit_id)
        if exit.status == S.TRIGGERED:
            advance(exit=exit, broker=broker, actor=actor, now=now, result=result, last=None)
        order = ProtectiveExit.objects.get(pk=exit_id).exit_order
    if order is None:
        exit = ProtectiveExit.objects.get(pk=exit_id)
        raise ExitNotSent(f"position #{locked.pk}: no exit order sent ({exit.status}: {exit.last_error or 'retrying'})")
    return order


class ExitNotEditable(ValueError):
    """The exit is no longer armed (it fired, filled or was retired), or the levels make no sense."""


def exit_levels_set(*, exit_id: int, stop_loss: Decimal, take_profit: Decimal, actor: Actor) -> ProtectiveExit:
    """An operator moves an armed exit's stop-loss and take-profit. Only while armed (a triggered exit is
    already selling); 0 < stop-loss < take-profit. The exits pass re-places an exchange-side stop that no
    longer matches. Audited with both levels before and after."""
    if stop_loss is None or take_profit is None or stop_loss <= 0 or take_profit <= 0:
        raise ExitNotEditable("stop-loss and take-profit must both be positive prices")
    if stop_loss >= take_profit:
        raise ExitNotEditable(f"stop-loss {stop_loss} must be below take-profit {take_profit}")
    with transaction.atomic():
        exit = ProtectiveExit.objects.select_for_update().get(pk=exit_id)
        if exit.status != S.ARMED:
            raise ExitNotEditable(f"exit #{exit.pk} is {exit.status}, not armed: its levels can no longer change")
        before = _snapshot(exit)
        exit.stop_loss_price, exit.take_profit_price = stop_loss, take_profit
        exit.save(update_fields=["stop_loss_price", "take_profit_price", "updated_at"])
        audit_record(actor=actor, action="exit.edit", obj=exit, before=before, after=_snapshot(exit))
    return exit
