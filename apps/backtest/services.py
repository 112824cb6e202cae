"""Backtest use cases: run one now (`backtest_run`), or queue one for a worker (`backtest_enqueue`,
executed by the `backtest.run` task through `backtest_execute`). The replay itself is `engine.run_backtest`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.backtest.engine import BacktestResult, Progress, run_backtest
from apps.backtest.history import CandleDataError, series_from_exchange, series_from_file
from apps.backtest.models import BacktestRun
from apps.backtest.params import BacktestParams, ParameterError
from apps.backtest.series import CandleSeries
from apps.exchange import services as exchange_services
from apps.exchange.broker import Broker
from apps.exchange.types import Candle, Market
from apps.risk.selectors import risk_limits
from apps.signals.services import SignalInputError, clean_symbol, timeframe_delta

log = logging.getLogger(__name__)
# The task's hard time limit (backtest_run_task below): a run `running` for longer lost its worker.
STALE_RUN_SECONDS = 960

MAX_CURVE_POINTS = 1000
Status = BacktestRun.Status


class BacktestInputError(ValueError):
    """A request a backtest cannot run with; `field` names the culprit (a 422, exit code 2)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise BacktestInputError(field, f"{value!r} is not a date and time")
    try:
        return value.replace(tzinfo=UTC) if timezone.is_naive(value) else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise BacktestInputError(field, f"{value.isoformat()} is outside the supported dates") from None


def clean_request(
    *, symbol: str, timeframe: str, since: datetime | None, until: datetime | None, has_candles: bool, has_csv: bool
) -> tuple[str, timedelta, datetime | None, datetime | None]:
    """Validate the request: symbol, timeframe, exactly one source, a sane date range."""
    try:
        symbol = clean_symbol(symbol)
        span = timeframe_delta(timeframe)
    except SignalInputError as exc:
        raise BacktestInputError(exc.field, exc.message) from None
    if has_candles and has_csv:
        raise BacktestInputError("csv", "give candles or a CSV file, not both")
    if has_candles or has_csv:
        if since is not None or until is not None:
            raise BacktestInputError("since", "since/until select exchange history; not with a CSV file or candles")
        return symbol, span, None, None
    if since is None or until is None:
        raise BacktestInputError("since" if since is None else "until", "required (or give a CSV file)")
    since, until = _aware(since, "since"), _aware(until, "until")
    if since >= timezone.now():
        raise BacktestInputError("since", f"{since.isoformat()} is in the future: no candles yet")
    if until <= since:
        raise BacktestInputError("until", f"{until.isoformat()} must be after since {since.isoformat()}")
    return symbol, span, since, until


def clean_params(overrides: Mapping[str, Any] | None) -> BacktestParams:
    """The live parameters (risk limits in force included) with the run's overrides."""
    if overrides is not None and not isinstance(overrides, Mapping):
        raise BacktestInputError("parameters", "must be an object")
    try:
        return BacktestParams.from_settings(overrides, limits=risk_limits())
    except ParameterError as exc:
        raise BacktestInputError(f"parameters.{exc.field}", exc.message) from None


def _places(value: Decimal) -> int:
    """Decimal places of a finite Decimal (as_tuple's exponent is a letter for NaN and Infinity)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def default_market(symbol: str, candles: Sequence[Candle] | CandleSeries) -> Market:
    """A market for candles that came without an exchange: the price step the candles themselves use,
    amounts to 8 decimals, no minimums."""
    base, _, quote = symbol.partition("/")
    if isinstance(candles, CandleSeries):
        closes = [candles.price("close", i) for i in range(max(0, len(candles) - 500), len(candles))]
    else:
        closes = [c.close for c in candles[-500:]]
    places = max((_places(c) for c in closes), default=8)
    return Market(symbol, base, quote, 8, min(places, 12), Decimal(0), Decimal(0))


def history_dir() -> Path:
    """Where exchange history (and the features computed from it) is cached: DATA_DIR/history."""
    return Path(settings.DATA_DIR) / "history"


def history_broker() -> Broker:
    """The broker to read history through: the process's one, or Gate.io's public API under MODE=backtest."""
    try:
        return exchange_services.get_broker()  # through the module: tests swap the broker there
    except ValueError:
        from apps.exchange.ccxt_broker import GateBroker  # start-up cost: ccxt, only under MODE=backtest

        return GateBroker.from_settings()


def exchange_series(
    *, broker: Broker, symbol: str, timeframe: str, since: datetime | None, until: datetime | None
) -> CandleSeries | list[Candle]:
    """The exchange's history for a run or a sweep: paged from Gate.io, kept in the on-disk cache."""
    if since is None or until is None:  # a stored run or sweep over exchange history always has both
        raise CandleDataError(f"exchange history needs since and until (got {since} - {until})")
    return series_from_exchange(
        broker,
        symbol=symbol,
        timeframe=timeframe,
        since=since,
        until=until,
        span=timeframe_delta(timeframe),
        now=timezone.now(),
        cache_dir=history_dir(),
    )


