"""`manage.py backtest`: metrics out, exit codes 0 / 1 / 2, --json."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.backtest.models import BacktestRun
from tests.backtest.candles import uptrend

pytestmark = pytest.mark.django_db


@pytest.fixture
def candles_csv(tmp_path):
    path = tmp_path / "btc.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "open", "high", "low", "close", "volume"])
        for c in uptrend():
            writer.writerow([c.time.isoformat(), c.open, c.high, c.low, c.close, c.volume])
    return path


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("backtest", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def test_a_csv_backtest_prints_the_metrics(candles_csv):
    code, out = run("--symbol", "BTC/USDT", "--timeframe", "1m", "--csv", str(candles_csv))
    assert code == 0
    assert "total return %" in out and "max drawdown %" in out and "Sharpe" in out
    assert "[" not in out.splitlines()[0]  # no progress bar when stdout is not a terminal
    run_row = BacktestRun.objects.get()
    assert run_row.status == BacktestRun.Status.DONE and run_row.source == "csv" and run_row.candles == 160


def test_json_prints_one_object(candles_csv):
    code, out = run("--symbol", "BTC/USDT", "--timeframe", "1m", "--csv", str(candles_csv), "--json")
    body = json.loads(out)
    assert code == 0 and body["status"] == "done" and body["metrics"]["trades"] >= 1


def test_a_parameter_can_be_overridden(candles_csv):
    code, out = run("--symbol", "BTC/USDT", "--timeframe", "1m", "--csv", str(candles_csv), "--param", "fee_pct=0")
    assert code == 0 and BacktestRun.objects.get().parameters["fee_pct"] == "0"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--csv", "x.csv", "--since", "2024-01-01", "--until", "2024-01-02"], "csv"),
        (["--since", "2024-01-01"], "since"),
        (["--since", "2024-13-01", "--until", "2024-01-02"], "since"),
        (["--csv", "/nonexistent/candles.csv"], "csv"),
        (["--csv", "CSV", "--param", "fee_pct=99"], "parameters.fee_pct"),
        (["--csv", "CSV", "--timeframe", "7m"], "timeframe"),
        (["--csv", "CSV", "--param", "nonsense"], "param"),
    ],
)
def test_bad_arguments_exit_2_naming_the_field(candles_csv, args, field):
    args = [str(candles_csv) if a == "CSV" else a for a in args]
    code, out = run("--symbol", "BTC/USDT", *args, "--json")
    assert code == 2 and json.loads(out)["field"] == field
    assert not BacktestRun.objects.exists()


def test_unusable_candles_exit_1(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,x,1\n")
    code, out = run("--symbol", "BTC/USDT", "--csv", str(path), "--json")
    assert code == 1 and "line 2" in json.loads(out)["error"]


def test_too_few_candles_exit_1_and_the_run_is_stored_as_failed(candles_csv, tmp_path):
    short = tmp_path / "short.csv"
    short.write_text("".join(candles_csv.read_text().splitlines(keepends=True)[:11]))
    code, out = run("--symbol", "BTC/USDT", "--timeframe", "1m", "--csv", str(short), "--json")
    assert code == 1 and "too few" in json.loads(out)["error"]
    assert BacktestRun.objects.get().status == BacktestRun.Status.FAILED
