"""Historical candles for a backtest: from a CSV file, or from the exchange between two dates.

CSV: columns `time,open,high,low,close,volume` (a header row is optional); time is ISO 8601 (UTC when it
carries no offset) or Unix seconds / milliseconds; rows oldest first. Every problem names its line.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from apps.exchange.broker import Broker
from apps.exchange.types import Candle

COLUMNS = ("time", "open", "high", "low", "close", "volume")
MAX_CANDLES = 200_000
PAGE_POINTS = 1000  # Gate.io answers at most 1000 candles for one from/to range


class CandleDataError(ValueError):
    """Candles that cannot be replayed: a bad CSV row (its line named), too few, or out of order."""


def parse_time(text: str) -> datetime:
    """ISO 8601 (naive means UTC) or Unix seconds / milliseconds."""
    value = text.strip()
    if value.replace(".", "", 1).isdigit():
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _row_candle(row: Sequence[str], line: int) -> Candle:
    if len(row) != len(COLUMNS):
        raise CandleDataError(f"line {line}: expected {len(COLUMNS)} columns ({','.join(COLUMNS)}), got {len(row)}")
    try:
        moment = parse_time(row[0])
    except (ValueError, OverflowError, OSError):
        raise CandleDataError(f"line {line}: time {row[0]!r} is not ISO 8601 or Unix seconds/milliseconds") from None
    numbers: list[Decimal] = []
    for name, text in zip(COLUMNS[1:], row[1:], strict=True):
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise CandleDataError(f"line {line}: {name} {text!r} is not a number") from None
        if not number.is_finite():
            raise CandleDataError(f"line {line}: {name} {text!r} is not a finite number")
        numbers.append(number)
    open_, high, low, close, volume = numbers
    if min(open_, high, low, close) <= 0:
        raise CandleDataError(f"line {line}: prices must be greater than 0")
    if volume < 0:
        raise CandleDataError(f"line {line}: volume {volume} must not be negative")
    if high < max(open_, close, low) or low > min(open_, close):
        raise CandleDataError(f"line {line}: high {high} / low {low} do not contain open {open_} and close {close}")
    return Candle(moment, open_, high, low, close, volume)


def candles_from_csv(path: str | Path) -> list[Candle]:
    """Read and validate a candle CSV. OSError when the file cannot be read; CandleDataError for its content."""
    candles: list[Candle] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if not candles and line == 1 and row[0].strip().lower() == "time":
                if [c.strip().lower() for c in row] != list(COLUMNS):
                    raise CandleDataError(f"line 1: the header must be {','.join(COLUMNS)}")
                continue
            candle = _row_candle(row, line)
            if candles and candle.time <= candles[-1].time:
                raise CandleDataError(
                    f"line {line}: time {candle.time.isoformat()} is not after the previous row's "
                    f"{candles[-1].time.isoformat()} (rows must be oldest first, no duplicates)"
                )
            candles.append(candle)
            if len(candles) > MAX_CANDLES:
                raise CandleDataError(f"line {line}: more than {MAX_CANDLES} candles; split the file")
    if not candles:
        raise CandleDataError("the file holds no candles")
    return candles


def candles_from_exchange(
    broker: Broker, *, symbol: str, timeframe: str, since: datetime, until: datetime, span: timedelta, now: datetime
) -> list[Candle]:
    """Closed candles opening in [since, until), page by page.

    A broker offering `fetch_ohlcv_range(symbol, timeframe, since, until)` (GateBroker pages Gate.io's
    from/to; the paper broker reads through it) is used as is; any other broker can only serve ranges
    within its latest 1000 candles (`fetch_ohlcv`)."""
    source = getattr(broker, "data", broker)  # the paper broker reads market data through `data`
    end = min(until, now - span)  # candles opening after this have not closed
    if end < since:
        return []
    if hasattr(source, "fetch_ohlcv_range"):
        fetched = list(source.fetch_ohlcv_range(symbol, timeframe, since, until))
    else:
        fetched = source.fetch_ohlcv(symbol, timeframe, PAGE_POINTS)
        if fetched and fetched[0].time > since:
            raise CandleDataError(
                f"this broker ({getattr(source, 'name', type(source).__name__)}) only serves its latest "
                f"{PAGE_POINTS} candles, from {fetched[0].time.isoformat()}; since is earlier"
            )
    unique: dict[datetime, Candle] = {}
    for candle in fetched:
        if since <= candle.time < until and candle.time + span <= now:
            unique[candle.time] = candle
    return [unique[t] for t in sorted(unique)]
