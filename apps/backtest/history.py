"""Historical candles for a backtest: from a CSV or Parquet file, or from the exchange between two dates.

CSV: columns `time,open,high,low,close,volume` (a header row is optional); time is ISO 8601 (UTC when it
carries no offset) or Unix seconds / milliseconds; rows oldest first. Every problem names its line.
Parquet: the same column names; time as a timestamp or as Unix seconds / milliseconds.

`series_from_file` reads a file straight into columns with pyarrow (a year of one-minute candles in a
fraction of a second) and validates them with array operations; a file it cannot take that way, or one
with a bad row, goes through the row-by-row reader `candles_from_csv`, whose error names the line.
There is no limit on the number of candles.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from apps.backtest.series import EPOCH, MS, CandleSeries
from apps.exchange.broker import Broker
from apps.exchange.types import Candle
from apps.signals.build import REQUIRED_CANDLES, FeatureInputError, Ohlcv

COLUMNS = ("time", "open", "high", "low", "close", "volume")
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


# --- columns at speed ------------------------------------------------------------------------------


def series_from_file(path: str | Path) -> CandleSeries | list[Candle]:
    """A CSV or Parquet file (by its suffix) as a validated CandleSeries. OSError when it cannot be read;
    CandleDataError for its content, naming the line for a CSV. Fewer candles than a decision needs come
    back as a list of Candles, for the engine to refuse (the run stored as failed, as with any replay error)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _series_from_parquet(path)
    columns = _fast_csv(path)
    if columns is None or columns[0].shape[0] < REQUIRED_CANDLES or _first_problem(*columns) is not None:
        # The row-by-row reader names the first bad line (or reads what the fast path could not parse).
        return _series_of(candles_from_csv(path))
    return _checked_series(*columns)


def _series_of(candles: list[Candle]) -> CandleSeries | list[Candle]:
    if len(candles) < REQUIRED_CANDLES:
        return candles
    try:
        return CandleSeries.from_candles(candles)
    except FeatureInputError as exc:
        raise CandleDataError(str(exc)) from None


def _columns_series(times: np.ndarray, *prices: np.ndarray) -> CandleSeries:
    try:
        return CandleSeries.from_arrays(times, *prices)
    except FeatureInputError as exc:
        raise CandleDataError(str(exc)) from None


def _checked_series(times: np.ndarray, *prices: np.ndarray) -> CandleSeries:
    """Columns `_first_problem` found no problem in: its checks (finite, positive, high and low around open
    and close, times increasing) are stricter than `CandleSeries.from_arrays`', so they are not made twice."""
    columns = (np.ascontiguousarray(p, dtype=np.float64) for p in prices)
    return CandleSeries(np.ascontiguousarray(times, dtype=np.int64), Ohlcv(*columns))


def _fast_csv(path: Path) -> tuple[np.ndarray, ...] | None:
    """(times ms, open, high, low, close, volume) through pyarrow, or None for anything it cannot take
    (a parse error, a byte-order mark, empty cells, mixed time formats): the slow reader decides those."""
    # start-up cost: pyarrow is an optional speed-up kept out of the start-up of every other command
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, "rb") as handle:
        head = handle.readline()
    if head.startswith(b"\xef\xbb\xbf") or not head.strip():
        return None
    header = head.split(b",")[0].strip().lower() == b"time"
    if header and [c.strip().lower() for c in head.decode("utf-8", "replace").split(",")] != list(COLUMNS):
        return None
    # ISO times with a Z / offset parse straight into UTC timestamps (the usual file: one pass, no strings),
    # naive ones as UTC; anything else (Unix numbers, mixed forms) is read as text and converted below.
    for kind in (pa.timestamp("ms", tz="UTC"), pa.timestamp("ms"), pa.string()):
        types = {"time": kind, **{name: pa.float64() for name in COLUMNS[1:]}}
        try:
            table = pcsv.read_csv(
                path,
                read_options=pcsv.ReadOptions(column_names=list(COLUMNS), skip_rows=1 if header else 0),
                convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False),
            )
            break
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
            if kind == pa.string() or "column #0" not in str(exc):
                return None  # a price cell or the file itself: the row-by-row reader names the line
    if table.num_rows == 0 or any(table.column(name).null_count for name in COLUMNS):
        return None
    time = table.column("time")
    times = _arrow_times(time) if kind == pa.string() else time.to_numpy().view(np.int64)
    if times is None:
        return None
    return (times, *(table.column(name).to_numpy() for name in COLUMNS[1:]))


