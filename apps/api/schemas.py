"""Request and response schemas. Money and quantities travel as decimal strings, in and out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

SYMBOL_PATTERN = r"^[A-Za-z0-9]{2,15}[/_][A-Za-z0-9]{2,15}$"
# At most 12 digits before and 16 after the point: what the money columns and Decimal arithmetic at 16
# places hold (apps.trading.bounds; issue 12).
DECIMAL_PATTERN = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,16})?$"
CLIENT_ID_PATTERN = r"^t-[A-Za-z0-9._-]{1,26}$"
ORDER_STATUSES = Literal[
    "new", "submitted", "open", "partially_filled", "filled", "cancelled", "rejected", "expired", "unknown"
]
VENUES = Literal["paper", "live"]
TIMEFRAMES = Literal["1m", "5m", "15m", "30m", "1h", "4h", "8h", "1d"]


def dec(value: Decimal | None) -> str | None:
    """A Decimal as a plain string without exponent or trailing zeros ("50000", "0.01")."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


class ErrorOut(Schema):
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
    request_id: str | None = None
    rule: str | None = None  # the risk rule that refused an order (409)
    risk_event_id: int | None = None


class Page(Schema):
    count: int
    limit: int
    offset: int


# --- decisions ------------------------------------------------------------------------------------------
class DecisionOut(Schema):
    id: int
    symbol: str
    timeframe: str
    action: str
    score: float
    price: str | None
    candle_time: datetime | None
    rule: str
    regime: str
    explanation: str
    features: dict[str, Any]
    contributions: dict[str, Any]
    risk_block: Any = None
    latency_ms: float
    executed: bool
    execution_note: str
    source: str
    created_at: datetime | None


class WhyOut(Schema):
    model_config = ConfigDict(extra="allow")

    id: int
    symbol: str
    timeframe: str
    action: str
    score: float
    rule: str = ""
    rule_text: str | None = None
    regime: str | None = None
    explanation: str = ""
    features: list[dict[str, Any]] = Field(default_factory=list)
    risk_block: Any = None
    risk_text: str | None = None
    price: str | None = None
    candle_time: str | None = None
    created_at: str | None = None
    fresh: bool = False


# --- orders ---------------------------------------------------------------------------------------------
class OrderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(pattern=SYMBOL_PATTERN, examples=["BTC/USDT"])
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    amount: str | None = Field(None, pattern=DECIMAL_PATTERN, description="base amount, a decimal string")
    quote_amount: str | None = Field(None, pattern=DECIMAL_PATTERN, description="quote to spend (market buy)")
    price: str | None = Field(None, pattern=DECIMAL_PATTERN, description="limit price, a decimal string")
    client_order_id: str | None = Field(None, pattern=CLIENT_ID_PATTERN, max_length=28)


class OrderOut(Schema):
    id: int
    venue: VENUES = Field(description="the books it lives on: paper (simulated fills) or live (the exchange)")
    client_order_id: str | None  # None: an order imported from the exchange that carried no t- text
    exchange_order_id: str | None
    symbol: str
    side: str
    type: str
    status: str
    amount: str | None
    quote_amount: str | None
    price: str | None
    filled: str
    average_price: str | None
    cost: str
    fee: str
    fee_currency: str
    fees: dict[str, str]
    origin: str
    decision_id: int | None
    position_id: int | None
    last_error: str
    created_at: datetime
    submitted_at: datetime | None
    updated_at: datetime


class OrderPage(Page):
    items: list[OrderOut]


# --- positions, exits, PnL -------------------------------------------------------------------------------
class PositionOut(Schema):
    id: int
    venue: VENUES = Field(description="the books it lives on: paper (simulated fills) or live (the exchange)")
    symbol: str
    status: str
    amount: str
    average_entry_price: str
    cost_basis: str
    realized_pnl: str
    fees_quote: str
    opened_at: datetime
    closed_at: datetime | None


