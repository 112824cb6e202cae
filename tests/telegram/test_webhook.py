"""POST /telegram/webhook: the secret header is required (403 otherwise), then the update is handled."""

from __future__ import annotations

import json

import pytest

from apps.telegram_bot.webhook import runner
from tests.telegram.conftest import OPERATOR_CHAT, message

URL = "/telegram/webhook"


@pytest.fixture
def webhook(tg):
    yield tg
    runner.stop()


def post(client, body, secret: str | None):
    headers = {} if secret is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


@pytest.mark.parametrize("secret", [None, "", "wrong", "hook-secret "])
def test_a_missing_or_wrong_secret_is_403(client, webhook, secret):
    response = post(client, message("/help"), secret)
    assert response.status_code == 403
    assert webhook.replies() == []


def test_no_configured_secret_refuses_everything(client, webhook, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    assert post(client, message("/help"), "").status_code == 403


@pytest.mark.django_db(transaction=True)  # the bot's handlers use the database from their own thread
def test_the_right_secret_feeds_the_update_to_the_bot(client, webhook):
    response = post(client, message("/help"), "hook-secret")
    assert response.status_code == 200
    [reply] = webhook.sent("sendMessage")
    assert reply.params["chat_id"] == OPERATOR_CHAT
    assert "/profit" in reply.params["text"]
    response = post(client, message("/status"), "hook-secret")  # the same Application serves the next one
    assert response.status_code == 200
    assert "entries" in webhook.texts()[1]
    assert len(webhook.sent("getMe")) == 1


def test_not_an_update_is_400(client, webhook):
    assert post(client, {"hello": 1}, "hook-secret").status_code == 400
    response = client.post(
        URL, data="{", content_type="application/json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="hook-secret"
    )
    assert response.status_code == 400


def test_get_is_not_allowed(client, webhook):
    assert client.get(URL).status_code == 405
