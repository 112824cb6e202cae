"""Every tradebot metric family, in one place, plus the helpers the other apps call.

The seed's names are kept exactly. Works in prometheus_client multiprocess mode (see
`apps.monitoring.multiproc`): gauges say how values from several processes combine, and /metrics
(django-prometheus' view) reads every process's file when PROMETHEUS_MULTIPROC_DIR is set.

Use the helpers where one exists (`observe_latency`, `set_breaker_state`, …); otherwise call the
family directly, e.g. `metrics.ORDERS_SUCCESS.labels(side="buy", origin="signal").inc()`.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

# Buckets: fast paths (API, DB, exchange) and slow ones (decision, order, flow: budgets are seconds).
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 20.0, 30.0, 60.0)
BPS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)

# --- the label values each family starts with ------------------------------------------------------------
# In multiprocess mode a family is exported only once a process has created one of its series, so every
# family is declared with the label values it is known to take (`declare(...)` below) and `init_zero()`
# creates those series at zero in each process at start-up: a fresh /metrics shows every family, and an
# alert can tell "zero" from "not scraped". A value that depends on the configuration (symbols) is a
# callable read at start-up. A new metric: `NAME = declare(Counter(...), label=VALUES, ...)`.
LabelValues = Sequence[str] | Callable[[], Iterable[str]]
_DECLARED: dict[str, tuple[Counter | Gauge | Histogram, dict[str, LabelValues]]] = {}
_M = TypeVar("_M", Counter, Gauge, Histogram)


def declare(metric: _M, **labels: LabelValues) -> _M:
    """Register `metric` with the values of each of its labels (every label named, no other)."""
    names = tuple(metric._labelnames)
    if set(names) != set(labels):
        raise ValueError(f"{metric._name}: declare values for exactly its labels {names}, got {sorted(labels)}")
    _DECLARED[metric._name] = (metric, labels)
    return metric


def _symbols() -> list[str]:
    return list(getattr(settings, "SYMBOLS", None) or ["BTC/USDT"])


def _currencies() -> list[str]:
    return sorted({part for symbol in _symbols() for part in symbol.split("/")})


def _limiter_buckets() -> list[str]:
    # apps.exchange.ccxt_broker: one account-wide budget, one per pair for order placement
    return ["gateio", *(f"gateio_orders:{symbol.replace('/', '_')}" for symbol in _symbols())]


def _schedule_names() -> list[str]:
    """The beat schedule's entry names (celery_beat_lag_seconds{task} is keyed by them)."""
    try:
        # start-up order: metrics loads bare (before Django is set up); the schedule's models load when asked
        from apps.operations.schedule import schedule_entries

        return [entry.name for entry in schedule_entries()]
    except Exception:  # settings not loaded (a bare import): the fixed entries are enough
        return ["protective exits", "reconciliation", "drawdown check", "health monitor", "database backup"]


SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit")
ORIGINS = ("signal", "protective_exit", "operator", "external")  # apps.trading.models.Origin
ORDER_FAIL_REASONS = ("rejected", "expired", "unknown")  # how an order failed: its final (or lost) status
ORDER_REJECT_REASONS = ("exchange", "not_sent")  # refused by the exchange / refused before sending
ACTIONS = ("buy", "sell", "hold")
DECISION_SOURCES = ("cycle", "api", "command", "telegram")
SIGNAL_ERROR_REASONS = ("candles", "exchange")
# apps.risk.rules.DEFAULT_RULES names (a test keeps them equal)
RISK_RULES = (
    "trading_gate",
    "trading_hours",
    "breaker_open",
    "unresolved_discrepancies",
    "consecutive_losses",
    "entry_in_flight",
    "max_positions",
    "max_drawdown",
    "position_size",
)
RISK_RESULTS = ("allowed", "blocked", "exit")
EXIT_REASONS = ("stop_loss", "take_profit", "operator", "exchange_stop")  # apps.exits.models.ProtectiveExit.Reason
RECONCILIATION_STATUSES = ("ok", "discrepancies", "failed")
RECONCILIATION_ERROR_KINDS = ("exchange", "internal", "order")
DISCREPANCY_KINDS = ("status", "fill", "fee", "external", "missing_on_exchange", "unknown_resolved", "balance")
DISCREPANCY_SEVERITIES = ("info", "warning", "critical")
BREAKER_STATES = ("closed", "open", "half_open")
ENDPOINT_CLASSES = ("public", "private_orders", "private_account", "private_reads")  # breaker.ENDPOINT_CLASSES
BREAKERS = tuple(f"gateio:{endpoint}" for endpoint in ENDPOINT_CLASSES)
# Celery task names (a test keeps them equal to the registered tasks)
TASKS = (
    "trading.cycle",
    "exits.check",
    "reconciliation.reconcile",
    "risk.drawdown_check",
    "monitoring.health_check",
    "operations.backup_db",
    "backtest.run",
    "backtest.sweep_prepare",
    "backtest.sweep_run",
    "notifications.deliver",
    "apps.telegram_bot.tasks.alert_deliver",  # the old name of notifications.deliver, for messages queued under it
)
PERIODIC_TASKS = TASKS[:6]
TASK_STATES = ("SUCCESS", "FAILURE", "RETRY")
PROCESSES = ("worker",)
HEALTH_COMPONENTS = ("database", "broker", "exchange", "celery_beat", "reconciliation", "disk")  # health.CHECKS
ALERT_KINDS = (
    "drawdown_stop",
    "exit_triggered",
    "exit_filled",
    "reconciliation_discrepancy",
    "breaker_opened",
    "breaker_closed",
    "health_down",
    "health_up",
)  # apps.telegram_bot.alert_format.AlertKind
ALERT_OUTCOMES = ("sent", "deduplicated", "rate_limited", "failed", "enqueue_failed")
ALERT_CHANNELS = ("telegram",)
TELEGRAM_COMMAND_NAMES = (
    "help", "status", "health", "eval", "why", "profit", "positions", "test", "metrics", "exits",
    "pause", "resume", "close",
    "balance", "daily", "weekly", "monthly", "performance", "trades", "version", "closeall",
    "entries", "stopentry",
)  # fmt: skip
TELEGRAM_COMMAND_OUTCOMES = ("ok", "usage", "error")  # apps.telegram_bot.handlers
API_AUTH_REASONS = ("missing", "malformed", "unknown", "revoked", "scope")
VERSION = "0.1.0"


def _mode() -> list[str]:
    return [getattr(settings, "MODE", "paper")]


# --- orders ------------------------------------------------------------------------------------------
ORDERS_SUCCESS = declare(
    Counter("orders_success", "Orders the exchange accepted", ["side", "origin"]), side=SIDES, origin=ORIGINS
)
ORDERS_FAIL = declare(
    Counter("orders_fail", "Orders that failed: rejected, expired or outcome unknown", ["reason"]),
    reason=ORDER_FAIL_REASONS,
)
ORDERS_SUBMITTED = declare(
    Counter("orders_submitted", "Orders sent to the exchange", ["side", "type"]), side=SIDES, type=ORDER_TYPES
)
ORDERS_FILLED = declare(
    Counter("orders_filled", "Orders that reached status filled", ["side", "origin"]), side=SIDES, origin=ORIGINS
)
ORDERS_CANCELLED = declare(Counter("orders_cancelled", "Orders cancelled", ["origin"]), origin=ORIGINS)
ORDERS_REJECTED = declare(
    Counter("orders_rejected", "Orders refused (by the exchange, or before sending)", ["reason"]),
    reason=ORDER_REJECT_REASONS,
)
ORDERS_OUTCOME_UNKNOWN = declare(Counter("orders_outcome_unknown", "Orders sent whose outcome was unknown (timeout)"))
ORDER_RESENDS = declare(
    Counter(
        "order_resends", "Orders re-sent after a lost answer, once the exchange was found not to have them", ["symbol"]
    ),
    symbol=_symbols,
)
ORDERS_RECONCILED = declare(
    Counter("orders_reconciled", "Orders corrected or imported by reconciliation", ["kind"]), kind=DISCREPANCY_KINDS
)
ORDER_TRANSITIONS_REFUSED = declare(Counter("order_transitions_refused", "Illegal order status transitions refused"))
FILLS_RECORDED = declare(Counter("fills_recorded", "Fills recorded", ["side"]), side=SIDES)
FEES_PAID = declare(Counter("fees_paid", "Fees paid, in the currency charged", ["currency"]), currency=_currencies)
LATENCY_ORDER = declare(
    Histogram("latency_order_execution_seconds", "From order creation to the exchange's answer", buckets=SLOW)
)
SLIPPAGE_ACTUAL = declare(
    Histogram("slippage_actual_bps", "Fill price against the reference price, bps", ["side"], buckets=BPS), side=SIDES
)
SLIPPAGE_EXPECTED = declare(
    Histogram("slippage_expected_bps", "Slippage assumed when sizing, bps", ["side"], buckets=BPS), side=SIDES
)

