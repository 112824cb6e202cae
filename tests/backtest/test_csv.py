"""Candle CSV files: what is accepted, and errors that name the line."""

from __future__ import annotations

from datetime import UTC, datetime
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