def _arrow_times(column) -> np.ndarray | None:
    """ISO 8601 (naive = UTC) or Unix seconds / milliseconds, all rows in one of those forms."""
    # start-up cost: pyarrow, see _fast_csv
    import pyarrow as pa
    import pyarrow.compute as pc

    for attempt in (column, pc.utf8_trim_whitespace(column)):
        first = attempt[0].as_py()
        if first.replace(".", "", 1).isdigit():
            try:
                numbers = pc.cast(attempt, pa.float64()).to_numpy()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None  # a mix of forms: the row-by-row reader takes it
            if not pc.all(pc.match_substring_regex(attempt, r"^\d+(\.\d+)?$")).as_py():
                return None  # signs or exponents: not the forms the row-by-row reader accepts
            return np.where(numbers > 1e11, numbers, numbers * 1000).astype(np.int64)
        for kind in (pa.timestamp("ms", tz="UTC"), pa.timestamp("ms")):
            try:
                return pc.cast(attempt, kind).cast(pa.int64()).to_numpy()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    return None


def _first_problem(times: np.ndarray, open_, high, low, close, volume) -> int | None:
    """The index of the first row the row-by-row reader would refuse, or None when all are good."""
    bad = ~np.isfinite(volume) | (volume < 0)
    for column in (open_, high, low, close):
        bad |= ~np.isfinite(column) | (column <= 0)
    bad |= (high < np.maximum(np.maximum(open_, close), low)) | (low > np.minimum(open_, close))
    bad[1:] |= np.diff(times) <= 0
    rows = np.flatnonzero(bad)
    return int(rows[0]) if rows.size else None


def _series_from_parquet(path: Path) -> CandleSeries | list[Candle]:
    # start-up cost: pyarrow, see _fast_csv
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except pa.ArrowException as exc:
        raise CandleDataError(f"not a readable Parquet file: {exc}") from None
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise CandleDataError(f"the Parquet file has no column {', '.join(missing)} (needs {','.join(COLUMNS)})")
    time = table.column("time")
    if pa.types.is_timestamp(time.type):
        times = time.cast(pa.timestamp("ms", tz="UTC") if time.type.tz else pa.timestamp("ms")).cast(pa.int64())
        times = times.to_numpy()
    elif pa.types.is_integer(time.type) or pa.types.is_floating(time.type):
        numbers = time.cast(pa.float64()).to_numpy()
        times = np.where(numbers > 1e11, numbers, numbers * 1000).astype(np.int64)
    else:
        times = _arrow_times(time.cast(pa.string()))
        if times is None:
            raise CandleDataError("the time column holds values that are not ISO 8601 or Unix seconds/milliseconds")
    try:
        prices = [table.column(name).cast(pa.float64()).to_numpy() for name in COLUMNS[1:]]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CandleDataError(f"a price column is not numeric: {exc}") from None
    if table.num_rows == 0:
        raise CandleDataError("the file holds no candles")
    if table.num_rows < REQUIRED_CANDLES:
        return _series_of([CandleSeries(times, Ohlcv(*prices)).candle(i) for i in range(table.num_rows)])
    problem = _first_problem(times, *prices)
    if problem is not None:
        row = [str(times[problem])] + [repr(float(p[problem])) for p in prices]
        try:
            _row_candle(row, problem + 1)
        except CandleDataError as exc:
            raise CandleDataError(f"row {problem + 1}: {str(exc).split(': ', 1)[1]}") from None
        raise CandleDataError(f"row {problem + 1}: time is not after the previous row's (rows must be oldest first)")
    return _checked_series(times, *prices)


# --- exchange history, cached on disk --------------------------------------------------------------


def history_cache_key(broker: Broker) -> str | None:
    """Which exchange a broker reads history from: its name and API address (the simulator and Gate.io
    never share a cache). None for a broker that is not a ccxt client (nothing is cached for it)."""
    source = getattr(broker, "data", broker)
    urls = getattr(getattr(source, "client", None), "urls", None)
    if not isinstance(urls, dict) or "api" not in urls:
        return None
    address = hashlib.blake2b(repr(urls["api"]).encode(), digest_size=6).hexdigest()
    return f"{getattr(source, 'name', type(source).__name__)}-{address}"


def history_cache_path(directory: Path, key: str, symbol: str, timeframe: str) -> Path:
    return directory / f"{key}-{symbol.replace('/', '_')}-{timeframe}.npz"


