"""Raw signed HTTP to the simulator (or any Gate.io-compatible server), for tests that need headers or status."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from apps.exchange.simulator.auth import signature


def signed(
    base_url: str,
    method: str,
    path: str,
    *,
    query: str = "",
    payload: object = None,
    key: str = "sim-key",
    secret: str = "sim-secret",
    ts: float | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], object]:
    """Send one request signed as Gate.io API v4 wants it; `path` starts with /api/v4. Returns status, headers, JSON."""
    body = json.dumps(payload).encode() if payload is not None else b""
    stamp = str(int(time.time() if ts is None else ts))
    all_headers = {
        "KEY": key,
        "Timestamp": stamp,
        "SIGN": signature(secret, method, path, query, body, stamp),
        "Content-Type": "application/json",
        **(headers or {}),
    }
    url = base_url + path + (f"?{query}" if query else "")
    request = urllib.request.Request(url, data=body or None, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def control(server, action: str, payload: dict | None = None) -> tuple[int, object]:
    """POST (or GET without payload) the simulator's /_control/<action>."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        f"{server.base_url}/_control/{action}",
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll until `predicate()` is true (generous bound for a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
