"""The simulator's behaviour switches: where Gate.io's documentation is silent or its answers vary, each switch
picks one behaviour (defaults in `ExchangeSimulator.__init__`), settable from Python (`sim.configure(...)`),
over HTTP (`POST /_control/settings`) and on the command line (`simulate_exchange --set name=value`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _non_negative(value: Any) -> float:
    number = float(value)  # ValueError / TypeError for what is not a number
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _choice(*allowed: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return str(value)

    return parse


# Behaviour switches settable from Python (`sim.configure(...)`, or the attribute) and over /_control/settings.
SETTINGS: dict[str, Callable[[object], object]] = {
    "visibility_lag_sec": _non_negative,
    "omit_market_filled_amount": _bool,
    "text_lookup_grace_sec": _non_negative,
    "cancelled_retention_sec": _non_negative,
    "open_limit_over_max": _choice("refuse", "clamp"),
    "price_order_cancelled_status": _choice("cancelled", "canceled"),
    "fired_price_order_cancel": _choice("not_found", "fired"),
    "unified_account": _bool,
}
