"""Reading the trading gate."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from apps.risk.models import TradingSwitch


@dataclass(frozen=True)
class TradingStatus:
    mode: str
    enable_trading: bool
    halted: bool
    halt_reason: str
    entries_allowed: bool
    why: str


def trading_status() -> TradingStatus:
    """Whether entries may be sent now: ENABLE_TRADING on, kill switch off, and not a backtest."""
    switch = TradingSwitch.get()
    if settings.MODE == "backtest":
        allowed, why = False, "MODE=backtest never sends orders"
    elif not settings.ENABLE_TRADING:
        allowed, why = False, "ENABLE_TRADING is false"
    elif switch.halted:
        allowed, why = False, f"kill switch on: {switch.reason}"
    else:
        allowed, why = True, f"trading on ({settings.MODE})"
    return TradingStatus(
        mode=settings.MODE,
        enable_trading=settings.ENABLE_TRADING,
        halted=switch.halted,
        halt_reason=switch.reason,
        entries_allowed=allowed,
        why=why,
    )
