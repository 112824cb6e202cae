"""The operator console: every screen loads, the dashboard tells the truth, actions are audited."""

from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.exits.models import ProtectiveExit
from apps.reconciliation.models import Discrepancy, ReconciliationRun
from apps.risk.models import RiskEvent, TradingSwitch
from apps.signals.models import Decision
from apps.trading.models import OrderStatus, Position
from apps.trading.services import FillReport, fill_apply, order_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def books(make_order):
    """A little of everything: an order with a fill, a position, an exit, a decision, a run."""
    order = make_order(amount=Decimal("0.01"))
    order_transition(order_id=order.pk, to=OrderStatus.SUBMITTED, exchange_order_id="123")
    fill_apply(
        order=order,
        report=FillReport(trade_id="T1", price=Decimal("50000"), amount=Decimal("0.01"), executed_at=timezone.now()),
    )
    position = Position.objects.get()
    assert ProtectiveExit.objects.filter(position=position, status="armed").exists()  # armed by the fill
    Decision.objects.create(symbol="BTC/USDT", timeframe="1m", action="buy", score=0.5, explanation="test")
    run = ReconciliationRun.objects.create(started_at=timezone.now(), status="ok")
    Discrepancy.objects.create(run=run, symbol="BTC/USDT", kind="status", order=order)
    RiskEvent.objects.create(rule="max_positions", symbol="BTC/USDT")
    TradingSwitch.get()
    return order


def test_every_model_is_registered():
    ours = [m for m in django_apps.get_models() if m.__module__.startswith("apps.")]
    missing = [m.__name__ for m in ours if not admin.site.is_registered(m)]
    assert not missing


def test_every_changelist_and_change_page_loads(console, books):
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = console.get(url)
        assert response.status_code == 200, url
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert console.get(change).status_code == 200, change


def test_changelist_filters_and_search_work(console, books):
    url = reverse("admin:trading_order_changelist")
    assert books.client_order_id in console.get(url, {"q": books.client_order_id}).content.decode()
    assert books.client_order_id in console.get(url, {"q": "123"}).content.decode()
    assert books.client_order_id not in console.get(url, {"status__exact": "cancelled"}).content.decode()


def test_dashboard_shows_mode_trading_positions_pnl_reconciliation_health(console, books):
    page = console.get(reverse("admin:index")).content.decode()
    for marker in ("dash-mode", "dash-trading", "dash-positions", "dash-pnl", "dash-reconciliation", "dash-health"):
        assert marker in page
    assert "paper" in page and "OFF" in page  # ENABLE_TRADING defaults to false


def test_pause_and_resume_from_the_dashboard_are_audited_with_the_user(console, operator):
    console.post(reverse("admin:trading-pause"), {"post": "yes"})  # confirmed (the page before says what happens)
    assert TradingSwitch.get().halted
    console.post(reverse("admin:trading-resume"), {"post": "yes"})
    assert not TradingSwitch.get().halted
    actions = list(AuditLog.objects.filter(actor_label=operator.username).values_list("action", flat=True))
    assert "trading.pause" in actions and "trading.resume" in actions
    assert "admin.trading.pause" in actions


def test_audit_log_cannot_be_changed_or_deleted_in_the_admin(console, books):
    row = AuditLog.objects.first()
    url = reverse("admin:audit_auditlog_change", args=[row.pk])
    console.post(url, {"action": "forged"})
    assert AuditLog.objects.get(pk=row.pk).action == row.action
    delete = reverse("admin:audit_auditlog_delete", args=[row.pk])
    assert console.post(delete, {"post": "yes"}).status_code == 403


def test_exchange_data_is_read_only(console, books):
    url = reverse("admin:trading_order_change", args=[books.pk])
    console.post(url, {"status": "cancelled"})
    books.refresh_from_db()
    assert books.status != "cancelled"


