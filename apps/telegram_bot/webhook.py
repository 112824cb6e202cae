"""Webhook mode: Telegram POSTs each Update to a Django view, which hands it to the Application.

The Application lives on its own event loop in a background thread of each web process (created on the
first update), so its HTTP client and its state outlive a single request and the sync Django view can wait
for the update to be handled.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from telegram import Update
from telegram.ext import Application

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PROCESS_TIMEOUT_SEC = 50  # Telegram waits about a minute before it re-sends an update


class WebhookRunner:
    """One initialized Application per process, running on a private event loop thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._application: Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def _start(self) -> tuple[Application, asyncio.AbstractEventLoop]:
        from apps.telegram_bot.application import application_build

        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="telegram-webhook", daemon=True).start()
        application = application_build(polling=False)
        try:
            asyncio.run_coroutine_threadsafe(application.initialize(), loop).result(PROCESS_TIMEOUT_SEC)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            raise
        return application, loop

    def get(self) -> tuple[Application, asyncio.AbstractEventLoop]:
        with self._lock:
            if self._application is None or self._pid != os.getpid():  # a forked worker starts its own
                self._application, self._loop = self._start()
                self._pid = os.getpid()
            return self._application, self._loop

    def process(self, data: dict[str, Any]) -> None:
        application, loop = self.get()
        update = Update.de_json(data, application.bot)
        asyncio.run_coroutine_threadsafe(application.process_update(update), loop).result(PROCESS_TIMEOUT_SEC)

    def stop(self) -> None:
        """Shut the Application and its loop down (tests, and settings that changed)."""
        with self._lock:
            application, loop = self._application, self._loop
            self._application = self._loop = self._pid = None
        if application is not None and loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(application.shutdown(), loop).result(10)
            finally:
                loop.call_soon_threadsafe(loop.stop)


runner = WebhookRunner()


def secret_valid(given: str) -> bool:
    """Constant-time comparison; with no TELEGRAM_WEBHOOK_SECRET configured nothing is valid."""
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> JsonResponse:
    if not secret_valid(request.headers.get(SECRET_HEADER, "")):
        return JsonResponse({"detail": "forbidden"}, status=403)
    if not settings.TELEGRAM_BOT_TOKEN:
        return JsonResponse({"detail": "TELEGRAM_BOT_TOKEN is not configured"}, status=503)
    try:
        data = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "body is not JSON"}, status=400)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return JsonResponse({"detail": "not a Telegram Update"}, status=400)
    try:
        runner.process(data)
    except Exception:
        # Handler errors are answered by the error handler; this is the bot itself failing (Telegram
        # unreachable at start-up, a timeout). 200 anyway: a re-sent update would fail the same way.
        logger.exception("telegram webhook: update %s not processed", data.get("update_id"))
    return JsonResponse({"ok": True})
