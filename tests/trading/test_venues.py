"""Issue 11, Deliver 1 — the fault "paper → live on the same database": a paper buy merged into the live
position, and the live stop-loss then sold real coins the bot had only bought on paper.

Reproduced on real components: one database (PostgreSQL in CI), the bundled simulator over HTTP, ccxt's gate
class behind GateBroker for live, the paper broker reading its prices from the same simulator. A paper position
is opened in MODE=paper, then the process goes live on the same database: the live stop-loss pass, the
exchange-side stops and reconciliation never touch the paper books, and the simulator never receives an order
for them.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from apps.audit.actors import SYSTEM
from apps.exchange.paper import PaperBroker
from apps.exits.models import ProtectiveExit
from apps.exits.services import exits_check, position_close
from apps.reconciliation.models import Discrepancy
from apps.reconciliation.services import reconcile
from apps.risk.rules import ConsecutiveLosses, MaxOpenPositions
from apps.risk.services import risk_check
from apps.trading.cycle import place_order
from apps.trading.models import Fill, Order, Position
from apps.trading.selectors import pnl_summary, positions_open
from apps.trading.services import order_create
from apps.trading.submission import order_submit
from apps.trading.venues import WrongVenue, venue_of
from tests.exchange.brokers import make_broker, make_limiter, make_sim, serve

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def sim():
    # Quote only on the exchange: its BTC balance is exactly what the live books bought.
    return make_sim(balances={"USDT": D("100000")})


@pytest.fixture
def server(sim):
    server = serve(sim)
    yield server
    server.stop()


@pytest.fixture
def live(server, tmp_path):
    return make_broker(server.url, make_limiter(tmp_path / "live", calls=10_000))


@pytest.fixture
def paper(server, tmp_path):
    data = make_broker(server.url, make_limiter(tmp_path / "data", calls=10_000))
    return PaperBroker(data=data, fee_pct=D("0.2"), slippage_bps=D("5"))


@pytest.fixture
def books(settings, sim, paper, live):
    """A paper position opened in MODE=paper, then the same database in MODE=live with a live position."""
    settings.EXITS_ON_EXCHANGE = False
    settings.MODE = "paper"
    paper_buy = place_order(
        intent="test:paper-entry", symbol="BTC/USDT", side="buy", quote_amount="1000", broker=paper, actor=SYSTEM
    )
    assert paper_buy.venue == "paper" and paper_buy.status == "filled"
    assert sim.order_count() == 0  # paper fills in our database, never on the exchange
    settings.MODE = "live"
    live_buy = place_order(
        intent="test:live-entry", symbol="BTC/USDT", side="buy", quote_amount="500", broker=live, actor=SYSTEM
    )
    assert live_buy.venue == "live" and live_buy.status == "filled"
    return paper_buy, live_buy


def _paper_state() -> list[tuple]:
    orders = list(
        Order.objects.filter(venue="paper").order_by("pk").values_list("pk", "status", "filled", "updated_at")
    )
    positions = list(Position.objects.filter(venue="paper").order_by("pk").values_list("pk", "status", "amount"))
    exits = list(ProtectiveExit.objects.filter(position__venue="paper").values_list("pk", "status", "updated_at"))
    return [orders, positions, exits]


def test_a_paper_buy_and_a_live_buy_stay_two_positions(books):
    paper_buy, live_buy = books
    paper_position = Position.objects.get(venue="paper", status="open")
    live_position = Position.objects.get(venue="live", status="open")
    assert paper_buy.position_id == paper_position.pk and live_buy.position_id == live_position.pk
    assert set(Fill.objects.filter(order=paper_buy).values_list("venue", flat=True)) == {"paper"}
    assert set(Fill.objects.filter(order=live_buy).values_list("venue", flat=True)) == {"live"}
    # Live sees only its own books: one open position (the live one), its size what the exchange bought.
    assert list(positions_open(venue="live")) == [live_position]
    assert positions_open(venue="paper").get() == paper_position
    assert live_position.amount < paper_position.amount  # 500 USDT vs 1000 USDT: nothing merged


def test_the_live_stop_loss_pass_never_sells_a_paper_position(books, sim, live, settings):
    paper_buy, live_buy = books
    before = _paper_state()
    sim.set_price("BTC/USDT", D("40000"))  # far below both stop-losses
    result = exits_check(broker=live, actor=SYSTEM)
    assert result.checked == 1 and result.triggered == 1 and not result.errors
    assert Position.objects.get(venue="live", pk=live_buy.position_id).status == "closed"
    assert _paper_state() == before  # the paper position, its orders and its armed exit untouched
    assert ProtectiveExit.objects.get(position__venue="paper").status == "armed"
    # The exchange received the live buy and the live exit sell, and nothing of paper.
    assert sim.order_count() == 2 and not sim.orders_with_text(paper_buy.client_order_id)
    exit_order = ProtectiveExit.objects.get(position_id=live_buy.position_id).exit_order
    sells = [o for o in sim.finished_orders("BTC/USDT") if o.side == "sell"]
    assert [o.text for o in sells] == [exit_order.client_order_id] and exit_order.venue == "live"


def test_live_exchange_stops_are_placed_for_live_exits_only(books, sim, live, settings):
    settings.EXITS_ON_EXCHANGE = True
    before = _paper_state()
    result = exits_check(broker=live, actor=SYSTEM)
    assert result.stops_placed == 1 and not result.errors
    (stop,) = sim.price_orders()
    live_position = Position.objects.get(venue="live", status="open")
    paper_position = Position.objects.get(venue="paper", status="open")
    # The live position's amount (rounded down to the market's precision), not the paper one's, nor their sum.
    assert live_position.amount - D("0.000001") <= D(stop.put["amount"]) <= live_position.amount
    assert paper_position.amount > 2 * live_position.amount * D("0.9")
    assert _paper_state() == before
    assert ProtectiveExit.objects.get(position__venue="paper").exchange_stop_order_id == ""


def test_live_reconciliation_never_touches_the_paper_books(books, sim, live):
    before = _paper_state()
    run = reconcile(broker=live, actor=SYSTEM, trigger="test")
    assert run.venue == "live" and run.status == "ok", (run.error, list(run.discrepancies.values()))
    # Balance check: the exchange's BTC equals the live position alone (the paper one is not counted).
    assert not Discrepancy.objects.filter(kind="balance").exists()
    assert _paper_state() == before
    assert sim.order_count() == 1


def test_a_paper_order_or_position_never_reaches_the_live_broker(books, sim, live):
    server_orders = sim.order_count()
    stray = order_create(symbol="BTC/USDT", side="buy", type="market", quote_amount="50", venue="paper", actor=SYSTEM)
    with pytest.raises(WrongVenue, match="paper books"):
        order_submit(order=stray, broker=live, actor=SYSTEM)
    assert Order.objects.get(pk=stray.pk).status == "new" and not sim.orders_with_text(stray.client_order_id)
    paper_position = Position.objects.get(venue="paper", status="open")
    with pytest.raises(WrongVenue):
        position_close(position=paper_position, broker=live, actor=SYSTEM)
    assert sim.order_count() == server_orders
    assert not ProtectiveExit.objects.filter(position=paper_position, status="triggered").exists()


def test_pnl_and_risk_of_each_mode_count_only_its_own_books(books, sim, live, paper, settings):
    sim.set_price("BTC/USDT", D("40000"))
    exits_check(broker=live, actor=SYSTEM)  # the live position closes at a loss
    live_pnl, paper_pnl = pnl_summary(venue="live"), pnl_summary(venue="paper")
    assert (live_pnl.closed_positions, live_pnl.open_positions) == (1, 0)
    assert (paper_pnl.closed_positions, paper_pnl.open_positions) == (0, 1)
    assert pnl_summary().closed_positions == 1  # MODE=live: the mode's books by default
    settings.MAX_POSITIONS = 1
    rules = (MaxOpenPositions(), ConsecutiveLosses())
    check = {"symbol": "ETH/USDT", "side": "buy", "now": timezone.now(), "actor": SYSTEM, "rules": rules}
    assert risk_check(broker=live, **check).allowed  # the open paper position does not fill the live limit
    settings.MODE = "paper"
    verdict = risk_check(broker=paper, **check)
    assert not verdict.allowed and verdict.rule == "max_positions" and verdict.details["symbols"] == ["BTC/USDT"]


def test_back_in_paper_the_paper_exit_sells_on_paper_only(books, sim, paper, settings):
    settings.MODE = "paper"
    sim.set_price("BTC/USDT", D("40000"))
    exchange_orders = sim.order_count()
    result = exits_check(broker=paper, actor=SYSTEM)
    assert result.triggered == 1 and not result.errors
    assert Position.objects.get(venue="paper").status == "closed"
    assert Position.objects.get(venue="live").status == "open"  # the live one is live's to protect
    assert sim.order_count() == exchange_orders


def test_the_admin_lists_show_the_venue_and_filter_by_it(books, client, operator, settings):
    """Issue 11, Deliver 1: the operator sees which books an order or position lives on."""
    from django.urls import reverse

    paper_buy, live_buy = books
    settings.MODE = "paper"  # the console of a paper process (live requires 2FA, not what this test is about)
    client.force_login(operator)
    page = client.get(reverse("admin:trading_order_changelist"), {"venue__exact": "paper"})
    assert page.status_code == 200
    assert [o.pk for o in page.context["cl"].result_list] == [paper_buy.pk]
    assert "Paper (simulated fills)" in page.content.decode()  # the venue column and its filter
    positions = client.get(reverse("admin:trading_position_changelist"), {"venue__exact": "live"})
    assert positions.status_code == 200
    assert [p.pk for p in positions.context["cl"].result_list] == [live_buy.position_id]
    assert "Live (Gate.io)" in positions.content.decode()


def test_a_broker_naming_no_known_venue_is_refused_not_guessed_from_the_mode(settings):
    """venue_of reads the venue every broker declares; a wrapper that forgot it must not read the mode's books
    (the console's read memo used to fall back to them)."""
    settings.MODE = "live"
    assert venue_of(SimpleNamespace(venue="paper")) == "paper"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="names venue 'exchange'"):
        venue_of(SimpleNamespace(venue="exchange"))  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        venue_of(SimpleNamespace())  # type: ignore[arg-type]
