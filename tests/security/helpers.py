"""Test helpers for the admin's second factor: a TOTP code computed here (RFC 6238, independent of
django-otp) and a login through the real login form with it."""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
from typing import Any

from django.test import Client

LOGIN_URL = "/admin/login/"


def totp_code(key: bytes, *, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1) of `key` at time `at`."""
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def enrol_totp(user: Any):
    """A confirmed TOTP device for `user` (what `manage.py otp_enrol` or the admin page leaves)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=True)


def fresh_code(device: Any) -> str:
    """A code the device has not accepted yet. A TOTP code is good once; django-otp accepts one step of
    clock drift (tolerance 1), so after the current step was used the next step's code is taken, and only
    when that was used too does this wait for the clock."""
    device.refresh_from_db()
    now = time.time()
    step = int(now // 30)
    if device.last_t is None or device.last_t < step:
        return totp_code(device.bin_key, at=now)
    if device.last_t == step and device.tolerance >= 1:
        return totp_code(device.bin_key, at=now + 30)
    time.sleep((device.last_t + 1) * 30 - now + 0.05)
    return fresh_code(device)


def login_with_otp(client: Client, username: str, password: str, code: str, **extra: Any):
    """POST the admin login form with the code; returns the response."""
    return client.post(
        LOGIN_URL, {"username": username, "password": password, "otp_token": code, "next": "/admin/"}, **extra
    )
