"""Reaching the use cases of other apps from the bot, lazily, with a clear answer when one is missing."""

from __future__ import annotations

import importlib
import logging
from typing import Any

logger = logging.getLogger(__name__)


class NotAvailable(Exception):
    """A use case the command needs is not installed (yet)."""

    def __init__(self, feature: str) -> None:
        super().__init__(feature)
        self.feature = feature


def use_case(module: str, name: str, feature: str) -> Any:
    """`module.name`, or NotAvailable(feature) when the module or the name does not exist."""
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        logger.info("%s.%s not importable: %s", module, name, exc)
        raise NotAvailable(feature) from None
    value = getattr(found, name, None)
    if value is None:
        raise NotAvailable(feature)
    return value


def broker_get() -> Any:
    return use_case("apps.exchange.services", "get_broker", "the exchange connection")()