# --- decisions and signals ---------------------------------------------------------------------------
LATENCY_DECISION = declare(Histogram("latency_decision_seconds", "Candles to stored decision", buckets=SLOW))
LATENCY_FLOW = declare(Histogram("latency_flow_seconds", "Trading cycle: candles to order answered", buckets=SLOW))
DECISIONS = declare(
    Counter("decisions", "Decisions taken", ["action", "source"]), action=ACTIONS, source=DECISION_SOURCES
)
DECISION_SCORE = declare(
    Gauge("decision_score", "Last fused score per symbol", ["symbol"], multiprocess_mode="mostrecent"),
    symbol=_symbols,
)
SIGNAL_ERRORS = declare(
    Counter("signal_evaluation_errors", "Evaluations that failed", ["reason"]), reason=SIGNAL_ERROR_REASONS
)
CANDLE_CACHE = declare(
    Counter("candle_cache_requests", "Candle requests by cache result", ["result"]), result=("hit", "miss")
)
TRADING_CYCLES = declare(
    Counter("trading_cycles", "Trading cycles run", ["outcome"]), outcome=("ok", "skipped", "failed")
)
PERF_BUDGET_EXCEEDED = declare(
    Counter("performance_budget_exceeded", "Timings over their PERF_BUDGET_*_P99_MS budget", ["component"]),
    component=("decision", "order", "flow"),
)
PERF_BUDGET_SECONDS = declare(
    Gauge(
        "performance_budget_seconds",
        "The PERF_BUDGET_*_P99_MS budgets in force, seconds (alerts and dashboards compare p99s with them)",
        ["component"],
        multiprocess_mode="max",
    ),
    component=("decision", "order", "flow"),
)

# --- risk ----------------------------------------------------------------------------------------------
RISK_BLOCKS = declare(Counter("risk_blocks", "Entries blocked by a risk rule", ["rule"]), rule=RISK_RULES)
RISK_CHECKS = declare(Counter("risk_checks", "Risk checks run", ["result"]), result=RISK_RESULTS)
TRADING_HALTED = declare(Gauge("trading_halted", "1 when the kill switch is on", multiprocess_mode="mostrecent"))
KILL_SWITCH_CHANGES = declare(
    Counter("kill_switch_changes", "Kill switch turned on or off", ["action"]), action=("pause", "resume")
)
EQUITY_DRAWDOWN_PCT = declare(
    Gauge("equity_drawdown_pct", "Drawdown from the equity peak, %", multiprocess_mode="mostrecent")
)
EQUITY_DRAWDOWN_LIMIT_PCT = declare(
    Gauge("equity_drawdown_limit_pct", "MAX_DRAWDOWN_PCT in force, %", multiprocess_mode="mostrecent")
)

# --- positions, PnL ------------------------------------------------------------------------------------
POSITIONS_OPEN = declare(
    Gauge("positions_open", "Open positions", ["symbol"], multiprocess_mode="mostrecent"), symbol=_symbols
)
POSITION_SYNC_DRIFT = declare(
    Gauge(
        "position_sync_drift_seconds",
        "Age of the last agreement between positions and balances",
        ["symbol"],
        multiprocess_mode="mostrecent",
    ),
    symbol=_symbols,
)
POSITION_BALANCE_DIFF = declare(
    Gauge(
        "position_balance_difference",
        "Exchange balance minus our position, base units",
        ["symbol"],
        multiprocess_mode="mostrecent",
    ),
    symbol=_symbols,
)
PNL_DIFF = declare(
    Gauge(
        "pnl_calculated_vs_exchange_difference",
        "Our realized PnL minus the exchange-derived one, quote",
        ["symbol"],
        multiprocess_mode="mostrecent",
    ),
    symbol=_symbols,
)
PNL_REALIZED = declare(
    Gauge("pnl_realized_quote", "Realized PnL after fees, quote", ["symbol"], multiprocess_mode="mostrecent"),
    symbol=_symbols,
)
PNL_UNREALIZED = declare(
    Gauge("pnl_unrealized_quote", "Unrealized PnL, quote", ["symbol"], multiprocess_mode="mostrecent"),
    symbol=_symbols,
)
BALANCE_FREE = declare(
    Gauge("balance_free", "Free balance per currency", ["currency"], multiprocess_mode="mostrecent"),
    currency=_currencies,
)

