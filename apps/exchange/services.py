"""The process's broker for MODE (paper or live), chosen once per process.

Orders reach it through apps.trading.submission (submit / refresh / cancel); everything else that reads the
exchange (reconciliation, risk, health) takes the broker from here.
"""

from __future__ import annotations

import threading

from django.conf import settings

from apps.exchange.broker import Broker

_broker: Broker | None = None
_broker_lock = threading.Lock()


def get_broker() -> Broker:
    """The process's broker for MODE: paper -> PaperBroker, live -> GateBroker (cached per process)."""
    global _broker
    with _broker_lock:
        if _broker is None:
            if settings.MODE == "live":
                from apps.exchange.ccxt_broker import GateBroker  # start-up cost: ccxt only for live

                _broker = GateBroker.from_settings()
            elif settings.MODE == "paper":
                from apps.exchange.paper import PaperBroker  # start-up cost: only the mode's broker

                _broker = PaperBroker.from_settings()
            else:
                raise ValueError(f"MODE={settings.MODE} has no exchange broker (backtests bring their own)")
        return _broker


def reset_broker() -> None:
    """Forget the cached broker (tests, or after the settings changed)."""
    global _broker
    with _broker_lock:
        _broker = None