def test_operator_actions_answer_with_a_message_never_a_crash(console, books):
    position = Position.objects.get()
    for url, action, pk in [
        (reverse("admin:trading_order_changelist"), "cancel_selected", books.pk),
        (reverse("admin:trading_position_changelist"), "close_selected", position.pk),
    ]:
        # confirmed (post=yes); closing positions also asks for the password again (issue 12): in the same POST
        data = {"action": action, "_selected_action": [pk], "post": "yes", "reauth_password": "operator-pass-123"}
        response = console.post(url, data, follow=True)
        assert response.status_code == 200
        assert list(response.context["messages"])
    response = console.post(reverse("admin:reconcile-now"), follow=True)
    assert response.status_code == 200 and list(response.context["messages"])
    # the close and the reconcile are audited; the filled order is left alone (no cancel sent for it)
    assert AuditLog.objects.filter(action__startswith="admin.", actor_type="user").count() >= 2


def test_api_token_created_in_admin_is_shown_once_and_stored_hashed(console):
    from apps.api.models import ApiToken, hash_token

    response = console.post(reverse("admin:api_apitoken_add"), {"name": "grafana", "scope": "read"}, follow=True)
    shown = [str(m) for m in response.context["messages"] if "shown once" in str(m)]
    raw = shown[0].split(": ")[-1].strip()
    token = ApiToken.objects.get(name="grafana")
    assert raw.startswith("tb_") and token.token_hash == hash_token(raw)
    assert raw not in token.token_hash


def test_paper_mode_shows_the_green_paper_banner_and_the_paper_account(console, settings):
    settings.MODE = "paper"
    page = console.get(reverse("admin:index")).content.decode()
    assert 'class="tb-banner tb-banner-paper"' in page and "PAPER" in page
    assert "Paper account balances" in page


def test_paper_tables_are_hidden_in_live_mode(console, operator, settings, rf):
    """Issue 14: in live the paper account's tables would read as the real account."""
    from apps.exchange.models import PaperBalance

    assert console.get(reverse("admin:exchange_paperbalance_changelist")).status_code == 200
    request = rf.get("/admin/")
    request.user = operator
    paper_admin = admin.site._registry[PaperBalance]
    settings.MODE = "live"
    assert not paper_admin.has_module_permission(request) and not paper_admin.has_view_permission(request)


def test_a_post_without_the_confirmation_shows_the_page_and_changes_nothing(console):
    """Issue 14, item 4: pause says what will happen first; only "Yes" (post=yes) acts."""
    page = console.post(reverse("admin:trading-pause")).content.decode()
    assert "no new entry order is sent" in page and 'name="post" value="yes"' in page
    assert not TradingSwitch.get().halted


def test_an_exit_that_is_no_longer_armed_cannot_be_edited(console, books, operator_actor):
    from apps.exits.services import ExitNotEditable, exit_levels_set

    exit_ = ProtectiveExit.objects.get(status="armed")
    moved = exit_levels_set(
        exit_id=exit_.pk, stop_loss=Decimal("48000"), take_profit=Decimal("55000"), actor=operator_actor
    )
    assert moved.stop_loss_price == Decimal("48000")
    assert AuditLog.objects.filter(action="exit.edit", actor_label="operator").exists()
    with pytest.raises(ExitNotEditable):
        exit_levels_set(
            exit_id=exit_.pk, stop_loss=Decimal("56000"), take_profit=Decimal("55000"), actor=operator_actor
        )
    ProtectiveExit.objects.filter(pk=exit_.pk).update(status="cancelled")
    with pytest.raises(ExitNotEditable):
        exit_levels_set(
            exit_id=exit_.pk, stop_loss=Decimal("47000"), take_profit=Decimal("55000"), actor=operator_actor
        )
    page = console.get(reverse("admin:exits_protectiveexit_change", args=[exit_.pk])).content.decode()
    assert "View protective exit" in page and 'name="_save"' not in page
