"""Bearer tokens against ApiToken: hash lookup, revoked refused, read scope for GETs, trade for POSTs."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from apps.api.models import ApiToken, hash_token
from apps.audit.actors import Actor
from apps.monitoring import metrics

# last_used_at is written at most this often per token, so reads do not become writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`; a missing, unknown or revoked token is 401, a read token on a
    trade operation is 403."""

    def __init__(self, scope: str = ApiToken.Scope.READ) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest):
        if not request.headers.get("Authorization"):
            metrics.API_AUTH_FAILURES.labels(reason="missing").inc()
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        if not token or len(token) > 200:
            metrics.API_AUTH_FAILURES.labels(reason="malformed").inc()
            return None
        api_token = ApiToken.objects.filter(token_hash=hash_token(token)).first()
        if api_token is None or api_token.revoked:
            metrics.API_AUTH_FAILURES.labels(reason="revoked" if api_token else "unknown").inc()
            return None
        if self.scope == ApiToken.Scope.TRADE and not api_token.can_trade:
            metrics.API_AUTH_FAILURES.labels(reason="scope").inc()
            raise AuthorizationError(message="this token has read scope; trade scope is needed")
        now = timezone.now()
        if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
            api_token.last_used_at = now
        return api_token


read_auth = TokenAuth(ApiToken.Scope.READ)


def any_token_valid(request: HttpRequest) -> bool:
    """Whether the request carries a valid, unrevoked API token of any scope (`Authorization: Bearer`)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and read_auth.authenticate(request, token.strip()) is not None


trade_auth = TokenAuth(ApiToken.Scope.TRADE)


def actor_of(request: HttpRequest) -> Actor:
    """The audit actor for the request's token."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]  # set by django-ninja once TokenAuth passed
    return Actor.api_token(token.pk, token.name)
