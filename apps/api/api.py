"""The REST API: django-ninja under /api, OpenAPI at /api/openapi.json, docs at /api/docs.

Endpoints are thin: parse, call the use case, shape the answer. Auth is per operation (read / trade).
"""

from __future__ import annotations

from ninja import NinjaAPI

from apps.api import errors
from apps.api.endpoints import operations, orders, positions, reports, signals

api = NinjaAPI(
    title="tradebot API",
    version="1",
    description=(
        "Automated spot trading backoffice. `Authorization: Bearer <token>` on every operation "
        "(tokens from the admin or `manage.py create_api_token`); read scope for GET, trade scope for POST. "
        'Money and quantities are decimal strings. Errors are `{"detail": …}`.'
    ),
    urls_namespace="api",
)
errors.install(api)
for module in (signals, orders, positions, operations, reports):
    api.add_router("/", module.router)