# --- protective exits ---------------------------------------------------------------------------------
EXITS_TRIGGERED = declare(
    Counter("protective_exits_triggered", "Protective exits triggered", ["reason"]), reason=EXIT_REASONS
)
EXITS_FAILED = declare(
    Counter("protective_exit_failures", "Protective exit orders that failed", ["reason"]),
    reason=(*EXIT_REASONS, "unknown"),
)
EXITS_ARMED = declare(Gauge("protective_exits_armed", "Exits armed", multiprocess_mode="mostrecent"))
EXITS_STUCK = declare(
    Gauge("protective_exits_stuck", "Exits triggered but not filled in time", multiprocess_mode="mostrecent")
)
EXITS_CHECK_DURATION = declare(Histogram("protective_exit_check_duration_seconds", "One exit check pass", buckets=FAST))

# --- reconciliation -----------------------------------------------------------------------------------
RECONCILIATION_RUNS = declare(
    Counter("reconciliation_runs", "Reconciliation passes", ["status"]), status=RECONCILIATION_STATUSES
)
RECONCILIATION_ERRORS = declare(
    Counter("reconciliation_errors", "Reconciliation passes or steps that failed", ["kind"]),
    kind=RECONCILIATION_ERROR_KINDS,
)
RECONCILIATION_DISCREPANCIES = declare(
    Counter("reconciliation_discrepancies", "Discrepancies found", ["kind", "severity"]),
    kind=DISCREPANCY_KINDS,
    severity=DISCREPANCY_SEVERITIES,
)
RECONCILIATION_DURATION = declare(Histogram("reconciliation_duration_seconds", "One reconciliation pass", buckets=SLOW))
RECONCILIATION_LAST_SUCCESS = declare(
    Gauge("reconciliation_last_success_timestamp_seconds", "When a pass last finished", multiprocess_mode="max")
)

# --- exchange, breakers, rate limiter -----------------------------------------------------------------
CIRCUIT_BREAKER_STATE = declare(
    Gauge(
        "circuit_breaker_state", "1 for the breaker's current state", ["name", "state"], multiprocess_mode="mostrecent"
    ),
    name=BREAKERS,
    state=BREAKER_STATES,
)
CIRCUIT_BREAKER_TRANSITIONS = declare(
    Counter("circuit_breaker_transitions", "Breaker state changes", ["name", "to"]), name=BREAKERS, to=BREAKER_STATES
)
EXCHANGE_REQUESTS = declare(
    Counter("exchange_requests", "Exchange calls", ["endpoint_class", "outcome"]),
    endpoint_class=ENDPOINT_CLASSES,
    outcome=("ok", "error"),
)
EXCHANGE_LATENCY = declare(
    Histogram("exchange_request_latency_seconds", "Exchange call latency", ["endpoint_class"], buckets=FAST),
    endpoint_class=ENDPOINT_CLASSES,
)
EXCHANGE_ERRORS = declare(
    Counter("exchange_errors", "Exchange call errors", ["endpoint_class", "error"]),
    endpoint_class=ENDPOINT_CLASSES,
    error=("network", "exchange"),
)
EXCHANGE_RETRIES = declare(
    Counter("exchange_retries", "Exchange calls retried", ["endpoint_class"]), endpoint_class=ENDPOINT_CLASSES
)
RATE_LIMITER_CALLS = declare(
    Counter("rate_limiter_calls", "Calls the shared limiter let through", ["bucket"]), bucket=_limiter_buckets
)
RATE_LIMITER_WAITS = declare(
    Counter("rate_limiter_waits", "Calls that had to wait for the shared limiter", ["bucket"]), bucket=_limiter_buckets
)
RATE_LIMITER_WAIT_SECONDS = declare(
    Histogram("rate_limiter_wait_seconds", "Time spent waiting for the limiter", ["bucket"], buckets=FAST),
    bucket=_limiter_buckets,
)
RATE_LIMIT_BUDGET_CALLS = declare(
    Gauge(
        "rate_limit_budget_calls",
        "Calls the shared limiter lets through per period",
        ["bucket"],
        multiprocess_mode="max",
    ),
    bucket=("gateio", "gateio_orders"),
)
RATE_LIMIT_BUDGET_PERIOD = declare(
    Gauge("rate_limit_budget_period_seconds", "The limiter's period per bucket", ["bucket"], multiprocess_mode="max"),
    bucket=("gateio", "gateio_orders"),
)
RATE_LIMITER_REJECTED = declare(
    Counter("rate_limiter_rejected", "Calls refused after RATE_LIMIT_MAX_WAIT_SEC", ["bucket"]),
    bucket=_limiter_buckets,
)

