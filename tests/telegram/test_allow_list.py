"""Chats outside TELEGRAM_ALLOWED_CHAT_IDS get nothing; every attempt is audited."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditLog
from tests.telegram.conftest import STRANGER_CHAT, button, message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("text", ["/status", "/help", "/profit", "/pause", "/close 1", "hello"])
def test_a_stranger_gets_nothing_and_is_audited(tg, feed, text):
    feed(message(text, chat_id=STRANGER_CHAT))
    assert tg.replies() == []
    row = AuditLog.objects.get(action="telegram.refused")
    assert (row.actor_type, row.actor_id) == ("telegram", str(STRANGER_CHAT))
    assert text in row.message


def test_a_strangers_button_press_is_ignored(tg, feed):
    from apps.risk.models import TradingSwitch

    feed(button("cf:whatever:y", chat_id=STRANGER_CHAT))
    assert tg.replies() == []
    assert not TradingSwitch.get().halted
    assert AuditLog.objects.filter(action="telegram.refused", actor_id=str(STRANGER_CHAT)).count() == 1


def test_an_empty_allow_list_refuses_everyone(tg, feed, settings):
    settings.TELEGRAM_ALLOWED_CHAT_IDS = ()
    feed(message("/help"))
    assert tg.replies() == []
