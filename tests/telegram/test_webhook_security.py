"""Issue 12 item 5 at the webhook: a replayed update_id is answered once, undecodable or too-deep JSON is
a 400, an oversized body a 413 — and none of them reaches the bot."""

from __future__ import annotations

import json

import pytest

from apps.telegram_bot.models import WebhookUpdate
from apps.telegram_bot.webhook import runner
from tests.telegram.conftest import message

URL = "/telegram/webhook"
SECRET = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": "hook-secret"}


@pytest.fixture
def webhook(tg):
    yield tg
    runner.stop()


def _post(client, data: bytes | str, **extra):
    return client.post(URL, data=data, content_type="application/json", **SECRET, **extra)


@pytest.mark.django_db(transaction=True)  # the bot's handlers use the database from their own thread
def test_a_replayed_update_is_answered_once(client, webhook):
    update = json.dumps(message("/help"))
    first = _post(client, update)
    second = _post(client, update)
    assert first.status_code == 200 and second.status_code == 200  # Telegram must not re-send it again
    assert second.json().get("duplicate") is True
    assert len(webhook.sent("sendMessage")) == 1
    assert WebhookUpdate.objects.count() == 1


@pytest.mark.django_db
def test_a_50000_deep_json_body_is_400_not_500(client, webhook):
    response = _post(client, "[" * 50_000 + "]" * 50_000)
    assert response.status_code == 400 and "deeper" in response.json()["detail"]
    deep_object = '{"update_id": 1, "x": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}"
    assert _post(client, deep_object).status_code == 400
    assert webhook.replies() == [] and not WebhookUpdate.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage", b"{", b'{"update_id": "7"}', b'{"update_id": true}', b"[]"])
def test_undecodable_or_not_an_update_is_400(client, webhook, body):
    assert _post(client, body).status_code == 400
    assert webhook.replies() == [] and not WebhookUpdate.objects.exists()


@pytest.mark.django_db
def test_an_oversized_body_is_413(client, webhook, settings):
    body = json.dumps({"update_id": 5, "pad": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = _post(client, body)
    assert response.status_code == 413 and "too large" in response.json()["detail"]
    assert webhook.replies() == [] and not WebhookUpdate.objects.exists()


@pytest.mark.django_db
def test_old_update_ids_expire_after_a_day(client, webhook):
    from datetime import timedelta

    from django.utils import timezone

    from apps.telegram_bot.webhook import update_claim

    assert update_claim(41) and not update_claim(41)
    WebhookUpdate.objects.filter(update_id=41).update(received_at=timezone.now() - timedelta(hours=25))
    assert update_claim(42)  # pruning happens on the way
    assert not WebhookUpdate.objects.filter(update_id=41).exists()