class PositionPage(Page):
    items: list[PositionOut]


class ExitOut(Schema):
    id: int
    position_id: int
    symbol: str
    status: str
    entry_price: str
    stop_loss_price: str
    take_profit_price: str
    trigger_reason: str
    trigger_price: str | None
    exit_order_id: int | None
    exchange_stop_order_id: str
    attempts: int
    last_error: str
    armed_at: datetime
    triggered_at: datetime | None
    filled_at: datetime | None


class ExitPage(Page):
    items: list[ExitOut]


class EquityPoint(Schema):
    time: datetime
    equity: str


class PnlOut(Schema):
    venue: VENUES = Field(description="the books these figures are of")
    symbol: str | None
    realized_pnl: str
    unrealized_pnl: str
    unrealized_priced: bool
    fees: str
    closed_positions: int
    open_positions: int
    wins: int
    losses: int
    win_rate: str | None
    profit_factor: str | None
    average_win: str | None
    average_loss: str | None
    best: str | None
    worst: str | None
    max_drawdown: str
    equity_curve: list[EquityPoint]


# --- operations ---------------------------------------------------------------------------------------------
class ReconciliationOut(Schema):
    id: int
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    symbols: list[str]
    checked: int
    fixed: int
    imported: int
    missing: int
    exchange_calls: int
    discrepancies: int
    error: str


class ReconciliationFailedOut(ReconciliationOut):
    """A run that did not complete: its summary, its error, and `detail` as every error answer has."""

    detail: str


class ReasonIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=255)


class TradingStatusOut(Schema):
    mode: str
    enable_trading: bool
    halted: bool
    halt_reason: str
    entries_allowed: bool
    why: str


class BacktestIn(Schema):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(pattern=SYMBOL_PATTERN)
    timeframe: TIMEFRAMES = "1m"
    since: datetime = Field(description="first candle's open time (UTC when no offset is given)")
    until: datetime = Field(description="candles opening before this time")
    parameters: dict[str, Any] | None = Field(
        None,
        description="overrides of the live settings: weights, entry_threshold, exit_threshold, stop_loss_pct, "
        "take_profit_pct, fee_pct, slippage_bps, initial_cash, window, position_size_usd, max_positions, "
        "max_drawdown_pct, max_consecutive_losses, loss_cooldown_min, hours",
    )


class SweepIn(BacktestIn):
    grid: dict[str, list[Any]] = Field(
        description="parameter name -> values; every combination runs as its own backtest on the workers"
    )
    rank_by: str = Field("total_return_pct", max_length=32, description="the metric the sweep is ranked by")


class SweepOut(Schema):
    id: int
    symbol: str
    timeframe: str
    status: Literal["queued", "running", "done", "failed"]
    rank_by: str
    grid: dict[str, list[Any]]
    parameters: dict[str, Any]
    finished: int = Field(description="combinations finished (done or failed)")
    total: int
    ranking: list[dict[str, Any]] = Field(description="finished combinations, best first")
    error: str
    created_at: datetime
    finished_at: datetime | None


class BacktestOut(Schema):
    id: int
    symbol: str
    timeframe: str
    source: str
    status: Literal["queued", "running", "done", "failed"]
    since: datetime | None
    until: datetime | None
    candles: int
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    trades: list[dict[str, Any]]
    equity_curve: list[list[str]]
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def links_from_id(codes: tuple[int, ...], **targets: tuple[str, str, str]) -> dict[str, Any]:
    """OpenAPI links for an answer carrying an id: what a client (or schemathesis's stateful phase) can call
    next with it. Each target is (operationId, path parameter, JSON pointer into the answer's body)."""
    links = {
        name: {"operationId": operation, "parameters": {parameter: f"$response.body#{pointer}"}}
        for name, (operation, parameter, pointer) in targets.items()
    }
    return {"responses": {code: {"links": links} for code in codes}}  # int keys, as django-ninja keeps them