def series_from_exchange(
    broker: Broker,
    *,
    symbol: str,
    timeframe: str,
    since: datetime,
    until: datetime,
    span: timedelta,
    now: datetime,
    cache_dir: Path | None,
) -> CandleSeries | list[Candle]:
    """`candles_from_exchange`, through a per symbol / timeframe cache file under `cache_dir`: only the
    parts of [since, until) no earlier run fetched are downloaded, then merged into the file. The file
    records which ranges it covers, so a range the exchange had no candles for is not asked again."""
    key = history_cache_key(broker) if cache_dir is not None else None
    if key is None or cache_dir is None:
        return _series_of(
            candles_from_exchange(
                broker, symbol=symbol, timeframe=timeframe, since=since, until=until, span=span, now=now
            )
        )
    path = history_cache_path(cache_dir, key, symbol, timeframe)
    start, stop = (since - EPOCH) // MS, (until - EPOCH) // MS
    now_ms, span_ms = (now - EPOCH) // MS, span // MS
    # Candles opening before now - span have closed: that much of the range can be recorded as covered.
    # The last span before now is fetched again next time (a candle there may still have been forming).
    settled = min(stop, now_ms - span_ms)
    columns, covered = _read_cache(path)
    fetched = False
    for lo, hi in _missing(covered, start, stop):
        got = candles_from_exchange(
            broker,
            symbol=symbol,
            timeframe=timeframe,
            since=EPOCH + lo * MS,
            until=EPOCH + hi * MS,
            span=span,
            now=now,
        )
        columns = _merge(columns, got)
        if min(hi, settled) > lo:
            covered = _cover(covered, lo, min(hi, settled))
        fetched = True
    if fetched:
        _write_cache(path, columns, covered)
    times = columns[0]
    keep = (times >= start) & (times < stop) & (times + span_ms <= now_ms)
    chosen = [c[keep] for c in columns]
    if chosen[0].shape[0] < REQUIRED_CANDLES:
        return [CandleSeries(chosen[0], Ohlcv(*chosen[1:])).candle(i) for i in range(chosen[0].shape[0])]
    return _columns_series(*chosen)


def _read_cache(path: Path) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    empty = [np.zeros(0, dtype=np.int64)] + [np.zeros(0) for _ in COLUMNS[1:]]
    try:
        with np.load(path) as data:
            columns = [data["time"]] + [data[name] for name in COLUMNS[1:]]
            covered = [(int(a), int(b)) for a, b in data["covered"]]
    except (OSError, KeyError, ValueError):  # no file yet, or one this version cannot read: start again
        return empty, []
    return columns, covered


def _write_cache(path: Path, columns: list[np.ndarray], covered: list[tuple[int, int]]) -> None:
    """Atomically: a run reading the file meanwhile sees the old one or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    arrays: dict[str, Any] = dict(zip(COLUMNS, columns, strict=True))  # (savez's typing: **kwds)
    np.savez(tmp, covered=np.asarray(covered, dtype=np.int64).reshape(-1, 2), **arrays)
    os.replace(tmp, path)


def _merge(columns: list[np.ndarray], candles: list[Candle]) -> list[np.ndarray]:
    if not candles:
        return columns
    new = CandleSeries(
        np.fromiter(((c.time - EPOCH) // MS for c in candles), dtype=np.int64, count=len(candles)),
        Ohlcv(*(np.array([float(getattr(c, name)) for c in candles]) for name in COLUMNS[1:])),
    )
    times = np.concatenate([columns[0], new.times])
    pairs = zip(columns[1:], COLUMNS[1:], strict=True)
    values = [np.concatenate([old, getattr(new.ohlcv, name)]) for old, name in pairs]
    # Newer answers win over older ones for the same candle (np.unique keeps the first of equal keys).
    order = np.argsort(times[::-1], kind="stable")
    times_r = times[::-1][order]
    unique, first = np.unique(times_r, return_index=True)
    picked = order[first]
    return [unique] + [v[::-1][picked] for v in values]


def _missing(covered: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of [start, end) no covered range holds."""
    gaps, at = [], start
    for lo, hi in sorted(covered):
        if hi <= at:
            continue
        if lo >= end:
            break
        if lo > at:
            gaps.append((at, min(lo, end)))
        at = max(at, hi)
        if at >= end:
            break
    if at < end:
        gaps.append((at, end))
    return gaps


def _cover(covered: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted([*covered, (lo, hi)]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
