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
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from telegram import Update
from telegram.ext import Application

from apps.monitoring import metrics
from apps.security.middleware import too_large
from apps.telegram_bot.application import application_build
from apps.telegram_bot.models import WebhookUpdate

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PROCESS_TIMEOUT_SEC = 50  # Telegram waits about a minute before it re-sends an update
MAX_JSON_DEPTH = 32  # a real Update nests about 6 levels; deeper is an attack on the parser
UPDATE_MEMORY = timedelta(hours=24)  # Telegram gives up on an undelivered update after 24 h


class WebhookRunner:
    """One initialized Application per process, running on a private event loop thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._application: Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def _start(self) -> tuple[Application, asyncio.AbstractEventLoop]:
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
            if self._application is None or self._loop is None or self._pid != os.getpid():
                self._application, self._loop = self._start()  # a forked worker starts its own
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


def json_depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether decoded JSON nests at most `limit` levels (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def update_claim(update_id: int) -> bool:
    """True the first time an update_id is seen (within UPDATE_MEMORY); shared by every web process."""

    now = timezone.now()
    WebhookUpdate.objects.filter(received_at__lt=now - UPDATE_MEMORY).delete()
    try:
        with transaction.atomic():
            WebhookUpdate.objects.create(update_id=update_id)
    except IntegrityError:
        return False
    return True


def _refused(reason: str, detail: str, status: int = 400) -> JsonResponse:
    metrics.REQUESTS_REFUSED.labels(reason=reason).inc()
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> JsonResponse:
    if not secret_valid(request.headers.get(SECRET_HEADER, "")):
        return JsonResponse({"detail": "forbidden"}, status=403)
    if not settings.TELEGRAM_BOT_TOKEN:
        return JsonResponse({"detail": "TELEGRAM_BOT_TOKEN is not configured"}, status=503)
    try:
        data = json.loads(request.body)
    except RequestDataTooBig:
        return too_large()
    except RecursionError:
        return _refused("too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    except ValueError:  # also undecodable bytes (UnicodeDecodeError)
        return _refused("bad_json", "body is not JSON")
    if not json_depth_ok(data):
        return _refused("too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id < 2**63:
        return JsonResponse({"detail": "not a Telegram Update"}, status=400)
    if not update_claim(update_id):
        metrics.REQUESTS_REFUSED.labels(reason="duplicate_update").inc()
        logger.info("telegram webhook: update %s already taken; not processed again", update_id)
        return JsonResponse({"ok": True, "duplicate": True})
    try:
        runner.process(data)
    except Exception:
        # Handler errors are answered by the error handler; this is the bot itself failing (Telegram
        # unreachable at start-up, a timeout). 200 anyway: a re-sent update would fail the same way.
        logger.exception("telegram webhook: update %s not processed", data.get("update_id"))
    return JsonResponse({"ok": True})
