"""Reconciliation: keep our orders, fills and positions equal to the exchange's, and say what differed.

Open orders of every pair are read in one call (GET /spot/open_orders), which also finds pairs outside
SYMBOLS where someone placed orders by hand; pairs where a balance is held are looked at too. Per symbol,
everything is read first in a few batched list calls (finished orders over the window, our trades only when
some order needs them); then each order that differs is corrected in its own transaction through the
trading services. An exchange error stops that symbol before its corrections start (so every order is either
fully corrected or untouched), is recorded, and the run goes on with the other symbols and the balance
check; the run is then `failed`. An order is never concluded gone from a list that may be incomplete: each
live order missing from the lists is read by its id first. Two runs at once are safe: each correction
re-checks the locked row, fills are idempotent per trade id, imports per exchange id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.exchange.broker import Broker, ExchangeError, OrderNotFound
from apps.exchange.types import Balance, ExchangeOrder
from apps.monitoring import metrics
from apps.notifications import notify
from apps.operations.locks import Heartbeat, Lease, lease_free
from apps.operations.shutdown import ShutdownRequested, interruptible, raise_if_stopping
from apps.reconciliation import healing
from apps.reconciliation.balances import check_balance
from apps.reconciliation.exchange_view import (
    CallCounter,
    OpenList,
    SymbolView,
    read_all_open,
    read_orders,
    read_trades,
)
from apps.reconciliation.healing import Context, Outcome
from apps.reconciliation.matching import (
    LocalIndex,
    LocalOrder,
    Matching,
    load_local,
    match_orders,
    needs_trades,
    needs_work,
)
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.trading.models import LIVE_STATUSES, TERMINAL_STATUSES, Order, OrderStatus, Position
from apps.trading.services import CLIENT_ID_PREFIX
from apps.trading.venues import current_venue, venue_of

log = logging.getLogger(__name__)

# A live order changed this recently may not be listed yet: its absence proves nothing (Gate.io drops a
# request older than x-gate-exptime, 10 s, so two minutes is ample).
ABSENCE_GRACE = timedelta(minutes=2)
# Our order rows are written just before the exchange's; both clocks may be a little off.
WINDOW_MARGIN = timedelta(minutes=5)
# The window grows to cover our oldest live order, but not beyond what Gate.io lists.
MAX_WINDOW = timedelta(days=30)
# Live orders missing from the lists are read one by one before anything is concluded; at most this many a
# symbol per run (the rest wait for the next run).
MAX_ABSENT_READS = 50
# A worker asked to stop checks between symbols and every STEP_CHUNK corrections (each its own transaction).
STEP_CHUNK = 50
# Each run holds a lease named after it while it lives: a `running` run whose lease lapsed belongs to a
# process that died, and the next run closes it as failed.
RUN_LEASE_PREFIX = "reconciliation.run:"
UNRESOLVED_KINDS = {Discrepancy.Kind.EXTERNAL, Discrepancy.Kind.MISSING_ON_EXCHANGE, Discrepancy.Kind.BALANCE}


@dataclass
class Tally:
    checked: int = 0
    fixed: int = 0
    imported: int = 0
    missing: int = 0
    repeated: int = 0  # problems still open from earlier runs
    found: list[Discrepancy] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.fixed += outcome.fixed
        self.imported += outcome.imported
        self.missing += outcome.missing
        self.repeated += outcome.repeated
        self.found.extend(outcome.found)


def reconciliation_symbols(
    symbols: list[str] | tuple[str, ...] | None = None, *, venue: str | None = None
) -> list[str]:
    """The configured symbols plus every symbol we have a live order in on `venue` (sorted, no duplicates)."""
    chosen = set(symbols if symbols is not None else settings.SYMBOLS)
    if symbols is None:
        live = Order.objects.filter(venue=venue or current_venue(), status__in=LIVE_STATUSES)
        chosen |= set(live.values_list("symbol", flat=True).distinct())
    return sorted(chosen)


def reconcile(
    *,
    broker: Broker,
    actor: Actor,
    trigger: str = "schedule",
    symbols: list[str] | tuple[str, ...] | None = None,
    now: datetime | None = None,
    lookback_hours: int | None = None,
    discover: bool | None = None,
) -> ReconciliationRun:
    """One reconciliation pass over `symbols` (default: SYMBOLS plus those of our live orders).

    `discover` (default: when `symbols` is not given) also reconciles the pairs outside them where the exchange
    lists open orders or where a balance is held, importing what it finds there as external. Returns the
    stored run; a run that met an error is returned with status `failed` and the errors, and every correction
    made before or after them (other symbols, the balance check) stays whole."""
    now = now or timezone.now()
    hours = lookback_hours or settings.RECONCILE_LOOKBACK_HOURS
    discover = symbols is None if discover is None else discover
    venue = venue_of(broker)  # the broker's books only: a live pass never touches paper orders, nor the reverse
    chosen = reconciliation_symbols(symbols, venue=venue)
    close_abandoned_runs()
    # The run and its lease appear together (one transaction), so no other run can see it `running` unleased.
    with transaction.atomic():
        run = ReconciliationRun.objects.create(started_at=now, trigger=trigger, symbols=chosen, venue=venue)
        lease = Lease(f"{RUN_LEASE_PREFIX}{run.pk}")
        lease.acquire()
    # The lease is renewed while this run lives; a stopping worker cuts the run at its next exchange request
    # (interruptible: reads only), so a SIGTERM is answered within seconds.
    heartbeat = Heartbeat(lease).start()
    try:
        with interruptible():
            _reconcile_run(run, broker, actor, chosen, now, hours, discover)
    finally:
        heartbeat.stop()
        lease.release()
    return run


def close_abandoned_runs() -> int:
    """Close as failed the `running` runs whose process died (their run lease lapsed); returns how many."""
    closed = 0
    for run in ReconciliationRun.objects.filter(status=ReconciliationRun.Status.RUNNING):
        if not lease_free(f"{RUN_LEASE_PREFIX}{run.pk}"):
            continue  # still running somewhere
        closed += ReconciliationRun.objects.filter(pk=run.pk, status=ReconciliationRun.Status.RUNNING).update(
            status=ReconciliationRun.Status.FAILED,
            finished_at=timezone.now(),
            error="abandoned: the process running it stopped before it finished",
        )
        log.warning("reconciliation run %s was abandoned by its process; closed as failed", run.pk)
    return closed


def _reconcile_run(
    run: ReconciliationRun, broker: Broker, actor: Actor, chosen: list[str], now: datetime, hours: int, discover: bool
) -> None:
    ctx = Context(run=run, actor=actor, now=now)
    counter = CallCounter(broker)
    tally = Tally()
    started = time.perf_counter()
    drift: dict[str, tuple[float, float]] = {}
    try:
        _reconcile_symbols(ctx, counter, broker, chosen, now - timedelta(hours=hours), tally, drift, discover, run)
    except ShutdownRequested as exc:  # cut between symbols or at an exchange request; the next run goes on
        tally.errors.append(f"interrupted: {exc}; the next run goes on")
    _finish(run, tally, counter, drift, time.perf_counter() - started)


def _reconcile_symbols(
    ctx: Context,
    counter: CallCounter,
    broker: Broker,
    chosen: list[str],
    lookback_start: datetime,
    tally: Tally,
    drift: dict[str, tuple[float, float]],
    discover: bool,
    run: ReconciliationRun,
) -> None:
    all_open = _guarded(tally, "open orders of all pairs", lambda: read_all_open(counter))
    done: list[str] = []
    for symbol in [*chosen, *_pairs_with_open_orders(broker, all_open, chosen, discover)]:
        # A stopping worker ends the run between symbols (well inside its 30 s); the next run goes on.
        raise_if_stopping(f"reconciliation stopped before {symbol}")
        _reconcile_one(ctx, counter, symbol, lookback_start, tally, all_open)
        done.append(symbol)
    raise_if_stopping("reconciliation stopped before the balances")
    balances = _guarded(tally, "balances", lambda: counter.call("fetch_balance"))
    if balances is not None:
        for symbol in _pairs_with_balances(broker, balances, done, discover):
            raise_if_stopping(f"reconciliation stopped before {symbol}")
            _reconcile_one(ctx, counter, symbol, lookback_start, tally, all_open)
            done.append(symbol)
        for symbol in _balance_symbols(chosen, done, run.venue):
            result = _guarded(tally, f"balance of {symbol}", lambda s=symbol: check_balance(ctx, broker, s, balances))
            if result is not None:
                outcome, difference, age = result
                tally.add(outcome)
                drift[symbol] = (float(difference), age)
    run.symbols = done


def _guarded(tally: Tally, what: str, step):
    """Run one step; an error is recorded (the run will be `failed`) and None returned, so the rest goes on."""
    try:
        return step()
    except ExchangeError as exc:
        tally.errors.append(f"exchange error ({type(exc).__name__}) at {what}: {exc}")
        _metric("RECONCILIATION_ERRORS", kind="exchange")
    except Exception as exc:  # a bug or the database: recorded, what was committed stays whole
        log.exception("reconciliation step %s failed", what)
        tally.errors.append(f"{type(exc).__name__} at {what}: {exc}")
        _metric("RECONCILIATION_ERRORS", kind="internal")
    return None


def _reconcile_one(
    ctx: Context,
    counter: CallCounter,
    symbol: str,
    lookback_start: datetime,
    tally: Tally,
    all_open: dict[str, OpenList] | None,
) -> None:
    """One symbol, its errors recorded without stopping the others. A pair missing from the all-pairs list has
    no open order."""
    open_list = None if all_open is None else all_open.get(symbol, OpenList([], True))
    _guarded(tally, symbol, lambda: _reconcile_symbol(ctx, counter, symbol, lookback_start, tally, open_list))


def _markets(broker: Broker) -> set[str]:
    try:
        return set(broker.load_markets())
    except ExchangeError:
        return set()


def _pairs_with_open_orders(
    broker: Broker, all_open: dict[str, OpenList] | None, chosen: list[str], discover: bool
) -> list[str]:
    """Pairs outside `chosen` where the exchange lists open orders (placed by hand, or by another bot)."""
    if not discover or not all_open:
        return []
    markets = _markets(broker)
    return sorted(s for s, listed in all_open.items() if s not in chosen and s in markets and listed.orders)


def _pairs_with_balances(broker: Broker, balances: dict[str, Balance], done: list[str], discover: bool) -> list[str]:
    """Pairs not reconciled yet whose base currency is held, against the quotes we trade in: a hand trade in a
    pair we do not trade shows there first (its orders are finished, so no open list names it)."""
    if not discover:
        return []
    markets = _markets(broker)
    quotes = {s.split("/")[1] for s in done} or {"USDT"}
    found = []
    for currency, balance in balances.items():
        if currency in quotes or balance.total <= 0:
            continue
        for quote in sorted(quotes):
            symbol = f"{currency}/{quote}"
            if symbol in markets and symbol not in done:
                try:
                    if balance.total < broker.market(symbol).min_amount:
                        continue  # dust: nothing an order could have left
                except ExchangeError:
                    continue
                found.append(symbol)
    return sorted(set(found))


def _balance_symbols(chosen: list[str], done: list[str], venue: str) -> list[str]:
    """The configured symbols, and those of the discovered pairs where we hold an open position."""
    open_positions = Position.objects.filter(venue=venue, status=Position.Status.OPEN, symbol__in=done)
    with_positions = set(open_positions.values_list("symbol", flat=True))
    return [s for s in done if s in chosen or s in with_positions]


def _window_start(symbol: str, since: datetime, now: datetime, venue: str) -> datetime:
    """The lookback, widened to our oldest live order of the symbol so the finished list covers it."""
    live = Order.objects.filter(venue=venue, symbol=symbol, status__in=LIVE_STATUSES)
    oldest = live.aggregate(first=Min("created_at"))["first"]
    if oldest is not None:
        since = min(since, oldest - WINDOW_MARGIN)
    return max(since, now - MAX_WINDOW)


def _load_local(symbol: str, since: datetime, view: SymbolView, venue: str) -> tuple[LocalIndex, Matching]:
    """Our orders of the window (and every live one), matched; then those the exchange lists that were not in
    that set (created just before the window, or imported earlier) in one more query."""
    window = Q(created_at__gte=since - WINDOW_MARGIN) | Q(status__in=[*LIVE_STATUSES, OrderStatus.NEW])
    ours = Order.objects.filter(venue=venue, symbol=symbol)
    index = LocalIndex(load_local(ours.filter(window)))
    matching = match_orders(view.orders.values(), index)
    if matching.unmatched_exchange:
        ids = [o.exchange_order_id for o in matching.unmatched_exchange]
        texts = [o.client_order_id for o in matching.unmatched_exchange if o.client_order_id]
        extra = ours.filter(Q(exchange_order_id__in=ids) | Q(client_order_id__in=texts))
        index.add(load_local(extra))
        retry, matching.unmatched_exchange = matching.unmatched_exchange, []
        match_orders(retry, index, matching)
    return index, matching


def _reconcile_symbol(
    ctx: Context,
    counter: CallCounter,
    symbol: str,
    lookback_start: datetime,
    tally: Tally,
    open_list: OpenList | None = None,
) -> None:
    since = _window_start(symbol, lookback_start, ctx.now, ctx.run.venue)
    view = read_orders(counter, symbol, since, open_list)
    index, matching = _load_local(symbol, since, view, ctx.run.venue)
    unmatched = [o for pk, o in index.by_id.items() if pk not in matching.claimed]
    cutoff = ctx.now - ABSENCE_GRACE
    candidates = [o for o in unmatched if o.status in LIVE_STATUSES and o.updated_at < cutoff]
    pairs, absent = _read_absent(counter, view, candidates)
    lost = [
        o for o in unmatched if o.status in TERMINAL_STATUSES and o.filled > 0 and o.created_at >= since + WINDOW_MARGIN
    ]
    imports = matching.unmatched_exchange
    pairs = [*matching.pairs, *pairs]
    tally.checked += len(pairs) + len(imports) + len(absent) + len(lost)

    # Orders Gate.io sent without filled_amount need their trades as much as those whose fills differ.
    wanting: list[ExchangeOrder] = [ex for o, ex in pairs if needs_work(o, ex) and needs_trades(o, ex)]
    wanting += [ex for _, ex in pairs if not ex.filled_exact]
    wanting += [ex for ex in imports if ex.filled > 0 or not ex.filled_exact]
    if wanting:
        earliest = min(ex.created_at for ex in wanting)
        read_trades(counter, view, max(earliest, ctx.now - MAX_WINDOW))
        pairs = [(o, view.orders.get(ex.exchange_order_id, ex)) for o, ex in pairs]
        imports = [view.orders.get(ex.exchange_order_id, ex) for ex in imports]
    work = [(order, ex) for order, ex in pairs if needs_work(order, ex)]
    # Everything is read: from here on only the database is touched, one order per transaction.

    # Our own client ids (t-tb-…) are unique per order: a second exchange order carrying one was sent twice.
    duplicate_texts = {
        ex.client_order_id for _, ex in pairs if ex.client_order_id and ex.client_order_id.startswith(CLIENT_ID_PREFIX)
    }
    steps: list[tuple[int | str, Callable[[], Any]]] = [
        *((order.pk, lambda o=order, e=ex: healing.heal_matched(ctx, o.pk, e, _trades(view, e))) for order, ex in work),
        *(
            (
                ex.exchange_order_id,
                lambda e=ex: healing.import_external(
                    ctx, e, view.trades_of(e.exchange_order_id), note=_import_note(e, duplicate_texts)
                ),
            )
            for ex in imports
        ),
        *((order.pk, lambda o=order: healing.resolve_absent(ctx, o.pk, o.updated_at)) for order in absent),
        *((order.pk, lambda o=order: healing.flag_missing_terminal(ctx, o.pk)) for order in lost),
    ]
    for done, (key, step) in enumerate(steps):
        if done % STEP_CHUNK == 0:
            raise_if_stopping(f"reconciliation of {symbol} stopped after {done} of {len(steps)} corrections")
        try:
            tally.add(step())
        except ExchangeError:
            raise
        except Exception as exc:  # this order's correction was rolled back; the others go on
            log.exception("reconciliation of %s %s failed", symbol, key)
            tally.errors.append(f"{symbol} {key}: {type(exc).__name__}: {exc}")
            _metric("RECONCILIATION_ERRORS", kind="order")


def _read_absent(
    counter: CallCounter, view: SymbolView, candidates: list[LocalOrder]
) -> tuple[list[tuple[LocalOrder, ExchangeOrder]], list[LocalOrder]]:
    """Our live orders that no list showed, each read by its exchange id (a list may be cut short, lag, or
    clamp its page): (those the exchange still has, paired with its copy; those it does not know).

    Without an exchange id the order never got one from the exchange, and the lists (by `text`) did not show
    it: it is taken as never arrived only when the open list was complete."""
    pairs: list[tuple[LocalOrder, ExchangeOrder]] = []
    absent: list[LocalOrder] = []
    reads = 0
    for order in candidates:
        if not order.exchange_order_id:
            if view.open_complete:
                absent.append(order)
            continue
        if reads >= MAX_ABSENT_READS:
            log.info("reconciliation of %s: more than %s orders to read one by one", view.symbol, reads)
            break
        reads += 1
        try:
            found = counter.call("fetch_order", view.symbol, order.exchange_order_id)
        except OrderNotFound:
            absent.append(order)
            continue
        view.add(found)
        pairs.append((order, found))
    return pairs, absent


def _trades(view: SymbolView, ex: ExchangeOrder):
    return view.trades_of(ex.exchange_order_id) if view.has_trades else None


def _import_note(ex: ExchangeOrder, texts_in_use: set[str]) -> str:
    if ex.client_order_id and ex.client_order_id in texts_in_use:
        return f"same client id {ex.client_order_id} as one of our orders: possibly sent twice"
    return ""


def _finish(
    run: ReconciliationRun, tally: Tally, counter: CallCounter, drift: dict[str, tuple[float, float]], seconds: float
) -> None:
    run.finished_at = timezone.now()
    run.checked, run.fixed, run.imported, run.missing = tally.checked, tally.fixed, tally.imported, tally.missing
    run.exchange_calls = counter.total
    if tally.errors:
        run.status = ReconciliationRun.Status.FAILED
        run.error = "\n".join(tally.errors)[:4000]
    elif tally.found or tally.repeated:
        run.status = ReconciliationRun.Status.DISCREPANCIES
    else:
        run.status = ReconciliationRun.Status.OK
    run.save()
    log.info(
        "reconciliation run %s %s: checked %s fixed %s imported %s missing %s, %s exchange calls, %.2fs",
        run.pk,
        run.status,
        run.checked,
        run.fixed,
        run.imported,
        run.missing,
        run.exchange_calls,
        seconds,
    )
    _record_metrics(run, tally, drift, seconds)
    _alert(run, tally)


def _metric(name: str, value: float | None = None, op: str = "inc", **labels: str) -> None:
    """Metrics never break a run (and the monitoring app may be absent)."""
    try:
        family = getattr(metrics, name)
        target = family.labels(**labels) if labels else family
        if op == "inc":
            target.inc() if value is None else target.inc(value)
        elif op == "set":
            target.set(value)
        else:
            target.observe(value)
    except Exception:
        log.debug("metric %s not updated", name, exc_info=True)


def _record_metrics(
    run: ReconciliationRun, tally: Tally, drift: dict[str, tuple[float, float]], seconds: float
) -> None:
    _metric("RECONCILIATION_RUNS", status=run.status)
    _metric("RECONCILIATION_DURATION", seconds, op="observe")
    if run.status != ReconciliationRun.Status.FAILED:
        _metric("RECONCILIATION_LAST_SUCCESS", time.time(), op="set")
    for item in tally.found:
        _metric("RECONCILIATION_DISCREPANCIES", kind=item.kind, severity=item.severity)
        if item.fixed or item.kind == Discrepancy.Kind.EXTERNAL:
            _metric("ORDERS_RECONCILED", kind=item.kind)
    for symbol, (difference, age) in drift.items():
        _metric("POSITION_BALANCE_DIFF", difference, op="set", symbol=symbol)
        _metric("POSITION_SYNC_DRIFT", age, op="set", symbol=symbol)


def _alert(run: ReconciliationRun, tally: Tally) -> None:
    """Alert on a failed run and on new problems a person must look at (auto-fixed ones are only counted)."""
    serious = [d for d in tally.found if d.kind in UNRESOLVED_KINDS or d.severity == Discrepancy.Severity.CRITICAL]
    if not serious and run.status != ReconciliationRun.Status.FAILED:
        return
    if run.status == ReconciliationRun.Status.FAILED:
        text = f"Reconciliation run #{run.pk} failed: {run.error[:500]}"
        notify("reconciliation_failed", text, key=run.error[:80], severity="warning")
    if serious:
        lines = [f"{d.symbol} {d.kind} ({d.severity}) order {d.order_id or d.exchange_order_id}" for d in serious[:10]]
        more = f"\n… and {len(serious) - 10} more" if len(serious) > 10 else ""
        severity = "critical" if any(d.severity == Discrepancy.Severity.CRITICAL for d in serious) else "warning"
        text = f"Run #{run.pk}: {len(serious)} discrepancies need a look\n" + "\n".join(lines) + more
        notify("reconciliation_discrepancy", text, key=f"run-{run.pk}", severity=severity)
