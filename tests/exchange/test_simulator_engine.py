"""The simulator's engine without HTTP: fills, fees, time in force, history, determinism, thread safety; the command."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.exchange.simulator import ExchangeSimulator, SimError

D = Decimal


def make(**kwargs) -> ExchangeSimulator:
    params = {"balances": {"USDT": D("10000"), "BTC": D("1")}, "seed": 5, "prices": {"BTC/USDT": D("50000")}}
    params.update(kwargs)
    return ExchangeSimulator(**params)


def test_sell_fee_is_charged_in_quote_and_buy_fee_in_base():
    sim = make()
    sell = sim.place_order(symbol="BTC/USDT", side="sell", type="limit", amount=D("0.1"), price=D("50000"))
    assert sell.status == "closed" and sell.fee == D("10") and sell.fee_currency == "USDT"
    assert sim.balance("USDT")[0] == D("10000") + D("5000") - D("10")
    buy = sim.place_order(symbol="BTC/USDT", side="buy", type="limit", amount=D("0.1"), price=D("50000"))
    assert buy.fee == D("0.0002") and buy.fee_currency == "BTC"
    assert sim.balance("BTC") == (D("0.9998"), D("0"))


def test_time_in_force_ioc_fok_poc():
    sim = make(max_fill_quote=D("1000"))  # at most 0.02 BTC per fill
    ioc = sim.place_order(
        symbol="BTC/USDT", side="buy", type="limit", amount=D("0.05"), price=D("50100"), time_in_force="ioc"
    )
    assert (ioc.status, ioc.finish_as, ioc.filled_amount) == ("cancelled", "ioc", D("0.02"))
    fok = sim.place_order(
        symbol="BTC/USDT", side="buy", type="limit", amount=D("0.05"), price=D("50100"), time_in_force="fok"
    )
    assert (fok.finish_as, fok.filled_amount) == ("fok", D("0"))
    poc = sim.place_order(
        symbol="BTC/USDT", side="buy", type="limit", amount=D("0.01"), price=D("50100"), time_in_force="poc"
    )
    assert poc.finish_as == "poc"
    resting = sim.place_order(
        symbol="BTC/USDT", side="buy", type="limit", amount=D("0.01"), price=D("49000"), time_in_force="poc"
    )
    assert resting.status == "open"
    assert sim.balance("USDT") == (D("10000") - D("1000") - D("490"), D("490"))  # the IOC filled at 50000


def test_insufficient_balance_creates_nothing():
    sim = make()
    with pytest.raises(SimError) as err:
        sim.place_order(symbol="BTC/USDT", side="sell", type="market", amount=D("2"))
    assert err.value.label == "BALANCE_NOT_ENOUGH" and err.value.status == 400
    assert sim.order_count() == 0


def test_candles_are_the_same_for_the_same_seed_and_differ_for_another():
    clock = lambda: 1_790_000_000.0  # noqa: E731
    a, b, c = (ExchangeSimulator(seed=s, clock=clock) for s in (1, 1, 2))
    assert a.candle_maker("BTC/USDT").candles("5m", clock(), 300, None, None) == b.candle_maker("BTC/USDT").candles(
        "5m", clock(), 300, None, None
    )
    assert a.candle_maker("BTC/USDT").candles("5m", clock(), 300, None, None) != c.candle_maker("BTC/USDT").candles(
        "5m", clock(), 300, None, None
    )


def test_candles_record_the_price_path():
    now = [1_790_000_000.0]
    sim = ExchangeSimulator(seed=1, clock=lambda: now[0], prices={"BTC/USDT": D("50000")})
    for price in ("50100", "49900", "50050"):
        now[0] += 10
        sim.set_price("BTC/USDT", D(price))
    last = sim.candle_maker("BTC/USDT").candles("1m", now[0], 1, None, None)[0]
    # [t, quote volume, close, high, low, open, base volume, closed]
    assert last[2:6] == ["50050", "50100", "49900", "50000"]


def test_ten_thousand_historical_orders_page_quickly():
    sim = make()
    orders = sim.add_historical_orders("BTC/USDT", 10_000, cancelled_share=0.1)
    assert len(orders) == 10_000 and sim.order_count("BTC/USDT") == 10_000
    assert sum(1 for o in orders if o.status == "cancelled") > 500
    assert len(sim.trades("BTC/USDT")) >= 10_000
    from apps.exchange.simulator.api import Request, list_orders

    started = time.perf_counter()
    page = list_orders(sim, Request(query={"currency_pair": "BTC_USDT", "status": "finished", "limit": "1000"}))
    assert len(page) == 1000
    assert time.perf_counter() - started < 1.0


def test_concurrent_orders_keep_balances_consistent():
    sim = make(balances={"USDT": D("100000")})

    def place(n: int) -> None:
        for i in range(25):
            sim.place_order(
                symbol="BTC/USDT", side="buy", type="limit", amount=D("0.001"), price=D("40000") + n + i, text=f"t-{n}"
            )

    threads = [threading.Thread(target=place, args=(n * 100,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sim.order_count() == 200
    assert len({o.id for o in sim.open_orders()}) == 200
    available, locked = sim.balance("USDT")
    assert available + locked == D("100000")
    assert locked == sum(o.amount * o.price for o in sim.open_orders())


def test_walk_moves_every_pair_deterministically():
    a, b = ExchangeSimulator(seed=9), ExchangeSimulator(seed=9)
    for _ in range(5):
        a.walk()
        b.walk()
    assert a.price("BTC/USDT") == b.price("BTC/USDT") != D("50000")


# ----- the command ------------------------------------------------------------------------------------------------
def test_command_refuses_bad_arguments_with_exit_code_2():
    for argv in (
        ["--balance", "USDT=abc"],
        ["--symbols", "BTCUSDT"],
        ["--port", "70000"],
        ["--set", "visibility_lag_sec=-1"],
        ["--set", "no_such_switch=1"],
    ):
        with pytest.raises(CommandError) as err:
            call_command("simulate_exchange", *argv)
        assert err.value.returncode == 2


def test_command_serves_and_stops_on_sigterm():
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_exchange", "--port", "0", "--tick-sec", "0.05", "--json"]
        + ["--set", "visibility_lag_sec=2.5", "--set", "open_limit_over_max=clamp"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import json
        import urllib.request

        line = proc.stdout.readline()
        url = json.loads(line)["url"]
        assert url.endswith("/api/v4")
        with urllib.request.urlopen(url + "/spot/currency_pairs", timeout=5) as response:
            pairs = {p["id"] for p in json.loads(response.read())}
        assert {"BTC_USDT", "ETH_USDT"} <= pairs
        time.sleep(0.3)
        with urllib.request.urlopen(url.replace("/api/v4", "/_control/state"), timeout=5) as response:
            state = json.loads(response.read())
        assert state["prices"]["BTC/USDT"] != "50000"  # the walk moved it
        assert state["settings"]["visibility_lag_sec"] == 2.5
        assert state["settings"]["open_limit_over_max"] == "clamp"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
