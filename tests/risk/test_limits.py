"""RiskLimits: validated, read by the rules with the settings as fallback, edited in the admin with an audit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.audit.models import AuditLog
from apps.risk.models import RiskLimits
from apps.risk.selectors import risk_limits
from apps.risk.services import risk_limits_save

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("trading_on")]


def test_limits_follow_the_settings_without_a_row():
    limits = risk_limits()
    assert limits.max_positions == 3 and limits.position_size_usd == Decimal("100")
    assert str(limits.hours) == "00:00-24:00"
    assert not RiskLimits.objects.exists()


def test_a_set_field_overrides_only_its_setting():
    RiskLimits.objects.create(pk=1, max_positions=5, hours="22:00-06:00")
    limits = risk_limits()
    assert limits.max_positions == 5 and str(limits.hours) == "22:00-06:00"
    assert limits.max_drawdown_pct == Decimal("5.0") and limits.loss_cooldown_min == 60


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_positions", 1001),
        ("position_size_usd", Decimal("0")),
        ("max_drawdown_pct", Decimal("0")),
        ("max_drawdown_pct", Decimal("100.5")),
        ("max_consecutive_losses", 0),
        ("loss_cooldown_min", 100001),
        ("hours", "25:00-06:00"),
        ("hours", "08:00-08:00"),
        ("hours", "8-20"),
    ],
)
def test_clean_refuses_bad_values_with_a_clear_error(field, value, operator_actor):
    with pytest.raises(ValidationError) as exc:
        risk_limits_save(limits=RiskLimits(**{field: value}), actor=operator_actor)
    assert field in exc.value.message_dict
    assert not AuditLog.objects.filter(action="risk.limits.change").exists()


def test_save_service_audits_before_and_after(operator_actor):
    risk_limits_save(limits=RiskLimits(max_positions=5), actor=operator_actor)
    row = RiskLimits.get()
    row.max_positions = 2
    row.hours = "08:00-20:00"
    risk_limits_save(limits=row, actor=operator_actor)
    log = AuditLog.objects.filter(action="risk.limits.change").order_by("id").last()
    assert log.actor_label == "operator"
    assert log.before["max_positions"] == "5" and log.after["max_positions"] == "2"
    assert log.before["hours"] is None and log.after["hours"] == "08:00-20:00"
    assert log.after["in_force"]["max_positions"] == 2
    assert log.message == "changed: hours, max_positions"


@pytest.fixture
def console(client, operator):
    client.force_login(operator)
    return client


def form(**values) -> dict:
    data = dict.fromkeys(
        ("max_positions", "position_size_usd", "max_drawdown_pct", "max_consecutive_losses", "loss_cooldown_min"),
        "",
    )
    data["hours"] = ""
    data.update({k: str(v) for k, v in values.items()})
    return data


def test_admin_edit_is_audited_with_the_user(console):
    changelist = console.get(reverse("admin:risk_risklimits_changelist"))
    assert changelist.status_code == 200
    url = reverse("admin:risk_risklimits_change", args=[1])
    page = console.get(url)
    assert page.status_code == 200 and "in force now" in page.content.decode().lower()

    response = console.post(url, form(max_positions=1, position_size_usd="25.5", hours="22:00-06:00"))

    assert response.status_code == 302
    row = RiskLimits.get()
    assert (row.max_positions, row.position_size_usd, row.hours) == (1, Decimal("25.5"), "22:00-06:00")
    assert row.changed_by == "operator"
    log = AuditLog.objects.get(action="risk.limits.change")
    assert (log.actor_type, log.actor_label) == ("user", "operator")
    assert log.after["position_size_usd"] == "25.5"
    assert log.message == "changed: hours, max_positions, position_size_usd"
    assert risk_limits().max_positions == 1


def test_admin_shows_the_validation_error_and_changes_nothing(console):
    url = reverse("admin:risk_risklimits_change", args=[RiskLimits.get().pk])
    response = console.post(url, form(max_drawdown_pct="150", hours="nonsense"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "percentage greater than 0 and at most 100" in body and "HH:MM-HH:MM" in body
    assert RiskLimits.get().max_drawdown_pct is None
    assert not AuditLog.objects.filter(action="risk.limits.change").exists()


def test_risk_limits_cannot_be_deleted_or_added_twice(console):
    RiskLimits.get()
    assert console.get(reverse("admin:risk_risklimits_add")).status_code == 403
    assert console.get(reverse("admin:risk_risklimits_delete", args=[1])).status_code == 403


def test_saving_the_same_decimal_again_reports_no_change(operator_actor):
    risk_limits_save(limits=RiskLimits(position_size_usd=Decimal("25.5")), actor=operator_actor)
    row = RiskLimits.get()  # read back as 25.50000000
    risk_limits_save(limits=row, actor=operator_actor)
    assert AuditLog.objects.filter(action="risk.limits.change").order_by("id").last().message == "changed: nothing"
