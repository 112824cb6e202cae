"""A stand-in for the Telegram Bot API on 127.0.0.1 that records every call the bot makes.

It speaks what python-telegram-bot sends: form-encoded or JSON bodies, multipart for files, one URL per
method under /bot<token>/. `fail_next(method, status, times)` makes the next calls of a method fail.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "tradebot", "username": "tradebot_test_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    token: str = ""


def _decode(value: str) -> Any:
    """PTB JSON-encodes non-string parameters (ids, markups) inside the form."""
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeBotApi:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self._failures: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1000)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                api._handle(self)

            def do_POST(self) -> None:
                api._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-bot-api")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeBotApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what the tests look at ---------------------------------------------------------------------

    def sent(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if method is None or c.method == method]

    def replies(self) -> list[Call]:
        """Everything the bot said to a chat (messages, photos, edits, button answers)."""
        return [c for c in self.sent() if c.method not in ("getMe", "getUpdates", "deleteWebhook", "setMyCommands")]

    def texts(self) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.sent("sendMessage")]

    def fail_next(self, method: str, status: int, times: int = 1) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend([status] * times)

    # --- serving ------------------------------------------------------------------------------------

    def _parse(self, request: BaseHTTPRequestHandler) -> tuple[dict[str, Any], dict[str, bytes]]:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        kind = request.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            return (json.loads(body) if body else {}), {}
        if kind.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + kind.encode() + b"\r\n\r\n" + body
            )
            params, files = {}, {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename() is not None:
                    files[name] = payload
                else:
                    params[name] = _decode(payload.decode())
            return params, files
        return {k: _decode(v) for k, v in parse_qsl(body.decode())}, {}

    def _message(self, chat_id: Any, **extra: Any) -> dict:
        return {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private" if int(chat_id) > 0 else "group", "title": "chat"},
            "from": BOT_USER,
            **extra,
        }

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("deleteWebhook", "setWebhook", "setMyCommands", "answerCallbackQuery"):
            return True
        if method == "getUpdates":
            with self._lock:
                updates, self.updates = self.updates, []
            if not updates:
                time.sleep(0.05)
            return updates
        if method == "sendMessage":
            return self._message(params["chat_id"], text=params.get("text", ""))
        if method == "sendPhoto":
            photo = [{"file_id": "photo-1", "file_unique_id": "u-1", "width": 800, "height": 450}]
            return self._message(params["chat_id"], photo=photo, caption=params.get("caption", ""))
        if method == "editMessageText":
            return self._message(params.get("chat_id", 1), text=params.get("text", ""))
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        token, _, method = request.path.removeprefix("/bot").partition("/")
        params, files = self._parse(request)
        with self._lock:
            self.calls.append(Call(method=method, params=params, files=files, token=token))
            failures = self._failures.get(method)
            status = failures.pop(0) if failures else None
        if status == 429:
            self._send(
                request,
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
            )
        elif status is not None:
            self._send(request, status, {"ok": False, "error_code": status, "description": "failing on purpose"})
        else:
            result = self._result(method, params)
            if result is None:
                self._send(request, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            else:
                self._send(request, 200, {"ok": True, "result": result})

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
