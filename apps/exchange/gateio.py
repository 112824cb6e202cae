"""Gate.io specifics kept as data and small functions: symbol format and client order ids."""

from __future__ import annotations

import re

CLIENT_ID_RE = re.compile(r"^t-[0-9A-Za-z_.-]{1,26}$")


def to_native(symbol: str) -> str:
    """BTC/USDT -> BTC_USDT."""
    base, _, quote = symbol.partition("/")
    if not base or not quote:
        raise ValueError(f"{symbol!r} is not a unified symbol like BTC/USDT")
    return f"{base}_{quote}"


def to_unified(native: str) -> str:
    """BTC_USDT -> BTC/USDT."""
    base, _, quote = native.partition("_")
    if not base or not quote:
        raise ValueError(f"{native!r} is not a Gate.io pair like BTC_USDT")
    return f"{base}/{quote}"


def validate_client_order_id(text: str) -> str:
    """Gate.io's `text`: starts with t-, at most 28 characters in all, only 0-9 A-Z a-z _ - ."""
    if not CLIENT_ID_RE.match(text):
        raise ValueError(f"{text!r} must start with 't-', be at most 28 characters and use only 0-9 A-Z a-z _ - .")
    return text
