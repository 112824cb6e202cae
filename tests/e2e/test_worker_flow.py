"""The whole path with a real worker: signal → order → fill → exit armed → price moves → exit fills →
position closed with the right PnL after fees. Also: a worker killed mid-order loses and doubles nothing."""

from decimal import Decimal

import pytest

from apps.exchange.simulator import SimulatorServer
from apps.exits.models import ProtectiveExit
from apps.trading.models import Order, OrderStatus, Position
from tests.e2e.conftest import SYMBOL, uptrend_simulator, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
D = Decimal


@pytest.fixture
def market():
    sim, _clock = uptrend_simulator()
    server = SimulatorServer(sim, port=0).start()
    yield sim, server
    server.stop()


def test_signal_to_closed_position_with_the_right_pnl(market, e2e_env, producer, workers):
    sim, server = market
    env = e2e_env(server)
    workers(env)
    app = producer(env)

    app.send_task("trading.cycle", kwargs={"symbol": SYMBOL, "timeframe": "1m"})
    entry = wait_for(
        lambda: Order.objects.filter(origin="signal", status=OrderStatus.FILLED).first(), what="entry order filled"
    )
    assert entry.decision.action == "buy" and entry.exchange_order_id
    position = Position.objects.get(status="open")
    exit_ = wait_for(lambda: ProtectiveExit.objects.filter(position=position, status="armed").first(), what="exit")
    avg = entry.average_price  # the actual average fill price (the position's entry also carries the fee)
    assert abs(exit_.stop_loss_price - avg * D("0.98")) <= avg * D("0.0001")
    assert abs(exit_.take_profit_price - avg * D("1.04")) <= avg * D("0.0001")

    sim.set_price(SYMBOL, (exit_.take_profit_price * D("1.001")).quantize(D("0.1")))
    app.send_task("exits.check")
    closed = wait_for(
        lambda: Position.objects.filter(pk=position.pk, status="closed").first(), timeout=60, what="position closed"
    )

    buy, sell = sorted(sim.trades(SYMBOL), key=lambda t: t.side != "buy")
    assert buy.side == "buy" and sell.side == "sell" and len(sim.trades(SYMBOL)) == 2
    held = buy.amount - buy.fee  # Gate.io takes a buy's fee in the base currency
    spent = buy.amount * buy.price
    expected = sell.amount * sell.price - sell.fee - spent * sell.amount / held
    assert abs(closed.realized_pnl - expected) < D("1e-10"), (closed.realized_pnl, expected)
    assert closed.realized_pnl > 0
    exit_.refresh_from_db()
    assert exit_.status == "filled" and exit_.trigger_reason == "take_profit"
    assert Order.objects.filter(origin="protective_exit").count() == 1
