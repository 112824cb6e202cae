"""GET /api/eval and /api/why: a decision without acting, and why it was taken."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router

from apps.api.auth import read_auth
from apps.api.endpoints.common import EXCHANGE_ERRORS, READ_ERRORS, broker
from apps.api.schemas import SYMBOL_PATTERN, TIMEFRAMES, DecisionOut, WhyOut, dec
from apps.monitoring import metrics
from apps.signals import selectors as signal_selectors
from apps.signals import services as signal_services

router = Router(tags=["signals"], auth=read_auth)


def decision_out(decision: Any) -> dict[str, Any]:
    return {
        "id": decision.pk,
        "symbol": decision.symbol,
        "timeframe": decision.timeframe,
        "action": decision.action,
        "score": decision.score,
        "price": dec(decision.price),
        "candle_time": decision.candle_time,
        "rule": decision.rule,
        "regime": getattr(decision, "regime", "") or "",
        "explanation": decision.explanation,
        "features": decision.features or {},
        "contributions": decision.contributions or {},
        "risk_block": decision.risk_block,
        "latency_ms": decision.latency_ms,
        "executed": decision.executed,
        "execution_note": decision.execution_note,
        "source": decision.source,
        "created_at": decision.created_at,
    }


def _evaluate(symbol: str, timeframe: str, limit: int) -> Any:
    with metrics.timed("decision", symbol=symbol, source="api"):
        decision = signal_services.evaluate(
            symbol=symbol, timeframe=timeframe, limit=limit, broker=broker(), source="api"
        )
    metrics.DECISIONS.labels(action=decision.action, source="api").inc()
    return decision


@router.get("/eval", response={200: DecisionOut, **READ_ERRORS, **EXCHANGE_ERRORS}, summary="Decide without acting")
def eval_decision(
    request: HttpRequest,
    symbol: str | None = Query(None, pattern=SYMBOL_PATTERN, description="e.g. BTC/USDT; default the first SYMBOLS"),
    timeframe: TIMEFRAMES | None = Query(None, description="default TIMEFRAME"),
    limit: int = Query(200, ge=50, le=1000),
):
    decision = _evaluate(symbol or settings.SYMBOLS[0], timeframe or settings.TIMEFRAME, limit)
    return decision_out(decision)


@router.get("/why", response={200: WhyOut, **READ_ERRORS, **EXCHANGE_ERRORS}, summary="The latest decision explained")
def why(
    request: HttpRequest,
    symbol: str | None = Query(None, pattern=SYMBOL_PATTERN),
    timeframe: TIMEFRAMES | None = Query(None),
    fresh: bool = Query(False, description="evaluate now instead of reading the latest decision"),
    limit: int = Query(200, ge=50, le=1000),
):
    symbol = (symbol or settings.SYMBOLS[0]).upper().replace("_", "/")
    latest = None if fresh else signal_selectors.decision_latest(symbol, timeframe)
    made_now = latest is None
    decision = _evaluate(symbol, timeframe or settings.TIMEFRAME, limit) if latest is None else latest
    return {**signal_selectors.decision_explain(decision), "fresh": made_now}