def _downsample(curve: Sequence[tuple[datetime, Decimal]]) -> list[list[str]]:
    step = max(1, -(-len(curve) // MAX_CURVE_POINTS))
    indices = list(range(0, len(curve), step))
    if curve and indices[-1] != len(curve) - 1:
        indices.append(len(curve) - 1)
    points = [curve[i] for i in indices]
    return [[t.isoformat(), format(v.quantize(Decimal("1e-8")).normalize(), "f")] for t, v in points]


def _execute(
    run: BacktestRun,
    *,
    candles: Sequence[Candle] | CandleSeries | None,
    broker: Broker | None,
    market: Market | None,
    params: BacktestParams,
    progress: Progress | None,
) -> BacktestRun:
    """Load the candles (from the exchange when none are given), replay them, store the outcome. On any
    failure the run is stored as failed with the reason, and the error raised again."""
    try:
        if candles is None:
            broker = broker or history_broker()
            candles = exchange_series(
                broker=broker, symbol=run.symbol, timeframe=run.timeframe, since=run.since, until=run.until
            )
        if market is None:
            market = broker.market(run.symbol) if broker is not None else default_market(run.symbol, candles)
        if not candles:
            raise CandleDataError(f"no closed {run.timeframe} candles for {run.symbol} in the range")
        result = run_backtest(
            candles, symbol=run.symbol, timeframe=run.timeframe, market=market, params=params, progress=progress
        )
    except Exception as exc:
        run.status, run.finished_at = Status.FAILED, timezone.now()
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.save(update_fields=["status", "finished_at", "error"])
        log.warning("backtest #%s failed: %s", run.pk, run.error)
        raise
    return store_result(run, result, candles=len(candles))


def store_result(run: BacktestRun, result: BacktestResult, *, candles: int) -> BacktestRun:
    """A finished replay's metrics, trades and (downsampled) equity curve on its run, now done."""
    run.candles = candles
    run.metrics = result.metrics
    run.trades = [t.as_json() for t in result.trades]
    run.equity_curve = _downsample(result.equity_curve)
    run.status, run.finished_at, run.error = Status.DONE, timezone.now(), ""
    run.save(update_fields=["candles", "metrics", "trades", "equity_curve", "status", "finished_at", "error"])
    return run


def backtest_run(
    *,
    symbol: str,
    timeframe: str,
    candles: Sequence[Candle] | CandleSeries | None = None,
    csv_path: str | Path | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    broker: Broker | None = None,
    params: Mapping[str, Any] | None = None,
    market: Market | None = None,
    actor: Actor,
    progress: Progress | None = None,
) -> BacktestRun:
    """Run a backtest now and store it. Candles come from `candles`, a CSV file, or the exchange between
    `since` and `until` (through `broker`, by default the process's). Raises BacktestInputError for a bad
    request (nothing stored), CandleDataError for unusable CSV content, and a failed load or replay as it
    is (the run stored as failed)."""
    symbol, _, since, until = clean_request(
        symbol=symbol,
        timeframe=timeframe,
        since=since,
        until=until,
        has_candles=candles is not None,
        has_csv=csv_path is not None,
    )
    resolved = clean_params(params)
    source = BacktestRun.Source.CANDLES
    if csv_path is not None:
        path = Path(csv_path)
        if not path.is_file():
            raise BacktestInputError("csv", f"{path} is not a readable file")
        try:
            candles = series_from_file(path)
        except OSError as exc:
            raise BacktestInputError("csv", f"{path} cannot be read: {exc}") from None
        source = BacktestRun.Source.CSV
    elif candles is None:
        source = BacktestRun.Source.EXCHANGE
    run = BacktestRun.objects.create(
        symbol=symbol,
        timeframe=timeframe,
        source=source,
        csv_path=str(csv_path or "")[:500],
        since=since,
        until=until,
        status=Status.RUNNING,
        parameters=resolved.as_json(),
        requested_by=actor.label[:150],
        started_at=timezone.now(),
    )
    audit_record(actor=actor, action="backtest.run", obj=run, after={"source": source, **resolved.as_json()})
    return _execute(run, candles=candles, broker=broker, market=market, params=resolved, progress=progress)


def backtest_enqueue(
    *,
    symbol: str,
    timeframe: str,
    since: datetime,
    until: datetime,
    params: Mapping[str, Any] | None = None,
    actor: Actor,
) -> BacktestRun:
    """Store a queued run over exchange history and hand it to a worker (`backtest.run`) once committed."""
    symbol, _, start, end = clean_request(
        symbol=symbol, timeframe=timeframe, since=since, until=until, has_candles=False, has_csv=False
    )
    resolved = clean_params(params)
    with transaction.atomic():
        run = BacktestRun.objects.create(
            symbol=symbol,
            timeframe=timeframe,
            source=BacktestRun.Source.EXCHANGE,
            since=start,
            until=end,
            status=Status.QUEUED,
            parameters=resolved.as_json(),
            requested_by=actor.label[:150],
        )
        audit_record(actor=actor, action="backtest.enqueue", obj=run, after=resolved.as_json())
        transaction.on_commit(lambda: _send(run.pk))
    return run


def _send(run_id: int) -> None:
    try:
        backtest_run_task.delay(run_id)
    except Exception as exc:  # the request has committed: record why the run will not start
        log.exception("backtest #%s could not be queued", run_id)
        BacktestRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
            status=Status.FAILED, error=f"could not be queued: {type(exc).__name__}: {exc}"[:2000]
        )


def backtest_execute(*, run_id: int, broker: Broker | None = None) -> BacktestRun | None:
    """Execute a queued run (the task's body). A run another worker is running is left alone; one left
    `running` longer than the task's hard time limit lost its worker and is taken over (a replay sends
    nothing, so running it again is safe)."""
    now = timezone.now()
    stale = now - timedelta(seconds=STALE_RUN_SECONDS)
    claimable = Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=stale)
    claimed = BacktestRun.objects.filter(claimable, pk=run_id).update(status=Status.RUNNING, started_at=now)
    if not claimed:
        log.info("backtest #%s is not queued any more; nothing to do", run_id)
        return BacktestRun.objects.filter(pk=run_id).first()
    run = BacktestRun.objects.get(pk=run_id)
    try:
        params = BacktestParams.from_settings(run.parameters, limits=risk_limits())
    except ParameterError as exc:
        run.status, run.error, run.finished_at = Status.FAILED, str(exc), timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        return run
    try:
        return _execute(run, candles=None, broker=broker, market=None, params=params, progress=None)
    except Exception:  # stored as failed by _execute; a worker must not retry a replay
        return BacktestRun.objects.get(pk=run_id)


# --- the worker side of POST /api/backtests (apps/backtest/tasks.py names it for Celery's autodiscovery) ----


# A long range is paged from the exchange and replayed in one go: more time than the default task budget.
@shared_task(name="backtest.run", acks_late=True, soft_time_limit=900, time_limit=960)
def backtest_run_task(run_id: int) -> dict[str, Any]:
    """Execute queued run `run_id`; returns its status (the run row holds the outcome)."""
    run = backtest_execute(run_id=run_id)
    return {"id": run_id, "status": run.status if run else "missing"}
