"""The risk check every entry goes through and the editable limits; the kill switch and the drawdown stop
live in apps.risk.switch (the rules read them, and this module runs the rules)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.actors import SYSTEM, Actor
from apps.audit.services import audit_record
from apps.exchange.broker import Broker, ExchangeError
from apps.exchange.types import Market
from apps.monitoring import metrics
from apps.risk.models import RiskEvent, RiskLimits
from apps.risk.rules import DEFAULT_RULES, Requested, RiskBlock, RiskContext, Rule
from apps.risk.selectors import Equity, Limits, risk_limits
from apps.risk.switch import (
    DRAWDOWN_RULE,
    DrawdownState,
    drawdown_check,
    drawdown_update,
    trading_pause,
    trading_resume,
)
from apps.trading.selectors import positions_open
from apps.trading.venues import venue_of

log = logging.getLogger(__name__)


# --- the risk check ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskVerdict:
    """The answer for one intended order. When allowed as an entry, `quote_amount` (a market buy's quote to
    spend) and `amount` (the base it buys at `price`) are already rounded to the market's precision."""

    allowed: bool
    rule: str = ""
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    severity: str = ""
    is_exit: bool = False
    amount: Decimal | None = None
    quote_amount: Decimal | None = None
    price: Decimal | None = None
    event_id: int | None = None

    def as_risk_block(self) -> dict[str, Any] | None:
        """What `Decision.risk_block` holds: None when allowed."""
        if self.allowed:
            return None
        return {"rule": self.rule, "message": self.message, **self.details}


def _count_block(rule: str) -> None:
    metrics.RISK_BLOCKS.labels(rule=rule).inc()


def _count_check(result: str) -> None:
    metrics.RISK_CHECKS.labels(result=result).inc()


def _blocked(*, block: RiskBlock, symbol: str, side: str, now: datetime, decision: Any, actor: Actor) -> RiskVerdict:
    details = {**block.details, "side": side, "at": now.isoformat(), "asked_by": actor.label}
    with transaction.atomic():
        event = RiskEvent.objects.create(
            rule=block.rule,
            symbol=symbol,
            severity=block.severity,
            message=block.message,
            details=details,
            decision=decision,
        )
        verdict = RiskVerdict(
            allowed=False,
            rule=block.rule,
            message=block.message,
            details=details,
            severity=block.severity,
            event_id=event.pk,
        )
        if decision is not None and decision.pk is not None:
            decision.risk_block = verdict.as_risk_block()
            type(decision).objects.filter(pk=decision.pk).update(risk_block=decision.risk_block)
    _count_block(block.rule)
    _count_check("blocked")
    log.info("risk block %s %s %s: %s", block.rule, side, symbol, block.message)
    return verdict


def risk_check(
    *,
    symbol: str,
    side: str,
    broker: Broker | None,
    now: datetime,
    decision: Any = None,
    actor: Actor = SYSTEM,
    rules: Sequence[Rule] | None = None,
    limits: Limits | None = None,
    market: Market | None = None,
    price: Decimal | None = None,
    equity: Equity | None = None,
    requested: Requested | None = None,
) -> RiskVerdict:
    """May this order go out now? Entries (buys) pass every rule in order and come back sized; the first
    block is recorded as a RiskEvent (linked to `decision`, whose `risk_block` it sets), counted in
    `risk_blocks_total{rule}` and returned. A sell that reduces an open position is an exit and is never
    blocked; a sell with nothing to sell is refused (spot has no shorts).

    A rule that cannot reach the exchange blocks the entry (fails closed). `market` / `price` / `equity`
    may be given already fetched; `rules` replaces the default list (a backtest without the live gate).
    `requested`: an order its sender sized (the API): the rules apply, and its notional is capped at
    POSITION_SIZE_USD instead of being sized (the verdict then carries no amounts)."""
    symbol = symbol.strip().upper()
    side = side.strip().lower()
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be buy or sell, not {side!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if side == "sell":
        position = positions_open(symbol, venue=venue_of(broker) if broker is not None else None).first()
        if position is not None and position.amount > 0:
            _count_check("exit")
            return RiskVerdict(
                allowed=True,
                is_exit=True,
                amount=position.amount,
                message="exit: never blocked by entry rules",
                details={"position_id": position.pk},
            )
        nothing = RiskBlock(rule="no_position", message=f"nothing to sell: no open {symbol} position (spot only)")
        return _blocked(block=nothing, symbol=symbol, side=side, now=now, decision=decision, actor=actor)

    limits = limits or risk_limits()
    ctx = RiskContext(
        symbol=symbol,
        side=side,
        now=now,
        broker=broker,
        limits=limits,
        actor=actor,
        market=market,
        price=price,
        equity=equity,
        requested=requested,
    )
    block: RiskBlock | None = None
    for rule in DEFAULT_RULES if rules is None else rules:
        try:
            block = rule.check(ctx)
        except Exception as exc:  # the exchange, or the state a rule reads (Redis), cannot be read: fail closed
            if not isinstance(exc, ExchangeError):
                log.warning("risk rule %s could not check: %s: %s", rule.name, type(exc).__name__, exc)
            block = RiskBlock(
                rule=rule.name,
                message=f"{rule.name}: could not check ({type(exc).__name__}: {exc}); entry refused",
                details={"error": str(exc)[:500], "error_type": type(exc).__name__},
            )
        if block is not None:
            return _blocked(block=block, symbol=symbol, side=side, now=now, decision=decision, actor=actor)
    _count_check("allowed")
    sizing = ctx.sizing
    return RiskVerdict(
        allowed=True,
        message="all risk rules passed",
        details={"limits": limits.as_dict()},
        amount=sizing.amount if sizing else None,
        quote_amount=sizing.quote_amount if sizing else None,
        price=sizing.price if sizing else None,
    )


# --- editable limits -----------------------------------------------------------------------------------

LIMIT_FIELDS = (
    "max_positions",
    "position_size_usd",
    "max_drawdown_pct",
    "max_consecutive_losses",
    "loss_cooldown_min",
    "hours",
)


def _limit_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 25.5 read back from the database is 25.50000000
    return str(value)


def _limits_snapshot(row: RiskLimits | None) -> dict[str, Any]:
    if row is None:
        return dict.fromkeys(LIMIT_FIELDS)
    return {name: _limit_text(getattr(row, name)) for name in LIMIT_FIELDS}


@transaction.atomic
def risk_limits_save(*, limits: RiskLimits, actor: Actor) -> RiskLimits:
    """Validate and store the operator's limits (the single row), audited with the before and after values
    and the limits then in force. Raises ValidationError for a bad value."""
    limits.pk = 1
    limits.full_clean()
    before = _limits_snapshot(RiskLimits.objects.select_for_update().filter(pk=1).first())
    limits.changed_by = actor.label[:150]
    limits.changed_at = timezone.now()
    limits.save()
    after = _limits_snapshot(limits)
    changed = sorted(k for k in LIMIT_FIELDS if before[k] != after[k])
    audit_record(
        actor=actor,
        action="risk.limits.change",
        obj=limits,
        before=before,
        after={**after, "in_force": risk_limits().as_dict()},
        message=f"changed: {', '.join(changed) or 'nothing'}",
    )
    return limits


__all__ = [
    "DRAWDOWN_RULE",
    "DrawdownState",
    "RiskVerdict",
    "drawdown_check",
    "drawdown_update",
    "risk_check",
    "risk_limits_save",
    "trading_pause",
    "trading_resume",
]
