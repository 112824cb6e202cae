"""`manage.py check_exits`: one pass, a short summary or one JSON object, exit 0 / 1."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.exits.models import ProtectiveExit

pytestmark = pytest.mark.django_db


@pytest.fixture
def use_broker(broker, monkeypatch):
    from apps.exchange import services

    monkeypatch.setattr(services, "get_broker", lambda: broker)
    return broker


def test_check_exits_prints_a_summary(use_broker, buy, sim):
    buy(quote="1000")
    sim.set_price("BTC/USDT", ProtectiveExit.objects.get().stop_loss_price - Decimal("10"))
    out = StringIO()
    call_command("check_exits", stdout=out)
    assert "1 armed checked on 1 symbol(s), 1 triggered, 1 order(s) sent" in out.getvalue()


def test_check_exits_json(use_broker, buy):
    buy(quote="1000")
    out = StringIO()
    call_command("check_exits", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["checked"] == 1 and data["tickers_calls"] == 1 and data["ok"] is True


def test_check_exits_exits_1_when_the_exchange_fails(use_broker, buy, sim):
    buy(quote="1000")
    sim.faults.set("*", error_rate=1.0)
    with pytest.raises(CommandError) as err:
        call_command("check_exits", "--json", stdout=StringIO())
    assert err.value.returncode == 1
