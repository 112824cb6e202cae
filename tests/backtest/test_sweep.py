"""Sweeps (`--grid`): every combination a Celery task run by real worker processes, features computed
once per window and shared on disk, results ranked, an interrupted sweep resumed without redoing the
finished combinations; the same through POST /api/backtests/sweeps."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.actors import SYSTEM
from apps.backtest import services, sweeps
from apps.backtest.engine import run_backtest
from apps.backtest.history import series_from_file
from apps.backtest.models import BacktestRun, BacktestSweep
from apps.backtest.params import BacktestParams
from apps.backtest.services import BacktestInputError, default_market
from tests.backtest.candles import uptrend
from tests.backtest.fakes import HistoryBroker
from tests.backtest.test_csv import HEADER, _rows
from tests.e2e.conftest import e2e_env, producer, wait_for, workers  # noqa: F401

GRID = {"fee_pct": ["0.1", "0.2"], "window": [60, 100]}
NO_SERVER = SimpleNamespace(url="http://127.0.0.1:9/api/v4")  # the sweep reads no exchange


@pytest.fixture
def candles_csv(tmp_path) -> Path:
    path = tmp_path / "candles.csv"
    path.write_text(HEADER + _rows(3000))
    return path


@pytest.fixture
def worker_env(e2e_env, producer, settings, monkeypatch):  # noqa: F811
    """The workers' environment; the sweep's tasks go to their broker (the test's Redis database)."""
    env = e2e_env(NO_SERVER, MODE="paper", ENABLE_TRADING="false", DATA_DIR=str(settings.DATA_DIR))
    app = producer(env)
    monkeypatch.setattr(sweeps, "_send", lambda task, pk: app.send_task(task, args=(pk,)))
    return env


def finished(sweep_id: int):
    sweep = BacktestSweep.objects.get(pk=sweep_id)
    return sweep if sweep.status == "done" else None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_combination_runs_on_the_workers_and_comes_back_ranked(candles_csv, worker_env, workers, settings):  # noqa: F811
    workers(worker_env, concurrency=2)
    sweep = sweeps.sweep_start(symbol="BTC/USDT", timeframe="1m", csv_path=candles_csv, grid=GRID,
                               rank_by="total_return_pct", actor=SYSTEM)  # fmt: skip
    assert sweep.total == 4
    wait_for(lambda: finished(sweep.pk), timeout=120, what="sweep done")
    runs = list(BacktestRun.objects.filter(sweep=sweep))
    assert len(runs) == 4 and {r.status for r in runs} == {"done"}
    assert sorted((r.combination["fee_pct"], r.combination["window"]) for r in runs) == [
        ("0.1", 60), ("0.1", 100), ("0.2", 60), ("0.2", 100)
    ]  # fmt: skip
    # The features of each window were computed once and saved beside the candles.
    history = Path(settings.DATA_DIR) / "history"
    assert len(list(history.glob("series-*.npz"))) == 1
    assert sorted(p.name.rsplit("-", 1)[1] for p in history.glob("features-*.npz")) == ["w100.npz", "w60.npz"]
    # A worker's result is the engine's on the same candles and parameters.
    run = next(r for r in runs if r.combination == {"fee_pct": "0.2", "window": 100})
    series = series_from_file(candles_csv)
    params = BacktestParams.from_settings(run.parameters)
    expected = run_backtest(series, symbol="BTC/USDT", timeframe="1m", market=default_market("BTC/USDT", series),
                            params=params)  # fmt: skip
    assert run.metrics == expected.metrics
    ranking = sweeps.sweep_ranking(BacktestSweep.objects.get(pk=sweep.pk))
    values = [float(row["total_return_pct"]) for row in ranking]
    assert values == sorted(values, reverse=True) and [row["rank"] for row in ranking] == [1, 2, 3, 4]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_interrupted_sweep_resumes_without_redoing_finished_combinations(candles_csv, worker_env, workers):  # noqa: F811
    request = {"symbol": "BTC/USDT", "timeframe": "1m", "csv_path": candles_csv, "grid": GRID, "actor": SYSTEM}
    worker = workers(worker_env)
    sweep = sweeps.sweep_start(**request)
    wait_for(lambda: finished(sweep.pk), timeout=120, what="sweep done")
    worker.stop()
    # As if the workers had been lost mid-sweep: two combinations never finished (one claimed, one queued).
    runs = list(BacktestRun.objects.filter(sweep=sweep).order_by("id"))
    kept = {r.pk: r.finished_at for r in runs[:2]}
    BacktestRun.objects.filter(pk=runs[2].pk).update(status="running", started_at="2000-01-01T00:00:00Z")
    BacktestRun.objects.filter(pk=runs[3].pk).update(status="queued", metrics={}, finished_at=None)
    BacktestSweep.objects.filter(pk=sweep.pk).update(status="running", finished_at=None)

    again = sweeps.sweep_start(**request)  # the same request: the same sweep, resumed
    assert again.pk == sweep.pk
    workers(worker_env)
    wait_for(lambda: finished(sweep.pk), timeout=120, what="resumed sweep done")
    after = {r.pk: r for r in BacktestRun.objects.filter(sweep=sweep)}
    assert len(after) == 4 and all(r.status == "done" for r in after.values())
    assert {pk: after[pk].finished_at for pk in kept} == kept  # finished combinations were not run again
    assert after[runs[3].pk].metrics and after[runs[2].pk].finished_at > after[runs[2].pk].started_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("grid", "field"),
    [
        ({"leverage": [2]}, "grid.leverage"),
        ({"fee_pct": []}, "grid.fee_pct"),
        ({"fee_pct": ["0.1", "50"]}, "grid.fee_pct"),
        ({}, "grid"),
    ],
)
def test_a_bad_grid_is_refused_before_anything_is_written(candles_csv, grid, field):
    with pytest.raises(BacktestInputError) as caught:
        sweeps.sweep_start(symbol="BTC/USDT", timeframe="1m", csv_path=candles_csv, grid=grid, actor=SYSTEM)
    assert caught.value.field == field
    assert not BacktestSweep.objects.exists() and not BacktestRun.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_a_grid_that_is_not_name_equals_values(candles_csv):
    with pytest.raises(CommandError) as caught:
        call_command("backtest", "--symbol", "BTC/USDT", "--csv", str(candles_csv), "--grid", "fee_pct")
    assert caught.value.returncode == 2


