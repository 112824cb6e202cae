"""The one order state machine: which status may follow which.

new → submitted → open → partially_filled → filled, and → cancelled / rejected / expired.
`unknown` means the outcome of a submission is not known (a lost response); only reconciliation,
which has read the exchange's own lists, may move an order out of it.
"""

from __future__ import annotations

from apps.trading.models import OrderStatus as S

ENDINGS = (S.FILLED, S.CANCELLED, S.EXPIRED)

TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.REJECTED, S.UNKNOWN, *ENDINGS}),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, *ENDINGS}),
    S.PARTIALLY_FILLED: frozenset(ENDINGS),
    S.UNKNOWN: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.REJECTED, *ENDINGS}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}

# Leaving `unknown` needs the exchange's word, which only reconciliation has.
RECONCILIATION_ONLY_FROM = frozenset({S.UNKNOWN})


class IllegalTransition(Exception):
    """A status change the state machine does not allow."""

    def __init__(self, order_id: int | None, current: str, target: str, why: str = "") -> None:
        self.order_id = order_id
        self.current = current
        self.target = target
        detail = f"order {order_id}: {current} → {target} is not allowed"
        super().__init__(f"{detail} ({why})" if why else detail)


def check_transition(
    current: str, target: str, *, by_reconciliation: bool = False, order_id: int | None = None
) -> None:
    """Raise IllegalTransition unless `current → target` is allowed for this caller."""
    if target not in TRANSITIONS:
        raise IllegalTransition(order_id, current, target, "unknown status")
    if target not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(order_id, current, target)
    if current in RECONCILIATION_ONLY_FROM and not by_reconciliation:
        raise IllegalTransition(order_id, current, target, "only reconciliation resolves an unknown order")


def is_allowed(current: str, target: str, *, by_reconciliation: bool = False) -> bool:
    try:
        check_transition(current, target, by_reconciliation=by_reconciliation)
    except IllegalTransition:
        return False
    return True
