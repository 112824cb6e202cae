"""The kill switch (trading_pause / trading_resume, one audited change each) and the drawdown stop that
turns it on. Below the risk rules (apps.risk.rules reads the drawdown) and the risk check (apps.risk.services)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.exchange.broker import Broker
from apps.monitoring import metrics
from apps.notifications import notify
from apps.risk.models import RiskEvent, TradingSwitch
from apps.risk.selectors import Limits, equity_current, risk_limits
from apps.trading.venues import venue_of

log = logging.getLogger(__name__)

DRAWDOWN_RULE = "max_drawdown"
PCT_PLACES = Decimal("0.0001")


def _alert(*, kind: str, text: str, key: str, severity: str) -> None:
    notify(kind, text, key=key, severity=severity)  # never raises: an alert must never stop the risk path


def _switch_snapshot(switch: TradingSwitch) -> dict:
    return {
        "halted": switch.halted,
        "reason": switch.reason,
        "halt_rule": switch.halt_rule,
        "equity_peak": str(switch.equity_peak),
    }


def _kill_switch_metric(action: str, halted: bool) -> None:
    metrics.KILL_SWITCH_CHANGES.labels(action=action).inc()
    metrics.TRADING_HALTED.set(1 if halted else 0)


@transaction.atomic
def trading_pause(*, actor: Actor, reason: str = "paused by operator", rule: str = "") -> TradingSwitch:
    """Turn the kill switch on: no new entries until resumed. Idempotent. `rule` names the risk rule that
    did it (empty for an operator)."""
    TradingSwitch.get()
    switch = TradingSwitch.objects.select_for_update().get(pk=1)
    before = _switch_snapshot(switch)
    switch.halted = True
    switch.reason = reason[:255]
    switch.halt_rule = rule[:64]
    switch.changed_by = actor.label[:150]
    switch.changed_at = timezone.now()
    switch.save()
    audit_record(actor=actor, action="trading.pause", obj=switch, before=before, after=_switch_snapshot(switch))
    _kill_switch_metric("pause", True)
    return switch


@transaction.atomic
def trading_resume(*, actor: Actor, reason: str = "resumed by operator") -> TradingSwitch:
    """Turn the kill switch off. Trading then still needs ENABLE_TRADING (and MODE) to allow it.

    After a drawdown stop the equity peak restarts from the next equity reading: resuming accepts the loss,
    otherwise the old peak would stop trading again at once."""
    TradingSwitch.get()
    switch = TradingSwitch.objects.select_for_update().get(pk=1)
    before = _switch_snapshot(switch)
    if switch.halted and switch.halt_rule == DRAWDOWN_RULE:
        switch.equity_peak = Decimal(0)
        switch.equity_source = ""
    switch.halted = False
    switch.reason = reason[:255]
    switch.halt_rule = ""
    switch.changed_by = actor.label[:150]
    switch.changed_at = timezone.now()
    switch.save()
    audit_record(actor=actor, action="trading.resume", obj=switch, before=before, after=_switch_snapshot(switch))
    _kill_switch_metric("resume", False)
    return switch


# --- the drawdown stop -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawdownState:
    equity: Decimal
    peak: Decimal
    drawdown_pct: Decimal
    limit_pct: Decimal
    source: str
    breached: bool  # drawdown >= limit
    halted_now: bool  # this call turned the kill switch on

    def details(self) -> dict[str, Any]:
        return {
            "equity": self.equity,
            "peak": self.peak,
            "drawdown_pct": self.drawdown_pct,
            "limit_pct": self.limit_pct,
            "equity_source": self.source,
        }


def drawdown_update(
    *,
    equity: Decimal,
    now: datetime,
    source: str = "balance",
    limits: Limits | None = None,
    record: bool = True,
    venue: str | None = None,
) -> DrawdownState:
    """Track the equity peak (in `TradingSwitch.equity_peak`) and stop trading when equity is down
    MAX_DRAWDOWN_PCT or more from it: kill switch on, a critical RiskEvent (unless `record` is False because
    the caller records the block itself), an alert. A peak measured another way (`source`) or of other books
    (`venue`: paper equity is not live equity) restarts."""
    limits = limits or risk_limits()
    equity = Decimal(equity)
    measured = f"{venue}:{source}" if venue else source
    with transaction.atomic():
        TradingSwitch.get()
        switch = TradingSwitch.objects.select_for_update().get(pk=1)
        if switch.equity_source != measured or switch.equity_peak <= 0:
            if switch.equity_peak > 0:
                log.info("equity source %r -> %r: drawdown peak restarts", switch.equity_source, measured)
            switch.equity_peak = max(equity, Decimal(0))
            switch.equity_source = measured
            switch.save(update_fields=["equity_peak", "equity_source"])
        elif equity > switch.equity_peak:
            switch.equity_peak = equity
            switch.save(update_fields=["equity_peak"])
        peak = switch.equity_peak
        drawdown = ((peak - equity) / peak * 100).quantize(PCT_PLACES) if peak > 0 else Decimal(0)
        breached = drawdown >= limits.max_drawdown_pct
        state = DrawdownState(
            equity=equity,
            peak=peak,
            drawdown_pct=drawdown,
            limit_pct=limits.max_drawdown_pct,
            source=source,
            breached=breached,
            halted_now=breached and not switch.halted,
        )
        if state.halted_now:
            text = (
                f"equity {equity} is {drawdown}% below its peak {peak} (limit {limits.max_drawdown_pct}%); "
                "kill switch on, no new entries until an operator resumes"
            )
            trading_pause(
                actor=Actor.system(f"risk:{DRAWDOWN_RULE}"), reason=f"max drawdown: {text}", rule=DRAWDOWN_RULE
            )
            if record:
                RiskEvent.objects.create(
                    rule=DRAWDOWN_RULE,
                    severity=RiskEvent.Severity.CRITICAL,
                    message=f"drawdown stop: {text}",
                    details={**state.details(), "at": now.isoformat()},
                )
            _alert(kind="drawdown_stop", text=text, key=f"drawdown:{now:%Y%m%d%H%M}", severity="critical")
            log.critical("drawdown stop: %s", text)
    metrics.EQUITY_DRAWDOWN_PCT.set(float(drawdown))
    metrics.EQUITY_DRAWDOWN_LIMIT_PCT.set(float(limits.max_drawdown_pct))
    return state


def drawdown_check(*, broker: Broker, now: datetime) -> DrawdownState:
    """The periodic equity check: measure equity (see `Equity`) and update the drawdown stop."""
    limits = risk_limits()
    equity = equity_current(broker=broker, limits=limits)
    venue = venue_of(broker)
    return drawdown_update(equity=equity.value, source=equity.source, now=now, limits=limits, venue=venue)
