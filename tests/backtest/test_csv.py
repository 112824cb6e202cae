"""Candle CSV files: what is accepted, and errors that name the line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from apps.backtest.history import CandleDataError, candles_from_csv

HEADER = "time,open,high,low,close,volume\n"


def write(tmp_path, text: str):
    path = tmp_path / "candles.csv"
    path.write_text(text)
    return path


def test_a_good_file_reads_as_decimal_candles(tmp_path):
    path = write(tmp_path, HEADER + "2024-01-01T00:00:00Z,100,101.5,99,100.5,3\n1704067260,100.5,102,100,101,4\n")
    candles = candles_from_csv(path)
    assert [c.time for c in candles] == [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 1, tzinfo=UTC)]
    assert candles[0].high == Decimal("101.5") and isinstance(candles[1].close, Decimal)


def test_the_header_is_optional_and_milliseconds_are_understood(tmp_path):
    candles = candles_from_csv(write(tmp_path, "1704067200000,100,101,99,100,1\n"))
    assert candles[0].time == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-01-01T00:01:00Z,100,101,99,abc,1", "line 3: close 'abc' is not a number"),
        ("2024-01-01T00:01:00Z,100,101,99,100", "line 3: expected 6 columns"),
        ("yesterday,100,101,99,100,1", "line 3: time 'yesterday'"),
        ("2024-01-01T00:01:00Z,100,98,99,100,1", "line 3: high 98 / low 99"),
        ("2024-01-01T00:01:00Z,100,101,99,100,-1", "line 3: volume -1 must not be negative"),
        ("2024-01-01T00:01:00Z,0,101,0,100,1", "line 3: prices must be greater than 0"),
        ("2024-01-01T00:00:00Z,100,101,99,100,1", "line 3: time 2024-01-01T00:00:00+00:00 is not after"),
        ("2024-01-01T00:01:00Z,100,101,99,NaN,1", "line 3: close 'NaN' is not a finite number"),
    ],
)
def test_a_bad_row_names_its_line(tmp_path, row, message):
    path = write(tmp_path, HEADER + "2024-01-01T00:00:00Z,100,101,99,100,1\n" + row + "\n")
    with pytest.raises(CandleDataError) as caught:
        candles_from_csv(path)
    assert message in str(caught.value)


def test_a_wrong_header_is_named(tmp_path):
    with pytest.raises(CandleDataError, match="line 1: the header must be time,open,high,low,close,volume"):
        candles_from_csv(write(tmp_path, "time,o,h,l,c,v\n"))


def test_an_empty_file_is_an_error(tmp_path):
    with pytest.raises(CandleDataError, match="no candles"):
        candles_from_csv(write(tmp_path, HEADER))


# --- the fast reader (series_from_file): same candles, same errors, no limit, Parquet ---------------


def _rows(n: int, *, time_format: str = "iso") -> str:
    import numpy as np

    rng = np.random.default_rng(n)
    close = np.round(50000 * np.exp(np.cumsum(rng.normal(0, 0.002, n))), 1)
    open_ = np.r_[50000.0, close[:-1]]
    high = np.round(np.maximum(open_, close) + 5, 1)
    low = np.round(np.minimum(open_, close) - 5, 1)
    volume = np.round(rng.uniform(0, 9, n), 4)
    start = 1_704_067_200
    times = {
        "iso": [f"{datetime.fromtimestamp(start + 60 * i, tz=UTC):%Y-%m-%dT%H:%M:%S}Z" for i in range(n)],
        "naive": [f"{datetime.fromtimestamp(start + 60 * i, tz=UTC):%Y-%m-%d %H:%M:%S}" for i in range(n)],
        "offset": [
            datetime.fromtimestamp(start + 60 * i, tz=timezone(timedelta(hours=2))).isoformat() for i in range(n)
        ],
        "fraction": [f"{datetime.fromtimestamp(start + 60 * i, tz=UTC):%Y-%m-%dT%H:%M:%S}.250Z" for i in range(n)],
        "seconds": [str(start + 60 * i) for i in range(n)],
        "ms": [str((start + 60 * i) * 1000) for i in range(n)],
    }[time_format]
    lines = zip(times, open_.tolist(), high.tolist(), low.tolist(), close.tolist(), volume.tolist(), strict=True)
    return "".join(f"{t},{o},{h},{lo},{c},{v}\n" for t, o, h, lo, c, v in lines)


@pytest.mark.parametrize("time_format", ["iso", "naive", "offset", "fraction", "seconds", "ms"])
def test_the_fast_reader_reads_the_candles_the_row_reader_reads(tmp_path, time_format):
    from apps.backtest.history import series_from_file

    path = write(tmp_path, HEADER + _rows(300, time_format=time_format))
    series, candles = series_from_file(path), candles_from_csv(path)
    assert series.candles is None  # columns straight from pyarrow, not the row reader's fallback
    assert len(series) == len(candles) == 300
    for i in (0, 1, 150, 299):
        assert series.time(i) == candles[i].time
        for column in ("open", "high", "low", "close"):
            assert series.price(column, i) == getattr(candles[i], column)  # exact Decimal, from the float


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-01-01T05:00:00Z,100,101,99,abc,1", "line 202: close 'abc' is not a number"),
        ("2024-01-01T05:00:00Z,100,101,99,100", "line 202: expected 6 columns"),
        ("2024-01-01T05:00:00Z,100,98,99,100,1", "line 202: high 98 / low 99"),
        ("2024-01-01T05:00:00Z,100,101,99,100,-1", "line 202: volume -1 must not be negative"),
        ("2024-01-01T00:00:00Z,100,101,99,100,1", "line 202: time 2024-01-01T00:00:00+00:00 is not after"),
    ],
)
def test_the_fast_reader_still_names_the_bad_line(tmp_path, row, message):
    from apps.backtest.history import series_from_file

    path = write(tmp_path, HEADER + _rows(200) + row + "\n" + _rows(3).replace("2024-01-01", "2024-01-02"))
    with pytest.raises(CandleDataError) as caught:
        series_from_file(path)
    assert message in str(caught.value)


def test_there_is_no_limit_on_the_number_of_candles(tmp_path):
    from apps.backtest.history import series_from_file

    path = write(tmp_path, _rows(250_000, time_format="ms"))  # the old limit was 200,000
    assert len(series_from_file(path)) == 250_000


def test_a_parquet_file_reads_as_the_same_candles(tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from apps.backtest.history import series_from_file

    csv_path = write(tmp_path, HEADER + _rows(300, time_format="ms"))
    table = pcsv.read_csv(csv_path)
    table = table.set_column(0, "time", table.column("time").cast(pa.timestamp("ms", tz="UTC")))
    pq.write_table(table, tmp_path / "candles.parquet")
    a, b = series_from_file(tmp_path / "candles.parquet"), series_from_file(csv_path)
    assert (a.times == b.times).all() and (a.ohlcv.close == b.ohlcv.close).all()


def test_a_bad_parquet_row_is_named(tmp_path):
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from apps.backtest.history import series_from_file

    table = pcsv.read_csv(write(tmp_path, HEADER + _rows(100, time_format="ms"))).to_pydict()
    table["volume"][41] = -2.0
    pq.write_table(__import__("pyarrow").table(table), tmp_path / "bad.parquet")
    with pytest.raises(CandleDataError, match="row 42: volume -2.0 must not be negative"):
        series_from_file(tmp_path / "bad.parquet")
