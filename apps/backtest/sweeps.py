"""Parameter sweeps: every combination of a grid as one backtest run, fanned out over Celery workers.

`sweep_start` validates the request (every combination is checked before anything is written), then
`sweep_prepare` reads the candles once, saves them as an array file under DATA_DIR/history (next to the
cached exchange history; a CSV file read before is not parsed again while it is unchanged) and creates
one queued BacktestRun per combination; each goes to a worker as a
`backtest.sweep_run` task (`sweep_run_execute`). Workers load the saved candles, and the features of a
window: computed by the first worker that needs them, saved beside the candles, read by every other
(one file per distinct feature set: the features depend on the candles and the window only).

Resuming: the same request (same candles file or range, base parameters and grid) finds its sweep by
`key`; runs already done are kept, the others are queued again. A run is claimed with a conditional
update, so a task delivered twice (the broker redelivers after a lost worker) never runs it twice.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import itertools
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.backtest.engine import run_backtest
from apps.backtest.features import SeriesFeatures, series_features
from apps.backtest.history import CandleDataError, series_from_file
from apps.backtest.models import BacktestRun, BacktestSweep
from apps.backtest.params import BacktestParams, ParameterError, parameter_names
from apps.backtest.series import CandleSeries
from apps.backtest.services import (
    STALE_RUN_SECONDS,
    BacktestInputError,
    clean_params,
    clean_request,
    default_market,
    exchange_series,
    history_broker,
    history_dir,
    store_result,
)
from apps.exchange.broker import Broker
from apps.exchange.types import Candle, Market
from apps.risk.selectors import risk_limits
from apps.signals.build import REQUIRED_CANDLES

log = logging.getLogger(__name__)
Status = BacktestRun.Status
MAX_COMBINATIONS = 10_000
# The metrics a sweep can be ranked by; True when higher is better.
RANKINGS = {
    "total_return_pct": True,
    "realized_pnl": True,
    "sharpe": True,
    "profit_factor": True,
    "win_rate_pct": True,
    "average_trade": True,
    "max_drawdown_pct": False,
    "trades": True,
}


def clean_grid(grid: Mapping[str, Any], base: BacktestParams) -> tuple[dict[str, list[Any]], list[dict[str, Any]]]:
    """(grid, combinations): known names, non-empty lists, every combination a valid set of parameters."""
    if not isinstance(grid, Mapping) or not grid:
        raise BacktestInputError("grid", "must name at least one parameter and its values")
    known = parameter_names()
    cleaned: dict[str, list[Any]] = {}
    for name, values in grid.items():
        if name not in known:
            raise BacktestInputError(f"grid.{name}", f"unknown parameter; expected one of {', '.join(known)}")
        if not isinstance(values, list | tuple) or not values:
            raise BacktestInputError(f"grid.{name}", "must be a non-empty list of values")
        cleaned[str(name)] = list(values)
    total = 1
    for values in cleaned.values():
        total *= len(values)
    if total > MAX_COMBINATIONS:
        raise BacktestInputError("grid", f"{total} combinations; at most {MAX_COMBINATIONS}")
    names = list(cleaned)
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*cleaned.values())]
    for combo in combos:
        try:
            base.with_overrides(combo)
        except ParameterError as exc:
            raise BacktestInputError(f"grid.{exc.field}", exc.message) from None
    return cleaned, combos


def combination_key(combo: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(combo, sort_keys=True, default=str).encode()).hexdigest()


def sweep_start(
    *,
    symbol: str,
    timeframe: str,
    grid: Mapping[str, Any],
    csv_path: str | Path | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    rank_by: str = "total_return_pct",
    actor: Actor,
    prepare_now: bool = True,
    broker: Broker | None = None,
) -> BacktestSweep:
    """Start (or resume: the same request finds its unfinished sweep) a sweep. With `prepare_now` the
    candles are read here (a CSV file, or exchange history through the cache); otherwise a worker does it
    (`backtest.sweep_prepare`, for the API). Raises BacktestInputError before writing anything."""
    symbol, _, since, until = clean_request(
        symbol=symbol, timeframe=timeframe, since=since, until=until, has_candles=False, has_csv=csv_path is not None
    )
    if rank_by not in RANKINGS:
        raise BacktestInputError("rank_by", f"{rank_by!r} is not one of {', '.join(RANKINGS)}")
    overrides = dict(params or {})
    base = clean_params(overrides)
    cleaned, combos = clean_grid(grid, base)
    source, file_id = BacktestRun.Source.EXCHANGE, ""
    if csv_path is not None:
        path = Path(csv_path)
        if not path.is_file():
            raise BacktestInputError("csv", f"{path} is not a readable file")
        stat = path.stat()
        source, file_id = BacktestRun.Source.CSV, f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    request = {
        "symbol": symbol,
        "timeframe": timeframe,
        "file": file_id,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "parameters": base.as_json(),
        "grid": cleaned,
    }
    key = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    sweep = BacktestSweep.objects.filter(key=key).order_by("-id").first()
    if sweep is None:
        with transaction.atomic():
            sweep = BacktestSweep.objects.create(
                symbol=symbol,
                timeframe=timeframe,
                source=source,
                csv_path=str(csv_path or "")[:500],
                since=since,
                until=until,
                parameters=overrides,
                grid=cleaned,
                rank_by=rank_by,
                key=key,
                total=len(combos),
                requested_by=actor.label[:150],
            )
            audit_record(actor=actor, action="backtest.sweep", obj=sweep, after={"grid": cleaned, **base.as_json()})
    elif sweep.rank_by != rank_by:
        BacktestSweep.objects.filter(pk=sweep.pk).update(rank_by=rank_by)
        sweep.rank_by = rank_by
    if sweep.status == BacktestSweep.Status.DONE:
        return sweep  # finished already: its results stand
    if prepare_now:
        return sweep_prepare(sweep=sweep, broker=broker)
    transaction.on_commit(lambda: _send("backtest.sweep_prepare", sweep.pk))
    return sweep


def sweep_prepare(*, sweep: BacktestSweep, broker: Broker | None = None) -> BacktestSweep:
    """Read the candles once, save them for the workers, create the runs that do not exist yet and queue
    every run that is not finished (runs left `running` by a lost worker included)."""
    if not sweep.series_path or not Path(sweep.series_path).is_file():
        try:
            series, market = _load(sweep, broker)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            BacktestSweep.objects.filter(pk=sweep.pk).update(status=BacktestSweep.Status.FAILED, error=error)
            sweep.status, sweep.error = BacktestSweep.Status.FAILED, error
            raise
        path = _series_path(series)
        if not path.is_file():
            _save_atomically(path, series.save)
        market_json = {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(market).items()}
        BacktestSweep.objects.filter(pk=sweep.pk).update(series_path=str(path), market=market_json)
        sweep.series_path, sweep.market = str(path), market_json
    BacktestSweep.objects.filter(pk=sweep.pk).update(status=BacktestSweep.Status.RUNNING, error="")
    sweep.status = BacktestSweep.Status.RUNNING
    base = BacktestParams.from_settings(sweep.parameters, limits=risk_limits())
    _, combos = clean_grid(sweep.grid, base)
    runs = [
        BacktestRun(
            symbol=sweep.symbol,
            timeframe=sweep.timeframe,
            source=sweep.source,
            csv_path=sweep.csv_path,
            since=sweep.since,
            until=sweep.until,
            status=Status.QUEUED,
            parameters=base.with_overrides(combo).as_json(),
            requested_by=sweep.requested_by,
            sweep=sweep,
            combination=combo,
            combination_key=combination_key(combo),
        )
        for combo in combos
    ]
    BacktestRun.objects.bulk_create(runs, ignore_conflicts=True)
    stale = timezone.now() - timedelta(seconds=STALE_RUN_SECONDS)
    sweep.runs.filter(status=Status.RUNNING, started_at__lt=stale).update(status=Status.QUEUED)
    pending = _interleaved(sweep.runs.filter(status=Status.QUEUED).order_by("pk").values_list("pk", "parameters"))

    def send_pending() -> None:
        for pk in pending:
            _send("backtest.sweep_run", pk)

    transaction.on_commit(send_pending)
    _finish_if_done(sweep.pk)
    return sweep


def _interleaved(rows) -> list[int]:
    """Run ids in the order to queue them: one run of each window first, then the next of each, and so on.
    Runs of one window share features that the first of them computes under a lock; queued in a row
    (a grid whose window varies slowest) every other worker would wait for that one instead of computing
    another window's features beside it."""
    by_window: dict[Any, list[int]] = {}
    for pk, parameters in rows:
        by_window.setdefault(parameters.get("window"), []).append(pk)
    columns = itertools.zip_longest(*by_window.values())
    return [pk for row in columns for pk in row if pk is not None]