# --- Celery, beat, shutdown, backups ------------------------------------------------------------------
CELERY_TASK_RUNS = declare(
    Counter("celery_task_runs", "Task runs by final state", ["task", "state"]), task=TASKS, state=TASK_STATES
)
CELERY_TASK_FAILURES = declare(Counter("celery_task_failures", "Task runs that raised", ["task"]), task=TASKS)
CELERY_TASK_RETRIES = declare(Counter("celery_task_retries", "Task retries", ["task"]), task=TASKS)
CELERY_TASK_DURATION = declare(
    Histogram("celery_task_duration_seconds", "Task run time", ["task"], buckets=SLOW), task=TASKS
)
CELERY_TASK_LAST_SUCCESS = declare(
    Gauge(
        "celery_task_last_success_timestamp_seconds",
        "When a worker last finished the task successfully",
        ["task"],
        multiprocess_mode="max",
    ),
    task=TASKS,
)
CELERY_BEAT_LAG = declare(
    Gauge(
        "celery_beat_lag_seconds", "Seconds since a periodic task last ran", ["task"], multiprocess_mode="mostrecent"
    ),
    task=_schedule_names,
)
PERIODIC_SKIPPED = declare(
    Counter("periodic_task_skipped", "Periodic runs skipped: another run held the lock", ["task"]),
    task=PERIODIC_TASKS,
)
PERIODIC_ABANDONED = declare(
    Counter(
        "periodic_task_abandoned",
        "Runs left `running` by a worker that died, closed as failed by the next run",
        ["task"],
    ),
    task=PERIODIC_TASKS,
)
PERIODIC_IN_PROCESS = declare(
    Counter("periodic_task_in_process", "Protective tasks beat ran itself because the broker refused them", ["task"]),
    task=("exits.check", "monitoring.health_check"),
)
GRACEFUL_SHUTDOWN = declare(
    Histogram("graceful_shutdown_duration_seconds", "Time from the stop signal to exit", ["process"], buckets=SLOW),
    process=PROCESSES,
)
SHUTDOWNS = declare(
    Counter("graceful_shutdowns", "Shutdowns by outcome", ["process", "outcome"]),
    process=PROCESSES,
    outcome=("graceful", "slow"),
)
BACKUP_RUNS = declare(Counter("backup_runs", "Database backups by outcome", ["status"]), status=("ok", "failed"))
BACKUP_AGE = declare(Gauge("backup_age_seconds", "Age of the newest backup", multiprocess_mode="mostrecent"))
BACKUP_SIZE = declare(Gauge("backup_size_bytes", "Size of the newest backup", multiprocess_mode="mostrecent"))
BACKUP_INTERVAL = declare(
    Gauge("backup_interval_seconds", "DB_BACKUP_INTERVAL_HOURS in force, seconds", multiprocess_mode="max")
)
BACKUP_LAST_SUCCESS = declare(
    Gauge("backup_last_success_timestamp_seconds", "When the newest backup was written", multiprocess_mode="max")
)

