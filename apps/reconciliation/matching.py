"""Pure comparison of our orders with the exchange's: which pairs match, which differ, what needs trades.

No database and no network here: the service loads, this module decides, `healing` applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from apps.exchange.types import ExchangeOrder
from apps.trading.models import TERMINAL_STATUSES, Order

FEE_TOLERANCE = Decimal("1e-12")


@dataclass(slots=True)
class LocalOrder:
    """What matching needs of one of our orders: a plain row, so 10,000 of them load in a blink."""

    pk: int
    client_order_id: str | None  # None: imported from the exchange without a t- text
    exchange_order_id: str | None
    status: str
    filled: Decimal
    fees: dict[str, Any]
    created_at: datetime
    updated_at: datetime


LOCAL_FIELDS = ("id", "client_order_id", "exchange_order_id", "status", "filled", "fees", "created_at", "updated_at")


def load_local(queryset: QuerySet[Order]) -> list[LocalOrder]:
    return [LocalOrder(*row) for row in queryset.values_list(*LOCAL_FIELDS)]


AnyOrder = Order | LocalOrder


@dataclass
class Matching:
    pairs: list[tuple[LocalOrder, ExchangeOrder]] = field(default_factory=list)
    unmatched_exchange: list[ExchangeOrder] = field(default_factory=list)
    claimed: set[int] = field(default_factory=set)  # local order ids matched to an exchange order


class LocalIndex:
    """Our orders of one symbol by exchange id and by client id (Gate.io `text`)."""

    def __init__(self, orders: Iterable[LocalOrder] = ()) -> None:
        self.by_id: dict[int, LocalOrder] = {}
        self.by_exchange_id: dict[str, LocalOrder] = {}
        self.by_client_id: dict[str, LocalOrder] = {}
        self.add(orders)

    def add(self, orders: Iterable[LocalOrder]) -> None:
        for order in orders:
            if order.pk in self.by_id:
                continue
            self.by_id[order.pk] = order
            if order.exchange_order_id:
                self.by_exchange_id[order.exchange_order_id] = order
            if order.client_order_id:
                self.by_client_id[order.client_order_id] = order


def match_orders(
    exchange_orders: Iterable[ExchangeOrder], index: LocalIndex, matching: Matching | None = None
) -> Matching:
    """Match by exchange id first, then by client id (only to a local order without another exchange id, and
    only once: a second exchange order with the same `text` is a different order, e.g. one sent twice)."""
    result = matching or Matching()
    for ex in exchange_orders:
        local = index.by_exchange_id.get(ex.exchange_order_id)
        if local is None and ex.client_order_id:
            candidate = index.by_client_id.get(ex.client_order_id)
            if candidate is not None and not candidate.exchange_order_id and candidate.pk not in result.claimed:
                local = candidate
        if local is None or local.pk in result.claimed:
            result.unmatched_exchange.append(ex)
            continue
        result.claimed.add(local.pk)
        result.pairs.append((local, ex))
    return result


def local_fee(order: AnyOrder, currency: str) -> Decimal:
    return Decimal(str((order.fees or {}).get(currency, "0")))


def fee_differs(order: AnyOrder, ex: ExchangeOrder) -> bool:
    """The order-level fee, when Gate.io reports one in a single currency (None when several were charged)."""
    if ex.fee is None or not ex.fee_currency:
        return False
    return abs(local_fee(order, ex.fee_currency) - ex.fee) > FEE_TOLERANCE


def needs_trades(order: AnyOrder, ex: ExchangeOrder) -> bool:
    return order.filled != ex.filled or fee_differs(order, ex)


def status_differs(order: AnyOrder, ex: ExchangeOrder) -> bool:
    if order.status == ex.status:
        return False
    # Both ended with the same fills (e.g. our `expired` against their `cancelled`): only the word differs.
    return not (order.status in TERMINAL_STATUSES and ex.status in TERMINAL_STATUSES and order.filled == ex.filled)


def needs_work(order: AnyOrder, ex: ExchangeOrder) -> bool:
    """Cheap in-memory check that lets unchanged orders pass without any database work."""
    return order.exchange_order_id != ex.exchange_order_id or status_differs(order, ex) or needs_trades(order, ex)
