"""Every tradebot metric family, in one place, plus the helpers the other apps call.

The seed's names are kept exactly. Works in prometheus_client multiprocess mode (see
`apps.monitoring.multiproc`): gauges say how values from several processes combine, and /metrics
(django-prometheus' view) reads every process's file when PROMETHEUS_MULTIPROC_DIR is set.

Use the helpers where one exists (`observe_latency`, `set_breaker_state`, …); otherwise call the
family directly, e.g. `metrics.ORDERS_SUCCESS.labels(side="buy", origin="signal").inc()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

# Buckets: fast paths (API, DB, exchange) and slow ones (decision, order, flow: budgets are seconds).
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 20.0, 30.0, 60.0)
BPS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)

# --- orders ------------------------------------------------------------------------------------------
ORDERS_SUCCESS = Counter("orders_success", "Orders the exchange accepted", ["side", "origin"])
ORDERS_FAIL = Counter("orders_fail", "Orders that could not be placed", ["reason"])
ORDERS_SUBMITTED = Counter("orders_submitted", "Orders sent to the exchange", ["side", "type"])
ORDERS_FILLED = Counter("orders_filled", "Orders that reached status filled", ["side", "origin"])
ORDERS_CANCELLED = Counter("orders_cancelled", "Orders cancelled", ["origin"])
ORDERS_REJECTED = Counter("orders_rejected", "Orders the exchange refused", ["reason"])
ORDERS_OUTCOME_UNKNOWN = Counter("orders_outcome_unknown", "Orders sent whose outcome was unknown (timeout)")
ORDERS_RECONCILED = Counter("orders_reconciled", "Orders corrected or imported by reconciliation", ["kind"])
ORDER_TRANSITIONS_REFUSED = Counter("order_transitions_refused", "Illegal order status transitions refused")
FILLS_RECORDED = Counter("fills_recorded", "Fills recorded", ["side"])
FEES_PAID = Counter("fees_paid", "Fees paid, in the currency charged", ["currency"])
LATENCY_ORDER = Histogram(
    "latency_order_execution_seconds", "From order creation to the exchange's answer", buckets=SLOW
)
SLIPPAGE_ACTUAL = Histogram("slippage_actual_bps", "Fill price against the reference price, bps", ["side"], buckets=BPS)
SLIPPAGE_EXPECTED = Histogram("slippage_expected_bps", "Slippage assumed when sizing, bps", ["side"], buckets=BPS)

# --- decisions and signals ---------------------------------------------------------------------------
LATENCY_DECISION = Histogram("latency_decision_seconds", "Candles to stored decision", buckets=SLOW)
LATENCY_FLOW = Histogram("latency_flow_seconds", "Trading cycle: candles to order answered", buckets=SLOW)
DECISIONS = Counter("decisions", "Decisions taken", ["action", "source"])
DECISION_SCORE = Gauge("decision_score", "Last fused score per symbol", ["symbol"], multiprocess_mode="mostrecent")
SIGNAL_ERRORS = Counter("signal_evaluation_errors", "Evaluations that failed", ["reason"])
CANDLE_CACHE = Counter("candle_cache_requests", "Candle requests by cache result", ["result"])
TRADING_CYCLES = Counter("trading_cycles", "Trading cycles run", ["outcome"])
PERF_BUDGET_EXCEEDED = Counter(
    "performance_budget_exceeded", "Timings over their PERF_BUDGET_*_P99_MS budget", ["component"]
)

# --- risk ----------------------------------------------------------------------------------------------
RISK_BLOCKS = Counter("risk_blocks", "Entries blocked by a risk rule", ["rule"])
RISK_CHECKS = Counter("risk_checks", "Risk checks run", ["result"])
TRADING_HALTED = Gauge("trading_halted", "1 when the kill switch is on", multiprocess_mode="mostrecent")
KILL_SWITCH_CHANGES = Counter("kill_switch_changes", "Kill switch turned on or off", ["action"])
EQUITY_DRAWDOWN_PCT = Gauge("equity_drawdown_pct", "Drawdown from the equity peak, %", multiprocess_mode="mostrecent")

# --- positions, PnL ------------------------------------------------------------------------------------
POSITIONS_OPEN = Gauge("positions_open", "Open positions", ["symbol"], multiprocess_mode="mostrecent")
POSITION_SYNC_DRIFT = Gauge(
    "position_sync_drift_seconds",
    "Age of the last agreement between positions and balances",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
POSITION_BALANCE_DIFF = Gauge(
    "position_balance_difference",
    "Exchange balance minus our position, base units",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
PNL_DIFF = Gauge(
    "pnl_calculated_vs_exchange_difference",
    "Our realized PnL minus the exchange-derived one, quote",
    ["symbol"],
    multiprocess_mode="mostrecent",
)
PNL_REALIZED = Gauge("pnl_realized_quote", "Realized PnL after fees, quote", ["symbol"], multiprocess_mode="mostrecent")
PNL_UNREALIZED = Gauge("pnl_unrealized_quote", "Unrealized PnL, quote", ["symbol"], multiprocess_mode="mostrecent")
BALANCE_FREE = Gauge("balance_free", "Free balance per currency", ["currency"], multiprocess_mode="mostrecent")

# --- protective exits ---------------------------------------------------------------------------------
EXITS_TRIGGERED = Counter("protective_exits_triggered", "Protective exits triggered", ["reason"])
EXITS_FAILED = Counter("protective_exit_failures", "Protective exit orders that failed", ["reason"])
EXITS_ARMED = Gauge("protective_exits_armed", "Exits armed", multiprocess_mode="mostrecent")
EXITS_STUCK = Gauge("protective_exits_stuck", "Exits triggered but not filled in time", multiprocess_mode="mostrecent")
EXITS_CHECK_DURATION = Histogram("protective_exit_check_duration_seconds", "One exit check pass", buckets=FAST)

# --- reconciliation -----------------------------------------------------------------------------------
RECONCILIATION_RUNS = Counter("reconciliation_runs", "Reconciliation passes", ["status"])
RECONCILIATION_ERRORS = Counter("reconciliation_errors", "Reconciliation passes or steps that failed", ["kind"])
RECONCILIATION_DISCREPANCIES = Counter("reconciliation_discrepancies", "Discrepancies found", ["kind", "severity"])
RECONCILIATION_DURATION = Histogram("reconciliation_duration_seconds", "One reconciliation pass", buckets=SLOW)
RECONCILIATION_LAST_SUCCESS = Gauge(
    "reconciliation_last_success_timestamp_seconds", "When a pass last finished", multiprocess_mode="max"
)

# --- exchange, breakers, rate limiter -----------------------------------------------------------------
BREAKER_STATES = ("closed", "open", "half_open")
CIRCUIT_BREAKER_STATE = Gauge(
    "circuit_breaker_state", "1 for the breaker's current state", ["name", "state"], multiprocess_mode="mostrecent"
)
CIRCUIT_BREAKER_TRANSITIONS = Counter("circuit_breaker_transitions", "Breaker state changes", ["name", "to"])
EXCHANGE_REQUESTS = Counter("exchange_requests", "Exchange calls", ["endpoint_class", "outcome"])
EXCHANGE_LATENCY = Histogram(
    "exchange_request_latency_seconds", "Exchange call latency", ["endpoint_class"], buckets=FAST
)
EXCHANGE_ERRORS = Counter("exchange_errors", "Exchange call errors", ["endpoint_class", "error"])
EXCHANGE_RETRIES = Counter("exchange_retries", "Exchange calls retried", ["endpoint_class"])
RATE_LIMITER_WAITS = Counter("rate_limiter_waits", "Calls that had to wait for the shared limiter", ["bucket"])
RATE_LIMITER_WAIT_SECONDS = Histogram(
    "rate_limiter_wait_seconds", "Time spent waiting for the limiter", ["bucket"], buckets=FAST
)
RATE_LIMITER_REJECTED = Counter("rate_limiter_rejected", "Calls refused after RATE_LIMIT_MAX_WAIT_SEC", ["bucket"])

# --- Celery, beat, shutdown, backups ------------------------------------------------------------------
CELERY_TASK_RUNS = Counter("celery_task_runs", "Task runs by final state", ["task", "state"])
CELERY_TASK_FAILURES = Counter("celery_task_failures", "Task runs that raised", ["task"])
CELERY_TASK_RETRIES = Counter("celery_task_retries", "Task retries", ["task"])
CELERY_TASK_DURATION = Histogram("celery_task_duration_seconds", "Task run time", ["task"], buckets=SLOW)
CELERY_BEAT_LAG = Gauge(
    "celery_beat_lag_seconds", "Seconds since a periodic task last ran", ["task"], multiprocess_mode="mostrecent"
)
PERIODIC_SKIPPED = Counter("periodic_task_skipped", "Periodic runs skipped: another run held the lock", ["task"])
# task: the periodic task names of apps.operations.schedule (trading.cycle, exits.check, reconciliation.reconcile,
# risk.drawdown_check, monitoring.health_check, operations.backup_db)
PERIODIC_ABANDONED = Counter(
    "periodic_task_abandoned", "Runs left `running` by a worker that died, closed as failed by the next run", ["task"]
)
PERIODIC_IN_PROCESS = Counter(
    "periodic_task_in_process", "Protective tasks beat ran itself because the broker refused them", ["task"]
)
GRACEFUL_SHUTDOWN = Histogram(
    "graceful_shutdown_duration_seconds", "Time from the stop signal to exit", ["process"], buckets=SLOW
)
SHUTDOWNS = Counter("graceful_shutdowns", "Shutdowns by outcome", ["process", "outcome"])
BACKUP_RUNS = Counter("backup_runs", "Database backups by outcome", ["status"])
BACKUP_AGE = Gauge("backup_age_seconds", "Age of the newest backup", multiprocess_mode="mostrecent")
BACKUP_SIZE = Gauge("backup_size_bytes", "Size of the newest backup", multiprocess_mode="mostrecent")

# --- Telegram, API, health ----------------------------------------------------------------------------
TELEGRAM_ALERTS = Counter("telegram_alerts", "Alerts by kind and outcome (sent, failed, dropped…)", ["kind", "outcome"])
TELEGRAM_ALERTS_DROPPED = Counter("telegram_alerts_dropped", "Alerts dropped before sending", ["reason"])
# channel: telegram (the only alert channel so far)
ALERTS_FAILED = Counter("alerts_failed", "Alerts that could not be delivered, by channel", ["channel"])
TELEGRAM_COMMANDS = Counter("telegram_commands", "Bot commands handled", ["command", "outcome"])
API_REQUESTS = Counter("api_requests", "REST API requests", ["endpoint", "method", "status"])
API_LATENCY = Histogram("api_request_latency_seconds", "REST API latency", ["endpoint", "method"], buckets=FAST)
API_AUTH_FAILURES = Counter("api_auth_failures", "Refused API credentials", ["reason"])
HEALTH_STATUS = Gauge(
    "health_component_status", "0 ok, 1 degraded, 2 down", ["component"], multiprocess_mode="mostrecent"
)
HEALTH_LATENCY = Histogram("health_check_latency_seconds", "Readiness check latency", ["component"], buckets=FAST)
BUILD_INFO = Gauge("tradebot_build_info", "Always 1; what runs", ["version", "mode"], multiprocess_mode="max")

HEALTH_LEVEL = {"ok": 0, "degraded": 1, "down": 2}

# --- helpers --------------------------------------------------------------------------------------------
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_LATENCY_BY_COMPONENT = {"decision": LATENCY_DECISION, "order": LATENCY_ORDER, "flow": LATENCY_FLOW}


def budget_seconds(component: str) -> float | None:
    """The PERF_BUDGET_<COMPONENT>_P99_MS budget in seconds, or None when there is none."""
    from django.conf import settings

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


_limiter_seen: dict[str, dict[str, float]] = {}


def sync_limiter_counters() -> None:
    """Move the exchange limiter's per-process counters into the Prometheus families (by delta), so they
    reach the multiprocess files. Called after each Celery task and before each scrape."""
    try:
        from apps.exchange.limiter import limiter_stats
    except ImportError:
        return
    for bucket, stats in limiter_stats().items():
        seen = _limiter_seen.setdefault(bucket, {"waits": 0, "wait_seconds": 0.0, "refused": 0})
        waits = stats.get("waits", 0) - seen["waits"]
        seconds = stats.get("wait_seconds", 0.0) - seen["wait_seconds"]
        refused = stats.get("refused", 0) - seen["refused"]
        if waits > 0:
            RATE_LIMITER_WAITS.labels(bucket=bucket).inc(waits)
            # one observation of the average wait per waiting call keeps the histogram's count right
            for _ in range(int(waits)):
                RATE_LIMITER_WAIT_SECONDS.labels(bucket=bucket).observe(seconds / waits)
        if refused > 0:
            RATE_LIMITER_REJECTED.labels(bucket=bucket).inc(refused)
        _limiter_seen[bucket] = {k: stats.get(k, 0) for k in ("waits", "wait_seconds", "refused")}