# --- Telegram, alerts, API, admin, health -------------------------------------------------------------
TELEGRAM_ALERTS = declare(
    Counter("telegram_alerts", "Alerts by kind and outcome (sent, failed, dropped…)", ["kind", "outcome"]),
    kind=ALERT_KINDS,
    outcome=ALERT_OUTCOMES,
)
TELEGRAM_ALERTS_DROPPED = declare(
    Counter("telegram_alerts_dropped", "Alerts dropped before sending", ["reason"]),
    reason=("deduplicated", "rate_limited", "enqueue_failed"),
)
TELEGRAM_COMMANDS = declare(
    Counter("telegram_commands", "Bot commands handled", ["command", "outcome"]),
    command=TELEGRAM_COMMAND_NAMES,
    outcome=TELEGRAM_COMMAND_OUTCOMES,
)
ALERTS_FAILED = declare(
    Counter("alerts_failed", "Alerts that could not be delivered on a channel", ["channel"]), channel=ALERT_CHANNELS
)
API_REQUESTS = declare(
    Counter("api_requests", "REST API requests", ["endpoint", "method", "status"]),
    endpoint=("unmatched",),
    method=("GET",),
    status=("404",),
)
API_LATENCY = declare(
    Histogram("api_request_latency_seconds", "REST API latency", ["endpoint", "method"], buckets=FAST),
    endpoint=("unmatched",),
    method=("GET",),
)
API_AUTH_FAILURES = declare(
    Counter("api_auth_failures", "Refused API credentials", ["reason"]), reason=API_AUTH_REASONS
)
# Wrong passwords, refusals during a lockout, wrong second factors and failed re-authentications (apps.security).
ADMIN_LOGIN_FAILURES = declare(Counter("admin_login_failures", "Failed admin (operator console) logins"))
ADMIN_LOCKOUTS = declare(Counter("admin_login_lockouts", "Admin login attempts refused by a django-axes lockout"))
REQUESTS_REFUSED = declare(
    Counter("http_requests_refused", "Requests refused at the edge before any view acted", ["reason"]),
    reason=("too_large", "bad_json", "too_deep", "duplicate_update"),
)
HEALTH_STATUS = declare(
    Gauge("health_component_status", "0 ok, 1 degraded, 2 down", ["component"], multiprocess_mode="mostrecent"),
    component=HEALTH_COMPONENTS,
)
HEALTH_LATENCY = declare(
    Histogram("health_check_latency_seconds", "Readiness check latency", ["component"], buckets=FAST),
    component=HEALTH_COMPONENTS,
)
BUILD_INFO = declare(
    Gauge("tradebot_build_info", "Always 1; what runs", ["version", "mode"], multiprocess_mode="max"),
    version=(VERSION,),
    mode=_mode,
)

HEALTH_LEVEL = {"ok": 0, "degraded": 1, "down": 2}

# --- helpers --------------------------------------------------------------------------------------------
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_LATENCY_BY_COMPONENT = {"decision": LATENCY_DECISION, "order": LATENCY_ORDER, "flow": LATENCY_FLOW}


def budget_seconds(component: str) -> float | None:
    """The PERF_BUDGET_<COMPONENT>_P99_MS budget in seconds, or None when there is none."""

    value = getattr(settings, f"PERF_BUDGET_{component.upper()}_P99_MS", None)
    return None if value is None else value / 1000


def observe_latency(
    component: str, seconds: float, *, breakdown: dict[str, float] | None = None, **context: object
) -> bool:
    """Record a decision / order / flow timing; over its budget, count it and log the breakdown.

    Returns True when the budget was exceeded. `breakdown` maps step → seconds; `context` (symbol,
    client_order_id…) goes into the warning."""
    histogram = _LATENCY_BY_COMPONENT.get(component)
    if histogram is not None:
        histogram.observe(seconds)
    budget = budget_seconds(component)
    if budget is None or seconds <= budget:
        return False
    PERF_BUDGET_EXCEEDED.labels(component=component).inc()
    steps = {name: round(value * 1000, 2) for name, value in (breakdown or {}).items()}
    extra = {k: v for k, v in context.items() if k not in _RESERVED}
    log.warning(
        "%s took %.0f ms, over its %.0f ms budget; breakdown (ms): %s",
        component,
        seconds * 1000,
        budget * 1000,
        steps or "n/a",
        extra={
            "component": component,
            "elapsed_ms": round(seconds * 1000, 2),
            "budget_ms": budget * 1000,
            "breakdown_ms": steps,
            **extra,
        },
    )
    return True


