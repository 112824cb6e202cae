"""Issue 11, row "Redis stopped for 30 s": the outage is loud and the protective exits keep their guard.

Real worker and beat on a Redis of the test's own (stopped for 30 s, then started again), the simulator over
HTTP, python-telegram-bot against the local fake Bot API. Before: /health/ready stayed 200 "degraded", exit
checks were dropped, and no alert could go out (alerts rode the same broker). Now: readiness is 503 with the
broker down; beat runs the exits check and the health monitor itself while the broker refuses them, so a stop
crossed during the outage fills and the operators get the health alert, sent directly, once.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.exchange.simulator import SimulatorServer
from apps.exits.models import ProtectiveExit
from apps.monitoring.health import readiness, reset_exchange_cache
from apps.operations.models import TaskRun
from apps.trading.models import Position
from apps.trading.venues import Venue
from tests.e2e.conftest import SYMBOL, uptrend_simulator, wait_for
from tests.telegram.fake_bot_api import FakeBotApi

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TOKEN = "123456:TEST-token"
ALERT_CHAT = -1000
OUTAGE_SEC = 30


def _open_position_with_armed_exit(sim) -> ProtectiveExit:
    entry = sim.price(SYMBOL)
    position = Position.objects.create(
        venue=Venue.LIVE,  # the workers trade MODE=live
        symbol=SYMBOL,
        status=Position.Status.OPEN,
        amount=Decimal("0.01"),
        average_entry_price=entry,
        cost_basis=Decimal("0.01") * entry,
        opened_at=timezone.now() - timedelta(hours=1),
    )
    sim.set_balance("BTC", Decimal("0.01"))
    return ProtectiveExit.objects.create(
        position=position,
        symbol=SYMBOL,
        entry_price=entry,
        stop_loss_price=(entry * Decimal("0.98")).quantize(Decimal("0.1")),
        take_profit_price=(entry * Decimal("1.04")).quantize(Decimal("0.1")),
        armed_at=timezone.now(),
    )


def _broker_alerts(bot: FakeBotApi, word: str) -> list[str]:
    return [
        c.params["text"] for c in bot.sent("sendMessage") if "broker" in c.params["text"] and word in c.params["text"]
    ]


def test_redis_stopped_for_30s_is_loud_and_exits_keep_their_guard(
    require_postgres, e2e_env, workers, beats, own_redis, settings, tmp_path
):
    from apps.exchange import breaker, limiter, services

    sim, _clock = uptrend_simulator()
    server = SimulatorServer(sim, port=0).start()
    bot = FakeBotApi().start()
    try:
        env = e2e_env(
            server,
            REDIS_URL=own_redis.url,
            ENABLE_TRADING="false",
            EXITS_ON_EXCHANGE="false",  # the bot's own guard is what is tested here
            EXITS_CHECK_INTERVAL_SEC="2",
            DATA_DIR=str(tmp_path / "data"),
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=f"{bot.url}/bot",
            ALERT_TELEGRAM_CHAT_ID=str(ALERT_CHAT),
        )
        # This process answers /health/ready as the web would, on the same Redis and exchange.
        settings.REDIS_URL = own_redis.url
        settings.MODE, settings.GATEIO_API_URL = "live", server.url
        settings.GATEIO_API_KEY, settings.GATEIO_API_SECRET = "sim-key", "sim-secret"
        breaker.reset_registry()
        services.reset_broker()
        limiter._default = None
        reset_exchange_cache()

        exit_ = _open_position_with_armed_exit(sim)
        workers(env)
        beats(env)
        wait_for(lambda: TaskRun.objects.filter(name="exits.check", last_status="ok").exists(), timeout=60)
        assert Client().get("/health/ready").status_code == 200

        own_redis.stop()
        outage_started = time.monotonic()
        reset_exchange_cache()
        response = Client().get("/health/ready")
        assert response.status_code == 503 and response.json()["status"] == "down"
        assert readiness()["components"]["broker"]["status"] == "down"

        # The stop is crossed while the broker is away: beat runs the exits check itself.
        sim.set_price(SYMBOL, (exit_.stop_loss_price * Decimal("0.99")).quantize(Decimal("0.1")))
        wait_for(
            lambda: Position.objects.filter(pk=exit_.position_id, status="closed").first(),
            timeout=OUTAGE_SEC - 5,
            what="the stop-loss filled during the outage",
        )
        # The health monitor ran in beat too, and its alert went out directly (the broker refused the task).
        wait_for(lambda: _broker_alerts(bot, "down"), timeout=45, what="the broker-down alert")
        assert time.monotonic() - outage_started < OUTAGE_SEC + 20

        time.sleep(max(0.0, OUTAGE_SEC - (time.monotonic() - outage_started)))
        own_redis.start()
        reset_exchange_cache()
        wait_for(lambda: Client().get("/health/ready").status_code == 200, timeout=30, what="ready again")
        wait_for(lambda: _broker_alerts(bot, "ok"), timeout=60, what="the broker-up alert")

        assert len(_broker_alerts(bot, "down")) == 1  # once, not once per check
        exit_.refresh_from_db()
        assert exit_.status == "filled" and exit_.trigger_reason == "stop_loss"
        assert len([o for o in sim.finished_orders(SYMBOL) if o.side == "sell"]) == 1
        assert not TaskRun.objects.filter(
            last_status="running", last_started_at__lt=timezone.now() - timedelta(seconds=60)
        )
    finally:
        bot.stop()
        server.stop()
