"""Operations: reconcile now, the kill switch, backtests."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Router, Status

from apps.api.auth import actor_of, read_auth, trade_auth
from apps.api.endpoints.common import ID_MAX, READ_ERRORS, TRADE_ERRORS, broker
from apps.api.schemas import (
    BacktestIn,
    BacktestOut,
    ErrorOut,
    ReasonIn,
    ReconciliationFailedOut,
    ReconciliationOut,
    SweepIn,
    SweepOut,
    TradingStatusOut,
    links_from_id,
)
from apps.backtest.models import BacktestRun, BacktestSweep
from apps.backtest.services import backtest_enqueue
from apps.backtest.sweeps import sweep_json
from apps.backtest.sweeps import sweep_start as start
from apps.reconciliation import services as reconciliation_services
from apps.risk.selectors import trading_status
from apps.risk.services import trading_pause as pause
from apps.risk.services import trading_resume as resume

router = Router(tags=["operations"])


def run_out(run: Any) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "symbols": [str(s) for s in (run.symbols or [])],
        "checked": run.checked,
        "fixed": run.fixed,
        "imported": run.imported,
        "missing": run.missing,
        "exchange_calls": run.exchange_calls,
        "discrepancies": run.discrepancies.count(),
        "error": run.error,
    }


def status_out() -> dict[str, Any]:
    s = trading_status()
    return {
        "mode": s.mode,
        "enable_trading": s.enable_trading,
        "halted": s.halted,
        "halt_reason": s.halt_reason,
        "entries_allowed": s.entries_allowed,
        "why": s.why,
    }


@router.post(
    "/reconcile",
    response={200: ReconciliationOut, **TRADE_ERRORS, 502: ReconciliationFailedOut},
    auth=trade_auth,
    summary="Reconcile now",
    description="200 with the run's summary when it completed; 502 with the summary and its error when it failed "
    "(an exchange error on a symbol, the balances, or an internal error): the run is stored and alerted either way.",
)
def reconcile_now(request: HttpRequest):
    run = reconciliation_services.reconcile(broker=broker(), actor=actor_of(request), trigger="api")
    if run.status == "failed":
        return Status(502, {**run_out(run), "detail": f"reconciliation run #{run.pk} failed: {run.error[:500]}"})
    return run_out(run)


@router.get("/trading", response={200: TradingStatusOut, **READ_ERRORS}, auth=read_auth, summary="The trading gate")
def trading_get(request: HttpRequest):
    return status_out()


@router.post(
    "/trading/pause", response={200: TradingStatusOut, **TRADE_ERRORS}, auth=trade_auth, summary="Kill switch on"
)
def trading_pause(request: HttpRequest, payload: ReasonIn | None = None):
    reason = (payload.reason if payload else "") or "paused through the API"
    pause(actor=actor_of(request), reason=reason)  # counts the change and sets trading_halted itself
    return status_out()


@router.post(
    "/trading/resume", response={200: TradingStatusOut, **TRADE_ERRORS}, auth=trade_auth, summary="Kill switch off"
)
def trading_resume(request: HttpRequest, payload: ReasonIn | None = None):
    reason = (payload.reason if payload else "") or "resumed through the API"
    resume(actor=actor_of(request), reason=reason)  # counts the change and clears trading_halted itself
    return status_out()


def backtest_out(run: Any) -> dict[str, Any]:
    fields = ("id", "symbol", "timeframe", "source", "status", "since", "until", "candles", "parameters")
    more = ("metrics", "trades", "equity_curve", "error", "created_at", "started_at", "finished_at")
    return {name: getattr(run, name) for name in fields + more}


@router.post(
    "/backtests",
    response={202: BacktestOut, **TRADE_ERRORS},
    auth=trade_auth,
    summary="Start a backtest",
    openapi_extra=links_from_id(
        (202,), GetBacktest=("apps_api_endpoints_operations_backtest_get", "backtest_id", "/id")
    ),
)
def backtest_start(request: HttpRequest, payload: BacktestIn):
    """Queue a backtest over the exchange's history from `since` to `until`; poll GET /api/backtests/{id}."""

    run = backtest_enqueue(
        symbol=payload.symbol,
        timeframe=payload.timeframe,
        since=payload.since,
        until=payload.until,
        params=payload.parameters,
        actor=actor_of(request),
    )
    return Status(202, backtest_out(run))


@router.post(
    "/backtests/sweeps",
    response={202: SweepOut, **TRADE_ERRORS},
    auth=trade_auth,
    summary="Start a sweep",
    openapi_extra=links_from_id((202,), GetSweep=("apps_api_endpoints_operations_sweep_get", "sweep_id", "/id")),
)
def sweep_start(request: HttpRequest, payload: SweepIn):
    """Queue a sweep over the exchange's history: every combination of `grid` as its own backtest on the
    workers, ranked by `rank_by`; poll GET /api/backtests/sweeps/{id}. The same request resumes its sweep."""

    sweep = start(
        symbol=payload.symbol,
        timeframe=payload.timeframe,
        since=payload.since,
        until=payload.until,
        params=payload.parameters,
        grid=payload.grid,
        rank_by=payload.rank_by,
        actor=actor_of(request),
        prepare_now=False,
    )
    return Status(202, sweep_json(sweep))


@router.get(
    "/backtests/sweeps/{sweep_id}",
    response={200: SweepOut, 404: ErrorOut, **READ_ERRORS},
    auth=read_auth,
    summary="A sweep: progress and its combinations ranked",
)
def sweep_get(request: HttpRequest, sweep_id: int = Path(..., ge=1, le=ID_MAX)):
    return sweep_json(get_object_or_404(BacktestSweep, pk=sweep_id))


@router.get(
    "/backtests/{backtest_id}",
    response={200: BacktestOut, 404: ErrorOut, **READ_ERRORS},
    auth=read_auth,
    summary="A backtest: status, metrics, trades, equity curve",
)
def backtest_get(request: HttpRequest, backtest_id: int = Path(..., ge=1, le=ID_MAX)):
    return backtest_out(get_object_or_404(BacktestRun, pk=backtest_id))