@dataclass
class LatencyTimer:
    """Times a component and its steps: `timer.step("fetch")` closes the current step."""

    component: str
    started: float = field(default_factory=time.perf_counter)
    steps: dict[str, float] = field(default_factory=dict)
    _last: float = 0.0
    elapsed: float = 0.0
    exceeded: bool = False

    def step(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = now - (self._last or self.started)
        self._last = now


@contextmanager
def timed(component: str, **context: object) -> Iterator[LatencyTimer]:
    """`with timed("decision", symbol=s) as t: …; t.step("candles") …` — observes on exit, even on error."""
    timer = LatencyTimer(component)
    try:
        yield timer
    finally:
        timer.elapsed = time.perf_counter() - timer.started
        timer.exceeded = observe_latency(component, timer.elapsed, breakdown=timer.steps, **context)


def set_breaker_state(name: str, state: str) -> None:
    """circuit_breaker_state{name,state}: 1 for `state`, 0 for the others."""
    for candidate in BREAKER_STATES:
        CIRCUIT_BREAKER_STATE.labels(name=name, state=candidate).set(1 if candidate == state else 0)


def set_health(component: str, status: str, latency_seconds: float) -> None:
    HEALTH_STATUS.labels(component=component).set(HEALTH_LEVEL.get(status, 2))
    HEALTH_LATENCY.labels(component=component).observe(latency_seconds)


# A zero written into a "mostrecent" gauge by init_zero carries this timestamp (the epoch's first second):
# older than any real write, so a process starting up never hides a value another process wrote (the
# collector keeps the newest), yet the series is exported (a zero with no timestamp would not be).
ZERO_TIMESTAMP = 1.0


def _resolve(values: LabelValues) -> list[str]:
    if callable(values):
        try:
            return [str(value) for value in values()]
        except Exception:  # the configuration is not loaded (a bare import): nothing to create yet
            log.debug("label values not available yet", exc_info=True)
            return []
    return [str(value) for value in values]


def declared() -> dict[str, dict[str, list[str]]]:
    """Family name → label → the values `init_zero` creates (callables resolved now)."""
    return {name: {label: _resolve(v) for label, v in labels.items()} for name, (_, labels) in _DECLARED.items()}


def init_zero() -> int:
    """Create every declared series at zero in this process (each Django process calls it at start-up, from
    MonitoringConfig.ready). Counters and histograms at 0 add nothing; gauges keep any value already set.
    Returns the number of series."""
    created = 0
    for metric, labels in list(_DECLARED.values()):
        names = metric._labelnames
        if names:
            values = [_resolve(labels[name]) for name in names]
            children = [metric.labels(*combo) for combo in itertools.product(*values)]
        else:
            children = [metric]
        for child in children:
            value = getattr(child, "_value", None)
            mostrecent = getattr(child, "_multiprocess_mode", "") in ("mostrecent", "livemostrecent")
            if mostrecent and value is not None and getattr(value, "_timestamp", None) == 0.0 and value.get() == 0:
                value.set(0.0, timestamp=ZERO_TIMESTAMP)
        created += len(children)
    return created


def publish_settings() -> None:
    """The settings alert rules compare with (latency budgets, backup interval), as gauges."""

    for component in ("decision", "order", "flow"):
        budget = budget_seconds(component)
        if budget is not None:
            PERF_BUDGET_SECONDS.labels(component=component).set(budget)
    hours = getattr(settings, "DB_BACKUP_INTERVAL_HOURS", None)
    if hours:
        BACKUP_INTERVAL.set(float(hours) * 3600)


def families() -> list[str]:
    """Names of every family defined here (counters without their _total suffix)."""
    return sorted({value._name for value in globals().values() if isinstance(value, (Counter, Gauge, Histogram))})


def family(name: str) -> Counter | Gauge | Histogram | None:
    """The family exposed as `name` (`orders_success_total` and `orders_success` both work)."""
    for value in list(globals().values()):
        if isinstance(value, (Counter, Gauge, Histogram)) and name in (value._name, value._name + "_total"):
            return value
    return None


def __getattr__(name: str) -> Counter | Gauge | Histogram:
    """`getattr(metrics, "telegram_alerts_total")`: families by their exposed name too."""
    found = family(name)
    if found is None:
        raise AttributeError(name)
    return found
