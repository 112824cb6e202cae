"""Protective exits: armed by fills (`exit_sync`, apps.exits.arming), checked by a periodic pass
(`exits_check`), and the operator's close at market (`position_close`), all through one exit per position and
one order per attempt; every change of an exit row goes through apps.exits.transitions.exit_transition.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exchange.broker import Broker, ExchangeError
from apps.exits import notify
from apps.exits.arming import ACTIVE, PLACES, _average_fill_price, _snapshot, exit_arm, exit_sync
from apps.exits.levels import exit_levels, remember_price_places
from apps.exits.models import ProtectiveExit
from apps.exits.orders import advance, send_attempt, send_claimed
from apps.exits.stops import sync_stops
from apps.exits.transitions import claim, claim_many, exit_transition, run_safely
from apps.operations.shutdown import interruptible, stop_requested
from apps.trading.models import Order, Position
from apps.trading.venues import check_venue, venue_of

log = logging.getLogger(__name__)

S = ProtectiveExit.Status
R = ProtectiveExit.Reason


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


# --- the periodic pass -----------------------------------------------------------------------------------


def _decide(rows: list[tuple], prices: dict[str, Decimal]) -> list[tuple[int, str, Decimal]]:
    """(exit id, reason, last) of every armed exit the prices cross. Pure Python over value tuples."""
    hits: list[tuple[int, str, Decimal]] = []
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
    # One statement claims every crossed exit (another worker's pass gets none of these); their orders go out
    # together (apps.exits.orders.send_claimed).
    won = claim_many(hits=_decide(rows, result.prices), now=now, actor=actor)
    claimed = {exit_id for exit_id, _, _ in won}
    result.triggered += len(won)
    if won:
        run_safely("exits triggered", result.errors, send_claimed, claimed=won, broker=broker, actor=actor, now=now,
                   result=result)  # fmt: skip
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
            active = exit_arm(position=locked, entry=entry, stop=stop, take=take, now=now, actor=actor)
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
        exit_transition(
            exit_id=exit.pk,
            actor=actor,
            action="edit",
            when={"status": S.ARMED},
            before=before,
            after=_snapshot(exit),
            stop_loss_price=stop_loss,
            take_profit_price=take_profit,
        )
        exit.refresh_from_db()
    return exit


__all__ = [
    "ACTIVE",
    "PLACES",
    "ExitNotEditable",
    "ExitNotSent",
    "ExitsPassResult",
    "PositionNotOpen",
    "exit_levels_set",
    "exit_sync",
    "exits_check",
    "position_close",
]