def _csv_pointer(csv_path: str) -> Path:
    """Where the digest of a CSV file's saved candles is noted, named by the file's path, size and
    modification time: a sweep over a file read before loads its array file instead of parsing it again
    (a changed file has another name, so it is read again)."""
    path = Path(csv_path)
    stat = path.stat()
    identity = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return history_dir() / f"csv-{hashlib.sha256(identity.encode()).hexdigest()[:32]}.digest"


def _series_path(series: CandleSeries) -> Path:
    return history_dir() / f"series-{series.digest()}.npz"


def csv_series(csv_path: str | Path) -> CandleSeries | list[Candle]:
    """A CSV file's candles for a sweep, parsed once: saved as an array file (the one the workers load)
    and found again through `_csv_pointer` by the next sweep over the same, unchanged file."""
    pointer = _csv_pointer(str(csv_path))
    if pointer.is_file():
        saved = history_dir() / f"series-{pointer.read_text().strip()}.npz"
        if saved.is_file():
            return CandleSeries.load(saved)
    series = series_from_file(csv_path)
    if isinstance(series, CandleSeries):
        path = _series_path(series)
        if not path.is_file():
            _save_atomically(path, series.save)
        _save_atomically(pointer, lambda tmp: Path(tmp).write_text(series.digest()))
    return series


