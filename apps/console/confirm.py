"""Confirmation before harm: an action that sends orders or changes trading first shows a page saying
exactly what will happen, and runs only when that page is submitted (`post=yes`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse

CONFIRM_FIELD = "post"
CONFIRM_VALUE = "yes"


def confirmed(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get(CONFIRM_FIELD) == CONFIRM_VALUE


@dataclass
class Confirmation:
    """What the page says: a title, one line per consequence, the rows concerned, the button's words."""

    title: str
    consequences: list[str]
    submit: str
    cancel_url: str
    rows: list[str] = field(default_factory=list)
    danger: bool = True
    # For admin actions: posted back so Django routes the confirmed request to the same action.
    action: str = ""
    selected: Iterable[Any] = ()
    form_action: str = ""


def confirmation_page(
    request: HttpRequest, confirmation: Confirmation, *, context: dict | None = None
) -> TemplateResponse:
    return TemplateResponse(
        request,
        "admin/console/confirm.html",
        {
            **(context or {}),
            "title": confirmation.title,
            "confirmation": confirmation,
            "selected": [str(pk) for pk in confirmation.selected],
            "confirm_field": CONFIRM_FIELD,
            "confirm_value": CONFIRM_VALUE,
        },
    )
