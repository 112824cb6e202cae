"""Command arguments: parsed strictly, and a bad one becomes a one-line usage answer."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from tradebot.config import SYMBOL_RE, TIMEFRAMES

LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT = 50, 1000, 200  # evaluate accepts 50..1000

USAGE = {
    "help": "/help",
    "status": "/status",
    "health": "/health",
    "eval": "/eval [SYMBOL] [TF] [LIMIT] — e.g. /eval BTC/USDT 1m 200",
    "why": "/why [SYMBOL] [TF] [LIMIT] — e.g. /why ETH/USDT 5m",
    "profit": "/profit [SYMBOL]",
    "positions": "/positions [SYMBOL]",
    "test": "/test",
    "metrics": "/metrics",
    "exits": "/exits",
    "pause": "/pause [REASON]",
    "stopentry": "/stopentry [REASON]",
    "resume": "/resume [REASON]",
    "close": "/close POSITION_ID — e.g. /close 12",
    "balance": "/balance",
    "daily": "/daily [N] [TIME_ZONE] — e.g. /daily 7 Europe/Berlin",
    "weekly": "/weekly [N] [TIME_ZONE] — e.g. /weekly 8",
    "monthly": "/monthly [N] [TIME_ZONE] — e.g. /monthly 6 UTC",
    "performance": "/performance",
    "entries": "/entries",
    "trades": "/trades [N] — e.g. /trades 10",
    "version": "/version",
    "closeall": "/closeall",
}

PERIOD_DEFAULTS = {"daily": 7, "weekly": 8, "monthly": 6}  # as Freqtrade's commands
PERIOD_MAX, TRADES_DEFAULT, TRADES_MAX = 60, 10, 50


class UsageError(ValueError):
    """The arguments of a command are wrong; the message says which one."""


def symbol_parse(text: str) -> str:
    """`BTC/USDT`, `btc/usdt`, `BTC_USDT` and `BTC-USDT` all mean BTC/USDT."""
    symbol = text.strip().upper().replace("_", "/").replace("-", "/")
    if not SYMBOL_RE.match(symbol):
        raise UsageError(f"{text!r} is not a symbol like BTC/USDT")
    return symbol


def timeframe_parse(text: str) -> str:
    timeframe = text.strip().lower()
    if timeframe not in TIMEFRAMES:
        raise UsageError(f"timeframe must be one of {', '.join(TIMEFRAMES)}")
    return timeframe


def limit_parse(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        raise UsageError(f"LIMIT must be a whole number from {LIMIT_MIN} to {LIMIT_MAX}") from None
    if not LIMIT_MIN <= limit <= LIMIT_MAX:
        raise UsageError(f"LIMIT must be a whole number from {LIMIT_MIN} to {LIMIT_MAX}")
    return limit


def eval_args(args: list[str]) -> tuple[str, str, int | None]:
    """[SYMBOL] [TF] [LIMIT] with the configured defaults; LIMIT is None when not given."""
    if len(args) > 3:
        raise UsageError("too many arguments")
    symbol = symbol_parse(args[0]) if args else settings.SYMBOLS[0]
    timeframe = timeframe_parse(args[1]) if len(args) > 1 else settings.TIMEFRAME
    limit = limit_parse(args[2]) if len(args) > 2 else None
    return symbol, timeframe, limit


def optional_symbol(args: list[str]) -> str | None:
    if len(args) > 1:
        raise UsageError("at most one SYMBOL")
    return symbol_parse(args[0]) if args else None


def no_args(args: list[str]) -> None:
    if args:
        raise UsageError("this command takes no arguments")


def position_id(args: list[str]) -> int:
    if len(args) != 1:
        raise UsageError("give exactly one POSITION_ID")
    try:
        value = int(args[0].lstrip("#"))
    except ValueError:
        raise UsageError(f"{args[0]!r} is not a position id") from None
    if value <= 0:
        raise UsageError(f"{args[0]!r} is not a position id")
    return value


def reason(args: list[str], default: str) -> str:
    return " ".join(args).strip()[:200] or default


def count_parse(text: str, maximum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"N must be a whole number from 1 to {maximum}") from None
    if not 1 <= value <= maximum:
        raise UsageError(f"N must be a whole number from 1 to {maximum}")
    return value


def period_args(args: list[str], command: str) -> tuple[int, str | None]:
    """[N] [TIME_ZONE]: how many periods (default as Freqtrade) and the IANA zone (default UTC)."""
    if len(args) > 2:
        raise UsageError("too many arguments")
    count = count_parse(args[0], PERIOD_MAX) if args else PERIOD_DEFAULTS[command]
    zone = args[1] if len(args) > 1 else None
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory
            raise UsageError(f"unknown time zone {zone!r} (an IANA name such as Europe/Berlin)") from None
    return count, zone


def trades_count(args: list[str]) -> int:
    if len(args) > 1:
        raise UsageError("at most one N")
    return count_parse(args[0], TRADES_MAX) if args else TRADES_DEFAULT
