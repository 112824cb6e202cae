"""Gate.io-style API errors raised inside the simulator and turned into JSON `{"label", "message"}` answers."""

from __future__ import annotations


class SimError(Exception):
    """An error answer: HTTP status, Gate.io label and message."""

    def __init__(self, status: int, label: str, message: str) -> None:
        super().__init__(f"{status} {label}: {message}")
        self.status = status
        self.label = label
        self.message = message

    def as_json(self) -> dict[str, str]:
        return {"label": self.label, "message": self.message}


def invalid_param(message: str) -> SimError:
    return SimError(400, "INVALID_PARAM_VALUE", message)


def order_not_found() -> SimError:
    return SimError(404, "ORDER_NOT_FOUND", "Order not found")


def invalid_pair(pair: str) -> SimError:
    return SimError(400, "INVALID_CURRENCY_PAIR", f"Invalid currency pair {pair}")
