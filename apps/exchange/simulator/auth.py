"""Gate.io API v4 request signing, verified the way Gate.io does."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import unquote_plus

from apps.exchange.simulator.errors import SimError

MAX_SKEW_SEC = 60


def signature(secret: str, method: str, path: str, query: str, body: bytes, timestamp: str) -> str:
    """hex HMAC-SHA512(secret, METHOD\\n/api/v4/path\\nquery\\nhex(SHA512(body))\\ntimestamp)."""
    payload = "\n".join([method.upper(), path, query, hashlib.sha512(body).hexdigest(), timestamp])
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha512).hexdigest()


def verify(
    *,
    api_key: str,
    api_secret: str,
    headers: dict[str, str],
    method: str,
    path: str,
    raw_query: str,
    body: bytes,
    now: float,
) -> None:
    """Raise SimError as Gate.io answers: missing header, unknown key, stale timestamp, bad signature."""
    key, sign, ts = headers.get("key"), headers.get("sign"), headers.get("timestamp")
    if not key or not sign or not ts:
        raise SimError(401, "MISSING_REQUIRED_HEADER", "Missing required header: KEY, SIGN or Timestamp")
    if not hmac.compare_digest(key, api_key):
        raise SimError(401, "INVALID_KEY", "Invalid key provided")
    try:
        ts_value = float(ts)
    except ValueError:
        raise SimError(401, "INVALID_SIGNATURE", "Signature mismatch") from None
    if abs(now - ts_value) > MAX_SKEW_SEC:
        # Gate.io's own answer (ccxt issue 13330, gateio/rest-v4 issue 8): HTTP 401, this label and message.
        raise SimError(401, "REQUEST_EXPIRED", "gap between request Timestamp and server time exceeds 60")
    # ccxt signs the query unencoded and sends it encoded; accept either form, as Gate.io effectively does.
    for query in dict.fromkeys([raw_query, unquote_plus(raw_query)]):
        if hmac.compare_digest(signature(api_secret, method, path, query, body, ts), sign):
            return
    raise SimError(401, "INVALID_SIGNATURE", "Signature mismatch")