def _load(sweep: BacktestSweep, broker: Broker | None) -> tuple[CandleSeries, Market]:
    if sweep.source == BacktestRun.Source.CSV:
        candles = csv_series(sweep.csv_path)
        market = None
    else:
        broker = broker or history_broker()
        candles = exchange_series(
            broker=broker, symbol=sweep.symbol, timeframe=sweep.timeframe, since=sweep.since, until=sweep.until
        )
        market = broker.market(sweep.symbol)
    if not isinstance(candles, CandleSeries):
        raise CandleDataError(f"{len(candles)} candles are too few: a decision needs {REQUIRED_CANDLES}")
    return candles, market or default_market(sweep.symbol, candles)


def _save_atomically(path: Path, save) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    save(tmp)
    os.replace(tmp, path)


def _send(task: str, pk: int) -> None:
    try:
        senders: dict[str, Callable[[int], object]] = {
            "backtest.sweep_prepare": sweep_prepare_task.delay,
            "backtest.sweep_run": sweep_run_task.delay,
        }
        senders[task](pk)
    except Exception:  # the request has committed; a resume queues it again
        log.exception("%s for #%s could not be queued", task, pk)


# --- the worker side --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _series(path: str) -> CandleSeries:
    return CandleSeries.load(path)


@functools.lru_cache(maxsize=4)
def shared_features(series_path: str, window: int) -> SeriesFeatures:
    """The features of the saved candles with this window: read from the file beside them, or computed
    (under a file lock, so concurrent workers on one machine compute them once) and saved there."""
    path = Path(series_path).with_name(Path(series_path).stem.replace("series-", "features-") + f"-w{window}.npz")
    if path.is_file():
        return SeriesFeatures.load(path)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return SeriesFeatures.load(path)
        features = series_features(_series(series_path).ohlcv, window)
        _save_atomically(path, features.save)
        return features


def sweep_run_execute(*, run_id: int) -> BacktestRun | None:
    """Run one combination of a sweep (the task's body); a run already claimed is left alone."""
    now = timezone.now()
    stale = now - timedelta(seconds=STALE_RUN_SECONDS)
    claimable = Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=stale)
    if not BacktestRun.objects.filter(claimable, pk=run_id, sweep__isnull=False).update(
        status=Status.RUNNING, started_at=now
    ):
        return BacktestRun.objects.filter(pk=run_id).first()
    run = BacktestRun.objects.select_related("sweep").get(pk=run_id)
    sweep = run.sweep
    assert sweep is not None  # claimed above with sweep__isnull=False
    try:
        params = BacktestParams.from_settings(run.parameters, limits=risk_limits())
        series = _series(sweep.series_path)
        market = _market(sweep.market)
        features = shared_features(sweep.series_path, params.window)
        result = run_backtest(
            series, symbol=run.symbol, timeframe=run.timeframe, market=market, params=params, features=features
        )
    except Exception as exc:
        run.status, run.finished_at = Status.FAILED, timezone.now()
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.save(update_fields=["status", "finished_at", "error"])
        log.warning("sweep #%s run #%s failed: %s", sweep.pk, run.pk, run.error)
    else:
        store_result(run, result, candles=len(series))
    _finish_if_done(sweep.pk)
    return run


