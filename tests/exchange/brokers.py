"""Helpers for the broker tests: a GateBroker on the simulator with its own limiter and breakers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from apps.common.clock import SYSTEM_CLOCK, Clock
from apps.exchange.breaker import CircuitBreaker, DbStore
from apps.exchange.ccxt_broker import GateBroker
from apps.exchange.limiter import Budget, FileWindow, RateLimiter, RedisWindow
from apps.exchange.simulator import ExchangeSimulator, SimulatorServer

ENDPOINTS = ("public", "private_orders", "private_account", "private_reads")


class PassBreaker:
    """A breaker that never opens, for tests about something else."""

    def call(self, fn):
        return fn()

    def check(self) -> None:
        return None


def make_limiter(
    directory: Path | None = None,
    *,
    redis_url: str = "",
    calls: int = 270,
    period: float = 10.0,
    order_calls: int = 9,
    max_wait: float = 10.0,
) -> RateLimiter:
    store = RedisWindow(redis_url) if redis_url else FileWindow(directory)
    return RateLimiter(store, {"gateio": Budget(calls, period), "gateio_orders": Budget(order_calls, 1.0)}, max_wait)


def make_breakers(
    store=None, *, threshold: int = 3, cooldown: float = 0.5, prefix: str = "gateio", clock: Clock = SYSTEM_CLOCK
) -> dict:
    store = store or DbStore(clock=clock)
    return {
        cls: CircuitBreaker(f"{prefix}:{cls}", store, threshold=threshold, cooldown=cooldown, clock=clock)
        for cls in ENDPOINTS
    }


def make_broker(url: str, limiter: RateLimiter, *, breakers=None, secret: str = "sim-secret", timeout_ms: int = 3000):
    return GateBroker(
        api_key="sim-key",
        api_secret=secret,
        api_url=url,
        timeout_ms=timeout_ms,
        limiter=limiter,
        breakers=breakers or {cls: PassBreaker() for cls in ENDPOINTS},
        retry_sleep=lambda seconds: None,
    )


def make_sim(**kwargs) -> ExchangeSimulator:
    options = {
        "api_key": "sim-key",
        "api_secret": "sim-secret",
        "balances": {"USDT": Decimal("100000"), "BTC": Decimal("2"), "ETH": Decimal("10")},
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "seed": 1,
        "prices": {"BTC/USDT": Decimal("50000"), "ETH/USDT": Decimal("3000")},
    }
    options.update(kwargs)
    return ExchangeSimulator(**options)


def serve(sim: ExchangeSimulator) -> SimulatorServer:
    return SimulatorServer(sim, host="127.0.0.1", port=0).start()
