"""What an action emitted, asserted one way: the audit rows it wrote, the metric samples it moved and the
notifications it gave to apps.notifications (captured instead of any channel, so nothing reaches Telegram).

    def test_x(side_effects):
        do_the_thing()
        assert side_effects.audit_actions() == ["trading.pause"]
        assert side_effects.metric("kill_switch_changes_total", action="pause") == 1
        assert side_effects.kinds() == []
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

import apps.notifications as notifications
from apps.audit.models import AuditLog

Sample = tuple[str, frozenset[tuple[str, str]]]


def _samples() -> dict[Sample, float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
    }


@dataclass
class SideEffects:
    """Started by the `side_effects` fixture: everything below counts from that moment."""

    audit_after: int = 0
    metrics_before: dict[Sample, float] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def audit(self, **filters: Any) -> list[AuditLog]:
        """The audit rows written since the start (oldest first), optionally filtered (action=, object_id=)."""
        return list(AuditLog.objects.filter(pk__gt=self.audit_after, **filters).order_by("pk"))

    def audit_actions(self) -> list[str]:
        return [row.action for row in self.audit()]

    def metric(self, name: str, **labels: str) -> float:
        """How much the sample `name{labels}` moved since the start (a counter's increments)."""
        key = (name, frozenset((k, str(v)) for k, v in labels.items()))
        now = REGISTRY.get_sample_value(name, {k: str(v) for k, v in labels.items()}) or 0.0
        return now - self.metrics_before.get(key, 0.0)

    def kinds(self) -> list[str]:
        """The kinds notified, in order."""
        return [n["kind"] for n in self.notifications]

    def channel(self, *, kind: str, text: str, key: str | None, severity: str) -> bool:
        self.notifications.append({"kind": kind, "text": text, "key": key, "severity": severity})
        return True


@pytest.fixture
def side_effects(monkeypatch: pytest.MonkeyPatch, db: None) -> Iterator[SideEffects]:
    """Capture what the test's actions emit; apps.notifications' channels are replaced by the capture."""
    effects = SideEffects(
        audit_after=AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        metrics_before=_samples(),
    )
    monkeypatch.setattr(notifications, "_channels", {"capture": effects.channel})
    yield effects