@pytest.mark.django_db
def test_a_sweep_through_the_api_is_queued_then_prepared_and_run(
    trader, monkeypatch, django_capture_on_commit_callbacks
):
    candles = uptrend()
    monkeypatch.setattr(sweeps, "history_broker", lambda: HistoryBroker(candles))
    monkeypatch.setattr(services, "history_broker", lambda: HistoryBroker(candles))
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(sweeps, "_send", lambda task, pk: sent.append((task, pk)))
    body = {
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "since": candles[0].time.isoformat(),
        "until": candles[-1].time.isoformat(),
        "grid": {"take_profit_pct": ["2", "4", "8"]},
        "rank_by": "sharpe",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = trader.post("/api/backtests/sweeps", body, content_type="application/json")
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["status"] == "queued" and queued["total"] == 3 and queued["rank_by"] == "sharpe"
    assert sent == [("backtest.sweep_prepare", queued["id"])]

    with django_capture_on_commit_callbacks(execute=True):
        sweeps.sweep_prepare(sweep=BacktestSweep.objects.get(pk=queued["id"]))  # the worker's first task
    runs = [pk for task, pk in sent if task == "backtest.sweep_run"]
    assert len(runs) == 3
    for pk in runs:  # each worker task
        sweeps.sweep_run_execute(run_id=pk)
    done = trader.get(f"/api/backtests/sweeps/{queued['id']}").json()
    assert done["status"] == "done" and done["finished"] == 3 and len(done["ranking"]) == 3


@pytest.mark.django_db
def test_a_bad_sweep_request_is_422_naming_the_field(trader):
    candles = uptrend()
    body = {"symbol": "BTC/USDT", "since": candles[0].time.isoformat(), "until": candles[-1].time.isoformat()}
    url = "/api/backtests/sweeps"
    response = trader.post(url, {**body, "grid": {"nope": [1]}}, content_type="application/json")
    assert response.status_code == 422 and "grid.nope" in response.content.decode()
    response = trader.post(url, {**body, "grid": {"window": [60]}, "rank_by": "luck"}, content_type="application/json")
    assert response.status_code == 422 and "rank_by" in response.content.decode()


def test_runs_are_queued_one_window_after_another_so_workers_compute_different_features_first():
    # A grid whose window varies slowest creates the runs of one window in a row.
    rows = [(1, {"window": 60}), (2, {"window": 60}), (3, {"window": 60}), (4, {"window": 100})]
    rows += [(5, {"window": 100}), (6, {"window": 150}), (7, {"fee_pct": "0.1"})]
    assert sweeps._interleaved(rows) == [1, 4, 6, 7, 2, 5, 3]
    assert sweeps._interleaved([]) == []


def test_a_csv_file_read_for_one_sweep_is_not_parsed_again_until_it_changes(candles_csv, monkeypatch):
    first = sweeps.csv_series(candles_csv)
    parsed = []
    monkeypatch.setattr(sweeps, "series_from_file", lambda path: parsed.append(path) or series_from_file(path))
    again = sweeps.csv_series(candles_csv)
    assert parsed == []  # loaded from the array file the first read saved
    assert again.digest() == first.digest() and len(again) == len(first)
    candles_csv.write_text(candles_csv.read_text() + "2030-01-01T00:00:00Z,1,1,1,1,1\n")
    changed = sweeps.csv_series(candles_csv)
    assert parsed == [candles_csv] and len(changed) == len(first) + 1
