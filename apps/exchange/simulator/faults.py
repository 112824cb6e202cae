"""Fault injection: latency, 5xx, 429, timeouts, closed sockets and dropped responses, per endpoint.

Endpoint names are the simulator's route names (`create_order`, `get_order`, `tickers`, ... see
`server.ROUTES`); `*` applies to every endpoint. Random choices come from one seeded generator, so a run
with the same seed and the same sequence of calls injects the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class FaultRule:
    latency_ms: float = 0.0
    error_rate: float = 0.0  # answer 5xx (error_status) without doing anything
    error_status: int = 500
    rate_limit_rate: float = 0.0  # answer 429 TOO_MANY_REQUESTS without doing anything
    timeout_rate: float = 0.0  # do nothing, hang until the client gives up (hang_sec), then close
    disconnect_rate: float = 0.0  # do nothing, close the socket at once
    drop_response_rate: float = 0.0  # do the work (e.g. create the order), then lose the answer
    # Lose the answer and do the work later: `late_ms` after arrival, but never past the request's
    # x-gate-exptime (late_ms 0: just before that moment; without the header, after hang_sec).
    late_execution_rate: float = 0.0
    late_ms: float = 0.0
    times: int | None = None  # apply to the next N requests of this endpoint only, then remove the rule

    def as_json(self) -> dict:
        return asdict(self)


# What the handler should do with one request.
PASS = "pass"
ERROR = "error"
RATE_LIMIT = "rate_limit"
TIMEOUT = "timeout"
DISCONNECT = "disconnect"
DROP = "drop"
LATE = "late"


@dataclass
class Decision:
    action: str = PASS
    latency_ms: float = 0.0
    error_status: int = 500
    late_ms: float = 0.0


_RULE_FIELDS = {f.name for f in fields(FaultRule)}
_INT_FIELDS = {"error_status", "times"}


def _coerce(name: str, value: Any) -> float | int | None:
    """Rates and latencies as floats, counts as ints: JSON over /_control parses 0.2 as a Decimal, and a rate
    must add up with the others (a float plus a Decimal raised TypeError -> a 400 for `0.2`)."""
    if value is None and name == "times":
        return None
    try:
        number = int(value) if name in _INT_FIELDS else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"fault option {name} must be a number, not {value!r}") from None
    if name.endswith("_rate") and not 0 <= number <= 1:
        raise ValueError(f"fault option {name} must be between 0 and 1")
    if number < 0:
        raise ValueError(f"fault option {name} must not be negative")
    return number


class Faults:
    """The fault table of one simulator. Thread-safe; settable from Python and over `/_control/faults`."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, FaultRule] = {}
        self._rng = random.Random(f"faults:{seed}")
        self.hang_sec: float = 10.0  # how long a timeout / dropped response keeps the socket open
        self.drop_mode: str = "close"  # dropped responses: "close" the socket at once or "hang" first
        self.injected: dict[str, int] = {}
        self.late: list[tuple[str, str]] = []  # (endpoint, "executed" or the error label) per late execution

    def set(self, endpoint: str = "*", **kwargs: object) -> FaultRule:
        """Set (replace) the rule for an endpoint, e.g. `faults.set("create_order", drop_response_rate=1.0)`."""
        unknown = set(kwargs) - _RULE_FIELDS
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        coerced: dict[str, Any] = {name: _coerce(name, value) for name, value in kwargs.items()}  # checked above
        rule = FaultRule(**coerced)
        with self._lock:
            self._rules[endpoint] = rule
        return rule

    def clear(self, endpoint: str | None = None) -> None:
        with self._lock:
            if endpoint is None:
                self._rules.clear()
            else:
                self._rules.pop(endpoint, None)

    def rules(self) -> dict[str, FaultRule]:
        with self._lock:
            return dict(self._rules)

    def configure(self, data: dict) -> None:
        """Apply a JSON body of `/_control/faults`.

        `{"clear": true}`, `{"hang_sec": 2, "drop_mode": "hang"}`, `{"endpoint": "create_order", "error_rate": 1}`
        or `{"rules": {"create_order": {...}, "*": {...}}}` (rules replace the whole table)."""
        if data.get("clear"):
            self.clear()
        if "hang_sec" in data:
            self.hang_sec = float(data["hang_sec"])
        if "drop_mode" in data:
            if data["drop_mode"] not in ("close", "hang"):
                raise ValueError("drop_mode must be close or hang")
            self.drop_mode = str(data["drop_mode"])
        if "rules" in data:
            self.clear()
            for endpoint, options in dict(data["rules"]).items():
                self.set(endpoint, **dict(options))
        if "endpoint" in data:
            options = {k: v for k, v in data.items() if k in _RULE_FIELDS}
            self.set(str(data["endpoint"]), **options)

    def decide(self, endpoint: str) -> Decision:
        """Roll the dice for one request of `endpoint` (the specific rule wins over `*`)."""
        with self._lock:
            key = endpoint if endpoint in self._rules else "*" if "*" in self._rules else None
            if key is None:
                return Decision()
            rule = self._rules[key]
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    del self._rules[key]
            decision = Decision(latency_ms=rule.latency_ms, error_status=rule.error_status, late_ms=rule.late_ms)
            roll = self._rng.random()
            edge = 0.0
            for action, rate in (
                (ERROR, rule.error_rate),
                (RATE_LIMIT, rule.rate_limit_rate),
                (TIMEOUT, rule.timeout_rate),
                (DISCONNECT, rule.disconnect_rate),
                (DROP, rule.drop_response_rate),
                (LATE, rule.late_execution_rate),
            ):
                edge += rate
                if rate > 0 and roll < edge:
                    decision.action = action
                    self.injected[action] = self.injected.get(action, 0) + 1
                    break
            return decision

    def record_late(self, endpoint: str, outcome: str) -> None:
        with self._lock:
            self.late.append((endpoint, outcome))

    def as_json(self) -> dict:
        with self._lock:
            return {
                "late": [list(item) for item in self.late],
                "rules": {k: v.as_json() for k, v in self._rules.items()},
                "hang_sec": self.hang_sec,
                "drop_mode": self.drop_mode,
                "injected": dict(self.injected),
            }
