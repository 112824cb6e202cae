"""/pause, /resume and /close: refused outside trading chats, asked with buttons, executed once on confirm."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditLog
from tests.telegram.conftest import OPERATOR_CHAT, OPERATOR_USER, READER_CHAT, button, message, position_open

pytestmark = pytest.mark.django_db(transaction=True)


def buttons(call) -> dict[str, str]:
    """Button label -> callback_data of the inline keyboard of a recorded sendMessage."""
    markup = call.params["reply_markup"]
    return {b["text"].split()[-1]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


def test_pause_asks_then_confirm_halts_trading_and_audits(tg, feed):
    from apps.risk.models import TradingSwitch

    feed(message("/pause news in 5 minutes"))
    [ask] = tg.sent("sendMessage")
    assert ask.params["text"] == "Pause trading (kill switch on)? Reason: news in 5 minutes"
    assert not TradingSwitch.get().halted  # nothing happens before the confirmation

    feed(button(buttons(ask)["Confirm"]))
    switch = TradingSwitch.get()
    assert switch.halted and switch.reason == "news in 5 minutes"
    [answer] = tg.sent("answerCallbackQuery")
    assert answer.params["text"] == "Done."
    [edit] = tg.sent("editMessageText")
    assert edit.params["text"].startswith("⏸ Trading paused")
    row = AuditLog.objects.get(action="trading.pause")
    assert (row.actor_type, row.actor_id) == ("telegram", str(OPERATOR_CHAT))


def test_resume_confirmed(tg, feed):
    from apps.audit.actors import SYSTEM
    from apps.risk.models import TradingSwitch
    from apps.risk.services import trading_pause

    trading_pause(actor=SYSTEM, reason="drawdown")
    feed(message("/resume"))
    feed(button(buttons(tg.sent("sendMessage")[0])["Confirm"]))
    assert not TradingSwitch.get().halted
    assert AuditLog.objects.filter(action="trading.resume", actor_type="telegram").count() == 1


def test_trading_commands_refused_in_a_chat_not_allowed_to_trade(tg, feed, position_close_stub):
    from apps.risk.models import TradingSwitch

    position = position_open()
    feed(
        message("/pause", chat_id=READER_CHAT),
        message("/resume", chat_id=READER_CHAT),
        message(f"/close {position.pk}", chat_id=READER_CHAT),
    )
    texts = tg.texts()
    assert len(texts) == 3
    assert all("not allowed to trade" in text for text in texts)
    assert not any("reply_markup" in call.params for call in tg.sent("sendMessage"))
    assert not TradingSwitch.get().halted
    assert AuditLog.objects.filter(action="telegram.trading_refused", actor_id=str(READER_CHAT)).count() == 3


def test_close_confirmed_calls_the_close_use_case_once(tg, feed, position_close_stub):
    position = position_open()
    feed(message(f"/close {position.pk}"))
    [ask] = tg.sent("sendMessage")
    assert ask.params["text"] == f"Close position #{position.pk} BTC/USDT 0.01 @ 49000 at market?"
    confirm = buttons(ask)["Confirm"]

    feed(button(confirm), button(confirm))  # a double tap
    assert len(position_close_stub) == 1
    call = position_close_stub[0]
    assert call["position"].pk == position.pk
    assert call["actor"].type == "telegram" and call["actor"].id == str(OPERATOR_CHAT)
    [first, second] = tg.sent("answerCallbackQuery")
    assert first.params["text"] == "Done."
    assert second.params["text"] == "This confirmation expired or was already used."
    assert tg.sent("editMessageText")[0].params["text"].startswith(f"Closing position #{position.pk} BTC/USDT")


def test_close_cancelled_does_nothing(tg, feed, position_close_stub):
    position = position_open()
    feed(message(f"/close {position.pk}"))
    feed(button(buttons(tg.sent("sendMessage")[0])["Cancel"]))
    assert position_close_stub == []
    assert tg.sent("editMessageText")[0].params["text"] == f"Cancelled: /close {position.pk}"
    assert AuditLog.objects.filter(action="telegram.close_cancelled").count() == 1


def test_someone_elses_confirmation_is_refused(tg, feed, position_close_stub):
    position = position_open()
    feed(message(f"/close {position.pk}"))
    confirm = buttons(tg.sent("sendMessage")[0])["Confirm"]
    feed(button(confirm, user_id=OPERATOR_USER + 1))
    assert position_close_stub == []
    assert tg.sent("answerCallbackQuery")[0].params["text"] == "Only the person who asked can confirm this."
    assert AuditLog.objects.filter(action="telegram.confirmation_refused").count() == 1
    feed(button(confirm))  # the one who asked still can
    assert len(position_close_stub) == 1


def test_stale_confirmation_is_refused(tg, feed, position_close_stub):
    from apps.telegram_bot.models import Confirmation

    position = position_open()
    feed(message(f"/close {position.pk}"))
    Confirmation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    feed(button(buttons(tg.sent("sendMessage")[0])["Confirm"]))
    assert position_close_stub == []
    assert tg.sent("answerCallbackQuery")[0].params["text"] == "This confirmation expired or was already used."
    assert tg.sent("editMessageText")[0].params["text"] == f"/close {position.pk}: expired or already answered."


def test_forged_button_is_refused(tg, feed):
    feed(button("cf:not-a-nonce:y"), button("garbage"))
    assert [c.params.get("text") for c in tg.sent("answerCallbackQuery")] == ["Unknown or expired confirmation."]