def _market(data: Mapping[str, Any]) -> Market:
    fields = dict(data)
    for name in ("min_amount", "min_notional"):
        fields[name] = Decimal(fields[name])
    return Market(**fields)


def _finish_if_done(sweep_id: int) -> None:
    unfinished = BacktestRun.objects.filter(sweep_id=sweep_id).exclude(status__in=(Status.DONE, Status.FAILED))
    if not unfinished.exists():
        BacktestSweep.objects.filter(pk=sweep_id, status=BacktestSweep.Status.RUNNING).update(
            status=BacktestSweep.Status.DONE, finished_at=timezone.now()
        )


# --- reading a sweep --------------------------------------------------------------------------------


def sweep_progress(sweep: BacktestSweep) -> tuple[int, int]:
    """(finished runs, combinations)."""
    return sweep.runs.filter(status__in=(Status.DONE, Status.FAILED)).count(), sweep.total


def sweep_ranking(sweep: BacktestSweep, rank_by: str | None = None) -> list[dict[str, Any]]:
    """The finished runs, best first by `rank_by` (the sweep's metric by default); runs without the
    metric (no trades for a ratio) and failed runs come last."""
    metric = rank_by or sweep.rank_by
    higher = RANKINGS[metric]
    rows = []
    for run in sweep.runs.filter(status__in=(Status.DONE, Status.FAILED)).order_by("id"):
        value = run.metrics.get(metric) if run.status == Status.DONE else None
        number = float(value) if value is not None else None
        rows.append({"run": run.pk, "status": run.status, "combination": run.combination, metric: value,
                     "metrics": run.metrics, "error": run.error, "_n": number})  # fmt: skip
    rows.sort(key=lambda r: (r["_n"] is None, -(r["_n"] or 0) if higher else (r["_n"] or 0)))
    for rank, row in enumerate(rows, start=1):
        row.pop("_n")
        row["rank"] = rank
    return rows


def sweep_json(sweep: BacktestSweep, *, top: int | None = None) -> dict[str, Any]:
    done, total = sweep_progress(sweep)
    ranking = sweep_ranking(sweep)
    return {
        "id": sweep.pk,
        "symbol": sweep.symbol,
        "timeframe": sweep.timeframe,
        "status": sweep.status,
        "rank_by": sweep.rank_by,
        "grid": sweep.grid,
        "parameters": sweep.parameters,
        "finished": done,
        "total": total,
        "ranking": ranking[:top] if top else ranking,
        "error": sweep.error,
        "created_at": sweep.created_at,
        "finished_at": sweep.finished_at,
    }


# --- the Celery tasks (apps/backtest/tasks.py names them for Celery's autodiscovery) ------------------


@shared_task(name="backtest.sweep_prepare", acks_late=True, soft_time_limit=900, time_limit=960)
def sweep_prepare_task(sweep_id: int) -> dict[str, Any]:
    """Read a sweep's candles once, create its runs and queue them (POST /api/backtests/sweeps)."""
    sweep = BacktestSweep.objects.filter(pk=sweep_id).first()
    if sweep is None:
        return {"id": sweep_id, "status": "missing"}
    try:
        sweep_prepare(sweep=sweep)
    except Exception:  # stored on the sweep (status failed, error); a worker must not retry it
        pass
    return {"id": sweep_id, "status": sweep.status}


@shared_task(name="backtest.sweep_run", acks_late=True, soft_time_limit=900, time_limit=960)
def sweep_run_task(run_id: int) -> dict[str, Any]:
    """Run one combination of a sweep; returns its status (the run row holds the outcome)."""
    run = sweep_run_execute(run_id=run_id)
    return {"id": run_id, "status": run.status if run else "missing"}
